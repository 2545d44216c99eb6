//! The upcasters of the user events (`user.*`, `domain/src/event/users.rs`).

use super::Upcaster;

/// None yet: every one of these events is at schema version 1.
pub(super) const UPCASTERS: &[Upcaster] = &[];
