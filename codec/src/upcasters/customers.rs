//! The upcasters of the customer events (`customer.*`, `domain/src/event/customers.rs`).

use super::Upcaster;

/// None yet: every one of these events is at schema version 1.
pub(super) const UPCASTERS: &[Upcaster] = &[];
