//! The upcasters of the pool and organization events (`pool.*`, `organization.*`, `domain/src/event/pools.rs`).

use super::Upcaster;

/// None yet: every one of these events is at schema version 1.
pub(super) const UPCASTERS: &[Upcaster] = &[];
