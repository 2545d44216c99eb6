//! The service's clocks: the system clock, and a manual clock for tests and demos.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poolkeeper_domain::{Clock, ManualClock};

/// The wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The clock the service runs on: the system clock, or a manual clock that moves only
/// through the admin RPC (`serve --manual-clock <instant>`).
#[derive(Clone, Debug)]
pub enum ServiceClock {
    /// The wall clock.
    System,
    /// A clock that moves only when told to.
    Manual(Arc<ManualClock>),
}

impl ServiceClock {
    /// The manual clock, when the service runs on one.
    pub fn manual(&self) -> Option<&ManualClock> {
        match self {
            ServiceClock::System => None,
            ServiceClock::Manual(clock) => Some(clock),
        }
    }
}

impl Clock for ServiceClock {
    fn now(&self) -> DateTime<Utc> {
        match self {
            ServiceClock::System => Utc::now(),
            ServiceClock::Manual(clock) => clock.now(),
        }
    }
}
