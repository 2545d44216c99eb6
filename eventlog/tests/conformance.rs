//! Conformance of the store against an in-memory `Vec` oracle: random appends
//! (single and batched; various expected versions; duplicate command ids;
//! invalid input) interleaved with reopen steps, comparing every read after
//! each step.

mod common;

use std::collections::HashMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use poolkeeper_eventlog::{
    AppendOutcome, AppendRequest, EventLogConfig, EventLogError, EventStore, ExpectedVersion,
    NewEvent, SqliteEventStore, StreamAppend, StreamId,
};
use proptest::prelude::*;
use uuid::Uuid;

const STREAMS: [&str; 4] = ["s0", "s1", "s2", "customer-ü"];
const TYPES: [&str; 3] = ["t.a", "t.b", "t.c"];
const MAX_PAYLOAD: usize = 64;

#[derive(Debug, Clone)]
enum Expect {
    Any,
    NoStream,
    Exact(u64),
    /// Whatever the oracle says the stream's version is (usually succeeds).
    Current,
}

/// At most one defect per request, so most requests are valid.
#[derive(Debug, Clone, Copy)]
enum Defect {
    NoStreams,
    DuplicateStream,
    NoEvents,
    EmptyType,
    SchemaZero,
    NotJson,
    TooLarge,
}

#[derive(Debug, Clone)]
struct EventSpec {
    event_type: usize,
    schema_version: u32,
    payload: u8,
}

#[derive(Debug, Clone)]
struct StreamSpec {
    stream: usize,
    expect: Expect,
    events: Vec<EventSpec>,
}

#[derive(Debug, Clone)]
struct RequestSpec {
    /// `Some(i)`: reuse the i-th (mod count) command id generated so far.
    reuse_command: Option<usize>,
    causation: bool,
    streams: Vec<StreamSpec>,
    defect: Option<Defect>,
}

#[derive(Debug, Clone)]
enum Op {
    Append(RequestSpec),
    Batch(Vec<RequestSpec>),
    Reopen,
}

fn expect_strategy() -> impl Strategy<Value = Expect> {
    prop_oneof![
        1 => Just(Expect::Any),
        1 => Just(Expect::NoStream),
        1 => (0u64..4).prop_map(Expect::Exact),
        4 => Just(Expect::Current),
    ]
}

fn event_strategy() -> impl Strategy<Value = EventSpec> {
    (0..TYPES.len(), 1u32..4, any::<u8>()).prop_map(|(event_type, schema_version, payload)| {
        EventSpec {
            event_type,
            schema_version,
            payload,
        }
    })
}

fn defect_strategy() -> impl Strategy<Value = Option<Defect>> {
    prop_oneof![
        24 => Just(None),
        1 => Just(Some(Defect::NoStreams)),
        1 => Just(Some(Defect::DuplicateStream)),
        1 => Just(Some(Defect::NoEvents)),
        1 => Just(Some(Defect::EmptyType)),
        1 => Just(Some(Defect::SchemaZero)),
        1 => Just(Some(Defect::NotJson)),
        1 => Just(Some(Defect::TooLarge)),
    ]
}

fn request_strategy() -> impl Strategy<Value = RequestSpec> {
    let stream = (
        0..STREAMS.len(),
        expect_strategy(),
        proptest::collection::vec(event_strategy(), 1..4),
    )
        .prop_map(|(stream, expect, events)| StreamSpec {
            stream,
            expect,
            events,
        });
    (
        prop_oneof![4 => Just(None), 1 => any::<usize>().prop_map(Some)],
        any::<bool>(),
        proptest::collection::vec(stream, 1..3),
        defect_strategy(),
    )
        .prop_map(|(reuse_command, causation, mut streams, defect)| {
            // Distinct streams unless the defect asks otherwise.
            let mut seen = Vec::new();
            streams.retain(|s| {
                let fresh = !seen.contains(&s.stream);
                seen.push(s.stream);
                fresh
            });
            RequestSpec {
                reuse_command,
                causation,
                streams,
                defect,
            }
        })
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => request_strategy().prop_map(Op::Append),
        3 => proptest::collection::vec(request_strategy(), 1..6).prop_map(Op::Batch),
        1 => Just(Op::Reopen),
    ]
}

