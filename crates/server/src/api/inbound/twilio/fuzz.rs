//! Twilio's status callbacks, arbitrary parameters.

use super::super::fuzz::config;
use super::fate;
use proptest::prelude::*;

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn any_status_callback_has_a_fate_or_none(params in proptest::collection::vec((
        prop_oneof![Just("MessageStatus".to_owned()), Just("CallStatus".to_owned()), Just("ErrorCode".to_owned()), ".{0,12}"],
        prop_oneof![Just("delivered".to_owned()), Just("failed".to_owned()), Just("busy".to_owned()), ".{0,12}"],
    ), 0..6)) {
        let _ = fate(&params);
    }
}
