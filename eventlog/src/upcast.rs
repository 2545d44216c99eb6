//! Schema evolution: upcasters turn old payloads into newer ones on read.
//!
//! An upcaster is registered for an `(event_type, from_version)` pair and turns
//! a payload of schema `from_version` into one of schema `from_version + 1`.
//! On read, upcasters are chained until none is registered for the current
//! version. Stored rows are never rewritten: the hash chain and exports always
//! cover the stored payload.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use crate::error::EventLogError;
use crate::types::RecordedEvent;

/// A payload conversion from one schema version to the next. Returns a reason on failure.
pub type UpcastFn = dyn Fn(Value) -> Result<Value, String> + Send + Sync + 'static;

/// A registry of upcasters keyed by event type and source schema version.
#[derive(Clone, Default)]
pub struct Upcasters {
    by_type: HashMap<String, HashMap<u32, Arc<UpcastFn>>>,
}

impl fmt::Debug for Upcasters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut keys: Vec<(&str, u32)> = self
            .by_type
            .iter()
            .flat_map(|(t, m)| m.keys().map(move |v| (t.as_str(), *v)))
            .collect();
        keys.sort_unstable();
        f.debug_struct("Upcasters")
            .field("registered", &keys)
            .finish()
    }
}

impl Upcasters {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `f` to turn `event_type` payloads of `from_version` into
    /// `from_version + 1`, replacing an earlier registration for the same pair.
    pub fn register<F>(
        &mut self,
        event_type: impl Into<String>,
        from_version: u32,
        f: F,
    ) -> &mut Self
    where
        F: Fn(Value) -> Result<Value, String> + Send + Sync + 'static,
    {
        self.by_type
            .entry(event_type.into())
            .or_default()
            .insert(from_version, Arc::new(f));
        self
    }

    /// Builder form of [`Upcasters::register`].
    pub fn with<F>(mut self, event_type: impl Into<String>, from_version: u32, f: F) -> Self
    where
        F: Fn(Value) -> Result<Value, String> + Send + Sync + 'static,
    {
        self.register(event_type, from_version, f);
        self
    }

    /// True when no upcaster is registered.
    pub fn is_empty(&self) -> bool {
        self.by_type.is_empty()
    }

    /// Upcasts an event in place: chains upcasters from its schema version until
    /// none applies. The payload is untouched when no upcaster applies.
    pub fn apply(&self, event: &mut RecordedEvent) -> Result<(), EventLogError> {
        let Some(chain) = self.by_type.get(event.event_type.as_str()) else {
            return Ok(());
        };
        if !chain.contains_key(&event.schema_version) {
            return Ok(());
        }
        let fail = |from_version: u32, reason: String| EventLogError::Upcast {
            position: event.position,
            event_type: event.event_type.clone(),
            from_version,
            reason,
        };
        let mut value: Value = serde_json::from_str(&event.payload).map_err(|e| {
            fail(
                event.schema_version,
                format!("stored payload is not JSON: {e}"),
            )
        })?;
        let mut version = event.schema_version;
        while let Some(f) = chain.get(&version) {
            value = f(value).map_err(|reason| fail(version, reason))?;
            match version.checked_add(1) {
                Some(next) => version = next,
                None => break,
            }
        }
        event.payload = value.to_string();
        event.schema_version = version;
        Ok(())
    }
}