/// What the oracle keeps per event.
#[derive(Debug, Clone)]
struct ModelEvent {
    stream: String,
    version: u64,
    event: NewEvent,
    command_id: Uuid,
    correlation_id: Uuid,
    causation_id: Option<Uuid>,
    actor: String,
    recorded_at: DateTime<Utc>,
}

/// The comparable shape of an error.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ErrorShape {
    Invalid(String),
    TooLarge,
    Conflict(String, Option<u64>),
}

fn shape(e: &EventLogError) -> ErrorShape {
    match e {
        EventLogError::InvalidInput { field, .. } => ErrorShape::Invalid(field.clone()),
        EventLogError::PayloadTooLarge { size, max } => {
            assert!(size > max);
            ErrorShape::TooLarge
        }
        EventLogError::WrongExpectedVersion { stream, actual, .. } => {
            ErrorShape::Conflict(stream.to_string(), *actual)
        }
        other => panic!("unexpected error {other:?}"),
    }
}

#[derive(Default)]
struct Model {
    events: Vec<ModelEvent>,
    commands: HashMap<Uuid, AppendOutcome>,
    /// Every command id ever generated, for reuse.
    command_ids: Vec<Uuid>,
}

impl Model {
    fn version(&self, stream: &str) -> Option<u64> {
        self.events
            .iter()
            .rev()
            .find(|e| e.stream == stream)
            .map(|e| e.version)
    }

    fn validate(req: &AppendRequest) -> Result<(), ErrorShape> {
        if req.streams.is_empty() {
            return Err(ErrorShape::Invalid("streams".into()));
        }
        for (i, s) in req.streams.iter().enumerate() {
            if req.streams[..i].iter().any(|o| o.stream_id == s.stream_id) {
                return Err(ErrorShape::Invalid(format!("streams[{i}].stream_id")));
            }
            if s.events.is_empty() {
                return Err(ErrorShape::Invalid(format!("streams[{i}].events")));
            }
            for (j, e) in s.events.iter().enumerate() {
                let at = format!("streams[{i}].events[{j}]");
                if e.event_type.is_empty() {
                    return Err(ErrorShape::Invalid(format!("{at}.event_type")));
                }
                if e.schema_version == 0 {
                    return Err(ErrorShape::Invalid(format!("{at}.schema_version")));
                }
                if e.payload.len() > MAX_PAYLOAD {
                    return Err(ErrorShape::TooLarge);
                }
                if e.payload.starts_with("{bad") {
                    return Err(ErrorShape::Invalid(format!("{at}.payload")));
                }
            }
        }
        Ok(())
    }

    fn append(&mut self, req: &AppendRequest) -> Result<AppendOutcome, ErrorShape> {
        Self::validate(req)?;
        if let Some(first) = self.commands.get(&req.command_id) {
            return Ok(AppendOutcome {
                duplicate: true,
                ..first.clone()
            });
        }
        for s in &req.streams {
            let actual = self.version(s.stream_id.as_str());
            let ok = match s.expected {
                ExpectedVersion::Any => true,
                ExpectedVersion::NoStream | ExpectedVersion::Exact(0) => actual.is_none(),
                ExpectedVersion::Exact(v) => actual == Some(v),
            };
            if !ok {
                return Err(ErrorShape::Conflict(s.stream_id.to_string(), actual));
            }
        }
        let first = self.events.len() as u64 + 1;
        let mut versions = Vec::new();
        for s in &req.streams {
            let mut v = self.version(s.stream_id.as_str()).unwrap_or(0);
            for e in &s.events {
                v += 1;
                self.events.push(ModelEvent {
                    stream: s.stream_id.to_string(),
                    version: v,
                    event: e.clone(),
                    command_id: req.command_id,
                    correlation_id: req.correlation_id,
                    causation_id: req.causation_id,
                    actor: req.actor.clone(),
                    recorded_at: req.recorded_at,
                });
            }
            versions.push((s.stream_id.clone(), v));
        }
        let outcome = AppendOutcome {
            first_position: first,
            last_position: self.events.len() as u64,
            stream_versions: versions,
            duplicate: false,
        };
        self.commands.insert(req.command_id, outcome.clone());
        Ok(outcome)
    }

