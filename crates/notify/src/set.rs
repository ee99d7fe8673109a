//! The adapters a server runs with, by channel name, with a circuit breaker
//! per destination (see [`Channel::breaker_key`]) so one receiver's outage
//! holds only its own pages instead of tying up every send until it times out.

use crate::breaker::{Breakers, Held};
use crate::{Channel, SendResult};
use crate::{CircuitBreaker, Page};
use jiff::Timestamp;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Clone, Default)]
pub struct ChannelSet {
    channels: HashMap<&'static str, Arc<dyn Channel>>,
    breakers: Arc<Breakers>,
}

/// What became of a page handed to the set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dispatch {
    /// It was sent (or refused for good before sending): how it went.
    Done(SendResult),
    /// Not sent: its destination's breaker is open. Not an attempt.
    Held(Held),
}

impl ChannelSet {
    /// An empty set whose breakers live in `breakers`, shared with the sets
    /// built before and after it.
    pub fn new(breakers: Arc<Breakers>) -> Self {
        Self {
            channels: HashMap::new(),
            breakers,
        }
    }

    /// Adds `channel` under its name, replacing any adapter of the same name.
    pub fn with(mut self, channel: Arc<dyn Channel>) -> Self {
        self.insert(channel);
        self
    }

    pub fn insert(&mut self, channel: Arc<dyn Channel>) {
        self.channels.insert(channel.name(), channel);
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn Channel>> {
        self.channels.get(name)
    }

    /// The breaker guarding sends over `channel` to `address`, if it was made.
    pub fn breaker(&self, channel: &str, address: &str) -> Option<Arc<CircuitBreaker>> {
        let adapter = self.channels.get(channel)?;
        self.breakers.find(&adapter.breaker_key(address))
    }

    pub fn breakers(&self) -> &Arc<Breakers> {
        &self.breakers
    }

    /// Sends `page` over the named channel unless its destination's breaker
    /// holds it, and records the outcome at `now` (the caller's clock, read
    /// before the send).
    pub async fn send(&self, channel: &str, page: &Page, now: Timestamp) -> Dispatch {
        let Some(adapter) = self.channels.get(channel) else {
            return Dispatch::Done(SendResult::Permanent {
                error: format!("no adapter for channel {channel:?}"),
            });
        };
        let breaker = self.breakers.get(&adapter.breaker_key(&page.address));
        if let Err(held) = breaker.admit(now) {
            return Dispatch::Held(held);
        }
        let result = adapter.send(page).await;
        breaker.record(&result, now);
        Dispatch::Done(result)
    }
}
