//! Between domain events and the event log's records, for both sides of poolkeeper: the
//! writer encodes each accepted command's events into one append request ([`encode_with`]),
//! and everything that reads the log (the writer restoring its model, the projections)
//! decodes records back into domain events ([`decode`], [`decode_logged`]).
//!
//! The convention, which [`encode_with`] implements and [`decode`] relies on: one append per
//! command; `recorded_at` is the domain `Event::at` of every event in it; the actor is
//! `Actor`'s display form; the stream id is the body's `StreamRef`; event type, schema
//! version and payload come from the body (`EventBody::to_payload`).
//!
//! - `decode.rs`: a record back into a domain event, and [`LoggedEvent`].
//! - `encode.rs`: one command's events into one append request.
//! - `error.rs`: [`CodecError`].
//! - [`upcasters`](mod@upcasters): how older payloads become the versions this build
//!   decodes, registered beside the event types they upcast.
//!
//! **Architecture invariant:** this crate depends on `domain` and `eventlog` only, so the
//! write path encodes without the read side and the read side decodes without the writer.

mod decode;
mod encode;
mod error;
pub mod upcasters;

pub use decode::{LoggedEvent, decode, decode_logged};
pub use encode::{encode, encode_with};
pub use error::CodecError;
pub use upcasters::{Upcaster, upcasters};