    /// Turns a spec into a concrete request, resolving `Current` and reused ids.
    fn build(&mut self, spec: &RequestSpec, seq: &mut u64) -> AppendRequest {
        let command_id = match spec.reuse_command {
            Some(i) if !self.command_ids.is_empty() => self.command_ids[i % self.command_ids.len()],
            _ => Uuid::now_v7(),
        };
        self.command_ids.push(command_id);
        let streams = spec
            .streams
            .iter()
            .map(|s| {
                let stream = STREAMS[s.stream];
                let expected = match s.expect {
                    Expect::Any => ExpectedVersion::Any,
                    Expect::NoStream => ExpectedVersion::NoStream,
                    Expect::Exact(v) => ExpectedVersion::Exact(v),
                    Expect::Current => match self.version(stream) {
                        Some(v) => ExpectedVersion::Exact(v),
                        None => ExpectedVersion::NoStream,
                    },
                };
                let events = s
                    .events
                    .iter()
                    .map(|e| {
                        *seq += 1;
                        NewEvent {
                            event_id: Uuid::now_v7(),
                            event_type: TYPES[e.event_type].into(),
                            schema_version: e.schema_version,
                            payload: format!(
                                "{{\"seq\":{seq},\"b\":{},\"s\":\"é☃\\n\"}}",
                                e.payload
                            ),
                        }
                    })
                    .collect();
                StreamAppend {
                    stream_id: StreamId::new(stream).unwrap(),
                    expected,
                    events,
                }
            })
            .collect::<Vec<StreamAppend>>();
        let mut streams = streams;
        // Damage the last event of the last stream, if asked to.
        let last = streams.last_mut().and_then(|s| s.events.last_mut());
        match (spec.defect, last) {
            (None, _) => {}
            (Some(Defect::NoStreams), _) => streams.clear(),
            (Some(Defect::DuplicateStream), _) => {
                let again = streams[0].clone();
                streams.push(again);
            }
            (Some(Defect::NoEvents), _) => streams[0].events.clear(),
            (Some(Defect::EmptyType), Some(e)) => e.event_type.clear(),
            (Some(Defect::SchemaZero), Some(e)) => e.schema_version = 0,
            (Some(Defect::NotJson), Some(e)) => e.payload = "{bad json".into(),
            (Some(Defect::TooLarge), Some(e)) => {
                e.payload = format!("\"{}\"", "x".repeat(MAX_PAYLOAD));
            }
            (Some(_), None) => unreachable!("every stream has an event"),
        }
        AppendRequest {
            command_id,
            correlation_id: Uuid::now_v7(),
            causation_id: spec.causation.then(Uuid::now_v7),
            actor: format!("user:{}", *seq % 3),
            // Microsecond precision, as stored; some times before the epoch.
            recorded_at: DateTime::from_timestamp_micros(*seq as i64 * 1_000_003 - 5_000_000)
                .unwrap(),
            streams,
        }
    }
}

fn open(path: &Path) -> SqliteEventStore {
    let config = EventLogConfig {
        max_payload_bytes: MAX_PAYLOAD,
        // Small pages exercise the paging of catch-up and streams, and a tiny
        // WAL limit exercises checkpoints (and the WAL preallocation once busy).
        page_size: 3,
        checkpoint_pages: 16,
        // Commands reach the command index every few appends, in chunks.
        index_after: 2,
        ..EventLogConfig::default()
    };
    SqliteEventStore::open(path, config).unwrap()
}

fn check_result(
    got: &Result<AppendOutcome, EventLogError>,
    want: &Result<AppendOutcome, ErrorShape>,
) {
    match (got, want) {
        (Ok(g), Ok(w)) => assert_eq!(g, w),
        (Err(g), Err(w)) => assert_eq!(&shape(g), w),
        _ => panic!("store returned {got:?}, oracle expected {want:?}"),
    }
}

