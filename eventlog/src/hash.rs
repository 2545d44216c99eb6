//! The tamper-evidence hash chain.
//!
//! `hash_0` is 32 zero bytes and `hash_n = SHA-256(hash_{n-1} || canonical(e_n))`,
//! where `canonical(e)` concatenates, for each field in [`CanonicalEvent`]'s
//! order, a 4-byte big-endian length followed by the field's UTF-8 bytes. Numbers
//! are decimal, uuids lowercase hyphenated, a missing causation id is the empty
//! string and `recorded_at` is microseconds since the Unix epoch. The payload
//! and schema version are the stored ones, never upcast. README.md spells this
//! out for auditors.

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::types::{AppendRequest, NewEvent, Position, RecordedEvent, StreamId, StreamVersion};

/// The hash that precedes the first event: 32 zero bytes.
pub const GENESIS_HASH: [u8; 32] = [0; 32];

/// The stored fields of one event, in canonical order.
#[derive(Debug, Clone, Copy)]
pub struct CanonicalEvent<'a> {
    /// Global position.
    pub position: Position,
    /// Stream id.
    pub stream_id: &'a str,
    /// Version within the stream.
    pub stream_version: StreamVersion,
    /// Event id.
    pub event_id: Uuid,
    /// Event type.
    pub event_type: &'a str,
    /// Schema version as stored.
    pub schema_version: u32,
    /// Command id.
    pub command_id: Uuid,
    /// Correlation id.
    pub correlation_id: Uuid,
    /// Causation id, hashed as the empty string when absent.
    pub causation_id: Option<Uuid>,
    /// Actor.
    pub actor: &'a str,
    /// Recorded time in microseconds since the Unix epoch.
    pub recorded_at_micros: i64,
    /// Payload exactly as stored.
    pub payload: &'a str,
}

impl<'a> CanonicalEvent<'a> {
    /// Event `event` of `request`, appended to `stream` as its version `version` at
    /// `position`, recorded at `recorded_at_micros` (the request's time as stored).
    #[inline]
    pub fn appended(
        request: &'a AppendRequest,
        stream: &'a StreamId,
        event: &'a NewEvent,
        position: Position,
        version: StreamVersion,
        recorded_at_micros: i64,
    ) -> Self {
        Self {
            position,
            stream_id: stream.as_str(),
            stream_version: version,
            event_id: event.event_id,
            event_type: &event.event_type,
            schema_version: event.schema_version,
            command_id: request.command_id,
            correlation_id: request.correlation_id,
            causation_id: request.causation_id,
            actor: &request.actor,
            recorded_at_micros,
            payload: &event.payload,
        }
    }
}

impl<'a> From<&'a RecordedEvent> for CanonicalEvent<'a> {
    /// The hashed fields of a stored event (read with `read_all_stored`: not upcast).
    fn from(e: &'a RecordedEvent) -> Self {
        Self {
            position: e.position,
            stream_id: e.stream_id.as_str(),
            stream_version: e.stream_version,
            event_id: e.event_id,
            event_type: &e.event_type,
            schema_version: e.schema_version,
            command_id: e.metadata.command_id,
            correlation_id: e.metadata.correlation_id,
            causation_id: e.metadata.causation_id,
            actor: &e.metadata.actor,
            recorded_at_micros: e.metadata.recorded_at.timestamp_micros(),
            payload: &e.payload,
        }
    }
}

/// Computes `SHA-256(prev || canonical(event))`.
pub fn chain_hash(prev: &[u8; 32], event: &CanonicalEvent<'_>) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev);
    let mut num = NumBuf::default();
    let mut id = [0u8; 36];
    field(&mut h, num.unsigned(event.position));
    field(&mut h, event.stream_id.as_bytes());
    field(&mut h, num.unsigned(event.stream_version));
    field(&mut h, uuid_text(event.event_id, &mut id));
    field(&mut h, event.event_type.as_bytes());
    field(&mut h, num.unsigned(u64::from(event.schema_version)));
    field(&mut h, uuid_text(event.command_id, &mut id));
    field(&mut h, uuid_text(event.correlation_id, &mut id));
    match event.causation_id {
        Some(c) => field(&mut h, uuid_text(c, &mut id)),
        None => field(&mut h, b""),
    }
    field(&mut h, event.actor.as_bytes());
    field(&mut h, num.signed(event.recorded_at_micros));
    field(&mut h, event.payload.as_bytes());
    h.finalize().into()
}

fn field(h: &mut Sha256, bytes: &[u8]) {
    // Fields are bounded far below 4 GiB (payloads are size-capped).
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    h.update(len.to_be_bytes());
    h.update(bytes);
}

fn uuid_text(id: Uuid, buf: &mut [u8; 36]) -> &[u8] {
    id.hyphenated().encode_lower(buf).as_bytes()
}

/// Formats integers in decimal without allocating.
#[derive(Default)]
struct NumBuf([u8; 20]);

impl NumBuf {
    fn unsigned(&mut self, mut n: u64) -> &[u8] {
        let mut i = self.0.len();
        loop {
            i -= 1;
            self.0[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        &self.0[i..]
    }

    fn signed(&mut self, n: i64) -> &[u8] {
        if n >= 0 {
            return self.unsigned(n.unsigned_abs());
        }
        // 19 digits plus the sign fit in 20 bytes.
        let digits = self.unsigned(n.unsigned_abs()).len();
        let start = self.0.len() - digits - 1;
        self.0[start] = b'-';
        &self.0[start..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_formatting_matches_std() {
        let mut b = NumBuf::default();
        for n in [0u64, 1, 9, 10, 12345, u64::MAX] {
            assert_eq!(b.unsigned(n), n.to_string().as_bytes());
        }
        for n in [0i64, -1, 7, -1234567, i64::MIN, i64::MAX] {
            assert_eq!(b.signed(n), n.to_string().as_bytes());
        }
    }

    #[test]
    fn hash_matches_a_hand_built_canonical_form() {
        let e = CanonicalEvent {
            position: 1,
            stream_id: "customer-1",
            stream_version: 1,
            event_id: Uuid::from_u128(1),
            event_type: "customer.claimed",
            schema_version: 2,
            command_id: Uuid::from_u128(2),
            correlation_id: Uuid::from_u128(3),
            causation_id: None,
            actor: "user:x",
            recorded_at_micros: -5,
            payload: "{\"a\":1}",
        };
        let fields = [
            "1".to_string(),
            "customer-1".into(),
            "1".into(),
            Uuid::from_u128(1).to_string(),
            "customer.claimed".into(),
            "2".into(),
            Uuid::from_u128(2).to_string(),
            Uuid::from_u128(3).to_string(),
            String::new(),
            "user:x".into(),
            "-5".into(),
            "{\"a\":1}".into(),
        ];
        let mut bytes = GENESIS_HASH.to_vec();
        for f in &fields {
            bytes.extend_from_slice(&(f.len() as u32).to_be_bytes());
            bytes.extend_from_slice(f.as_bytes());
        }
        let expected: [u8; 32] = Sha256::digest(&bytes).into();
        assert_eq!(chain_hash(&GENESIS_HASH, &e), expected);
    }
}
