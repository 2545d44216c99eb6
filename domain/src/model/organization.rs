//! The organization's stream: its settings (the overall cap, the day offset from UTC).

use crate::event::EventBody;
use crate::rules::Limit;

use super::WriteModel;

/// Organization-wide settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrganizationSettings {
    /// The most customers one user may own across all pools.
    pub overall_cap: Option<Limit>,
    /// The organization's day offset from UTC in minutes.
    pub day_offset_minutes: i32,
    /// Events on the organization stream.
    pub version: u64,
}

impl WriteModel {
    /// Folds an event of the organization's stream.
    pub(super) fn apply_to_organization(&mut self, body: &EventBody) {
        if let EventBody::OrganizationSettingsChanged(e) = body {
            self.settings.overall_cap.clone_from(&e.overall_cap);
            self.settings.day_offset_minutes = e.day_offset_minutes;
            self.settings.version += 1;
        }
    }
}
