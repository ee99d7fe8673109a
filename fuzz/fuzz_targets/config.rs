//! A configuration file: the YAML loader and every check behind it (rules,
//! templates, mappings, schedules), then the exporter on what loads.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = escalator_core::config::load(text) {
        let yaml = escalator_core::config::to_yaml(&config);
        assert_eq!(escalator_core::config::load(&yaml), Ok(config), "{yaml}");
    }
});
