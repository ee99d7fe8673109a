//! The adapters a server runs with, by channel name, each behind its own
//! circuit breaker so one provider's outage fails fast instead of tying up
//! every send until it times out.

use crate::{Channel, CircuitBreaker, Page, SendResult};
use jiff::Timestamp;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Clone, Default)]
pub struct ChannelSet {
    channels: HashMap<&'static str, (Arc<dyn Channel>, Arc<CircuitBreaker>)>,
}

impl ChannelSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `channel` under its name with a default breaker, replacing any
    /// adapter of the same name.
    pub fn with(mut self, channel: Arc<dyn Channel>) -> Self {
        self.insert(channel, CircuitBreaker::default());
        self
    }

    pub fn insert(&mut self, channel: Arc<dyn Channel>, breaker: CircuitBreaker) {
        self.channels
            .insert(channel.name(), (channel, Arc::new(breaker)));
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn Channel>> {
        self.channels.get(name).map(|(c, _)| c)
    }

    pub fn breaker(&self, name: &str) -> Option<&CircuitBreaker> {
        self.channels.get(name).map(|(_, b)| b.as_ref())
    }

    /// Sends `page` over the named channel unless its breaker is open, and
    /// records the outcome at `now` (the caller's clock, read before the send).
    pub async fn send(&self, channel: &str, page: &Page, now: Timestamp) -> SendResult {
        let Some((adapter, breaker)) = self.channels.get(channel) else {
            return SendResult::Permanent {
                error: format!("no adapter for channel {channel:?}"),
            };
        };
        if !breaker.allow(now) {
            return SendResult::Transient {
                error: format!("{channel} circuit open after repeated failures"),
            };
        }
        let result = adapter.send(page).await;
        breaker.record(&result, now);
        result
    }
}