async fn compare(store: &SqliteEventStore, model: &Model) {
    use futures::StreamExt;
    let all = store.read_all(0, 100_000).await.unwrap();
    assert_eq!(all.len(), model.events.len());
    for (i, (got, want)) in all.iter().zip(&model.events).enumerate() {
        assert_eq!(got.position, i as u64 + 1);
        assert_eq!(got.stream_id.as_str(), want.stream);
        assert_eq!(got.stream_version, want.version);
        assert_eq!(got.event_id, want.event.event_id);
        assert_eq!(got.event_type, want.event.event_type);
        assert_eq!(got.schema_version, want.event.schema_version);
        assert_eq!(got.payload, want.event.payload);
        assert_eq!(got.metadata.command_id, want.command_id);
        assert_eq!(got.metadata.correlation_id, want.correlation_id);
        assert_eq!(got.metadata.causation_id, want.causation_id);
        assert_eq!(got.metadata.actor, want.actor);
        assert_eq!(got.metadata.recorded_at, want.recorded_at);
    }
    assert_eq!(store.tail().await.unwrap(), model.events.len() as u64);
    // Paged reads: from every third position, a page of two.
    for from in (1..=model.events.len() as u64 + 1).step_by(3) {
        let page = store.read_all(from, 2).await.unwrap();
        let want: Vec<&poolkeeper_eventlog::RecordedEvent> =
            all.iter().skip(from as usize - 1).take(2).collect();
        assert_eq!(page.iter().collect::<Vec<_>>(), want);
    }
    let streamed: Vec<_> = store.read_all_stream(2).map(|e| e.unwrap()).collect().await;
    assert_eq!(streamed.as_slice(), all.get(1..).unwrap_or(&[]));
    for s in STREAMS {
        let id = StreamId::new(s).unwrap();
        let want: Vec<u64> = (1..=model.events.len() as u64)
            .filter(|p| model.events[*p as usize - 1].stream == s)
            .collect();
        assert_eq!(store.stream_version(&id).await.unwrap(), model.version(s));
        let got: Vec<u64> = store
            .read_stream(&id, 0, 1000)
            .await
            .unwrap()
            .iter()
            .map(|e| e.position)
            .collect();
        assert_eq!(got, want);
        let from2: Vec<u64> = store
            .read_stream(&id, 2, 2)
            .await
            .unwrap()
            .iter()
            .map(|e| e.stream_version)
            .collect();
        let want2: Vec<u64> = (2..=model.version(s).unwrap_or(0)).take(2).collect();
        assert_eq!(from2, want2);
    }
    for t in TYPES {
        let want: Vec<u64> = (1..=model.events.len() as u64)
            .filter(|p| model.events[*p as usize - 1].event.event_type == t)
            .collect();
        let got: Vec<u64> = store
            .read_by_type(t, 0, 1000)
            .await
            .unwrap()
            .iter()
            .map(|e| e.position)
            .collect();
        assert_eq!(got, want);
        if let Some(&mid) = want.get(want.len() / 2) {
            let got: Vec<u64> = store
                .read_by_type(t, mid, 1000)
                .await
                .unwrap()
                .iter()
                .map(|e| e.position)
                .collect();
            assert_eq!(got, want[want.len() / 2..]);
        }
    }
    for id in &model.command_ids {
        assert_eq!(
            store.command_outcome(*id).await.unwrap().as_ref(),
            model.commands.get(id)
        );
    }
    let report = store.verify().await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.events_checked, model.events.len() as u64);
}

fn run(ops: Vec<Op>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("conformance.db");
    rt.block_on(async {
        let mut store = open(&path);
        let mut model = Model::default();
        let mut seq = 0u64;
        for op in ops {
            match op {
                Op::Append(spec) => {
                    let req = model.build(&spec, &mut seq);
                    let want = model.append(&req);
                    let got = store.append(req).await;
                    check_result(&got, &want);
                }
                Op::Batch(specs) => {
                    let reqs: Vec<AppendRequest> =
                        specs.iter().map(|s| model.build(s, &mut seq)).collect();
                    let want: Vec<_> = reqs.iter().map(|r| model.append(r)).collect();
                    let got = store.append_batch(reqs).await.unwrap();
                    assert_eq!(got.len(), want.len());
                    for (g, w) in got.iter().zip(&want) {
                        check_result(g, w);
                    }
                }
                Op::Reopen => {
                    drop(store);
                    store = open(&path);
                }
            }
            compare(&store, &model).await;
        }
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn store_matches_the_vec_oracle(ops in proptest::collection::vec(op_strategy(), 1..24)) {
        run(ops);
    }
}
