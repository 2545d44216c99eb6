//! Which payload fields of which event types can hold personal data, and sealing or
//! opening them in a whole payload. A text field is sealed as one value; a map of free
//! fields keeps its keys (they are the CRM's schema: `region`, `phone`) and has each value
//! sealed. Ownership facts, ids, rules, evidence and reason codes are never personal.

use serde_json::Value;
use uuid::Uuid;

use crate::VaultError;
use crate::seal::{DataKey, PURGED, SEALED_PREFIX, is_sealed};

/// How a personal field is shaped in the payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// A string (or null, for an optional one).
    Text,
    /// An object of string values.
    Map,
}

/// The personal fields of events of type `event_type`, with their shapes.
pub fn personal_fields(event_type: &str) -> &'static [(&'static str, Shape)] {
    match event_type {
        "customer.created" => &[("name", Shape::Text), ("fields", Shape::Map)],
        "customer.follow_up_logged" => &[("note", Shape::Text)],
        "customer.follow_up_commented" => &[("comment", Shape::Text)],
        "customer.claim_rejected" => &[("reason", Shape::Text)],
        _ => &[],
    }
}

/// The event type of a purge: the customer's key is shredded once it is appended.
pub const PURGED_EVENT: &str = "customer.purged";

/// Whether events of `event_type` can hold personal data.
pub fn has_personal_fields(event_type: &str) -> bool {
    !personal_fields(event_type).is_empty()
}

/// Whether an event of `event_type` whose payload is `payload` holds sealed personal
/// fields (as stored and hashed).
pub fn holds_sealed_fields(event_type: &str, payload: &str) -> bool {
    has_personal_fields(event_type) && payload.contains(SEALED_PREFIX)
}

/// Seals the personal fields of `payload` (an event of `event_type` of `customer`) with
/// `key`; values already sealed stay as they are. With no key (the customer's was
/// shredded) each personal value is written [`PURGED`]: plaintext never gets through.
pub fn seal_payload(event_type: &str, payload: &mut Value, customer: Uuid, key: Option<&DataKey>) {
    for_each_personal(event_type, payload, |value| {
        if let Value::String(text) = value
            && !is_sealed(text)
        {
            let sealed = match key {
                Some(key) => key.seal(customer, text),
                None => PURGED.to_owned(),
            };
            *value = Value::String(sealed);
        }
        Ok(())
    })
    .expect("sealing cannot fail");
}

/// Opens the sealed fields of `payload` with `key`; with no key (it was shredded), each
/// sealed value becomes [`PURGED`]. A value that does not open with the key is an error
/// (tampering, or the wrong key), never silently purged.
pub fn open_payload(
    event_type: &str,
    payload: &mut Value,
    customer: Uuid,
    key: Option<&DataKey>,
) -> Result<(), VaultError> {
    for_each_personal(event_type, payload, |value| {
        let Value::String(text) = value else {
            return Ok(());
        };
        if !is_sealed(text) {
            return Ok(());
        }
        let opened = match key {
            Some(key) => key.open(customer, text)?,
            None => PURGED.to_owned(),
        };
        *value = Value::String(opened);
        Ok(())
    })
}

/// Calls `visit` on every personal string value of `payload`: each text field, and each
/// value of each map field.
fn for_each_personal(
    event_type: &str,
    payload: &mut Value,
    mut visit: impl FnMut(&mut Value) -> Result<(), VaultError>,
) -> Result<(), VaultError> {
    for (field, shape) in personal_fields(event_type) {
        let Some(value) = payload.get_mut(*field) else {
            continue;
        };
        match (shape, value) {
            (Shape::Text, value) => visit(value)?,
            (Shape::Map, Value::Object(map)) => {
                for value in map.values_mut() {
                    visit(value)?;
                }
            }
            (Shape::Map, _) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn created() -> Value {
        json!({
            "customer_id": "0193a0b0-0000-7000-8000-000000000001",
            "pool_id": "0193a0b0-0000-7000-8000-000000000002",
            "name": "王小明 个体工商户",
            "source": "referral",
            "fields": {"phone": "138-0000-0000", "region": "华北"},
            "created_by": "0193a0b0-0000-7000-8000-000000000003",
            "owner": null
        })
    }

    /// `created()` sealed under a key nobody keeps.
    fn sealed_under_another_key(customer: Uuid) -> Value {
        let mut payload = created();
        seal_payload(
            "customer.created",
            &mut payload,
            customer,
            Some(&DataKey::generate()),
        );
        payload
    }

    #[test]
    fn personal_fields_are_sealed_and_open_again_and_nothing_else_changes() {
        let customer = Uuid::from_u128(1);
        let key = DataKey::generate();
        let mut payload = created();
        seal_payload("customer.created", &mut payload, customer, Some(&key));
        let text = payload.to_string();
        assert!(!text.contains("王小明") && !text.contains("138-0000"));
        assert!(text.contains("\"phone\"") && text.contains("referral"));
        assert_eq!(payload["pool_id"], created()["pool_id"]);
        open_payload("customer.created", &mut payload, customer, Some(&key)).unwrap();
        assert_eq!(payload, created());
    }

    #[test]
    fn without_the_key_every_personal_value_reads_purged() {
        let customer = Uuid::from_u128(1);
        let mut payload = sealed_under_another_key(customer);
        open_payload("customer.created", &mut payload, customer, None).unwrap();
        assert_eq!(payload["name"], PURGED);
        assert_eq!(payload["fields"]["phone"], PURGED);
        assert_eq!(payload["fields"]["region"], PURGED);
        assert_eq!(payload["source"], "referral");
    }

    #[test]
    fn without_a_key_nothing_personal_is_written_in_plaintext() {
        let customer = Uuid::from_u128(1);
        let mut payload = created();
        seal_payload("customer.created", &mut payload, customer, None);
        assert_eq!(payload["name"], PURGED);
        assert_eq!(payload["fields"]["phone"], PURGED);
        assert_eq!(payload["source"], "referral");
    }

    #[test]
    fn a_value_under_another_key_is_an_error_not_a_purge() {
        let customer = Uuid::from_u128(1);
        let mut payload = sealed_under_another_key(customer);
        let wrong = DataKey::generate();
        assert!(open_payload("customer.created", &mut payload, customer, Some(&wrong)).is_err());
    }

    #[test]
    fn events_without_personal_fields_and_absent_optional_fields_are_left_alone() {
        let customer = Uuid::from_u128(1);
        let key = DataKey::generate();
        let mut claimed = json!({"customer_id": "x", "reason": "not personal here"});
        seal_payload("customer.claimed", &mut claimed, customer, Some(&key));
        assert_eq!(claimed["reason"], "not personal here");
        let mut rejected = json!({"customer_id": "x", "reason": null});
        seal_payload(
            "customer.claim_rejected",
            &mut rejected,
            customer,
            Some(&key),
        );
        assert_eq!(rejected["reason"], Value::Null);
    }
}
