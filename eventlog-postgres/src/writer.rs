//! The writer of one organization's log: a task that group-commits appends.
//!
//! Appenders send jobs over a bounded channel. The task takes the first job
//! and every job already waiting (up to `max_group_events` events) and commits
//! them in ONE transaction. Once it knows its head and the touched streams'
//! versions ([`KnownHead`], kept from its own commits), the transaction is ONE
//! pipelined round trip: `BEGIN`, `poolkeeper_advance_head` (fenced by epoch and
//! head, it raises otherwise), the rows, the notification, `COMMIT`; a command id
//! already stored (a retry) aborts it and the group takes the full path.
//! Otherwise it is pipelined in three round trips:
//! 1. `BEGIN`; lock the head row `WHERE organization AND epoch = <ours>`
//!    (`FOR UPDATE`; no row: fenced); the touched streams' versions; the
//!    stored outcomes of the group's command ids.
//! 2. The group's events and commands (multi-row `INSERT … SELECT unnest(…)`),
//!    the head update `WHERE epoch = <ours> AND head = <locked head>`, and one
//!    `pg_notify` carrying the organization and the new head.
//! 3. `COMMIT`, then the replies and the in-process wake-up of subscribers.
//!
//! Positions come from the locked head row, so commits happen in position
//! order and a reader never sees a gap. Each request is planned in memory
//! (`crate::plan`) before anything is written, so a conflict fails only that
//! request; a database error or fencing fails the whole group, rolled back.

use std::collections::HashMap;
use std::sync::Arc;

use deadpool_postgres::{Object, Pool};
use poolkeeper_eventlog::{AppendOutcome, AppendRequest, EventLogError, StreamVersion};
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

use crate::hub::{CHANNEL, Hub};
use crate::known::KnownHead;
use crate::plan::{CommandRows, EventRows, Plan, streams_of};
use crate::reader::outcome_of_range;
use crate::rows::{backend, sql_int, unsigned};

/// A statement parameter.
type Param<'a> = dyn tokio_postgres::types::ToSql + Sync + 'a;

/// One result per request of a job.
pub(crate) type JobResults = Vec<Result<AppendOutcome, EventLogError>>;

/// Requests appended together, and where to send their results.
pub(crate) struct Job {
    pub requests: Vec<AppendRequest>,
    pub reply: oneshot::Sender<Result<JobResults, EventLogError>>,
}

const LOCK_HEAD: &str = "SELECT head, last_hash FROM log_heads \
     WHERE organization = $1 AND epoch = $2 FOR UPDATE";
/// One backward index probe per stream (a `GROUP BY` would read every version).
const STREAM_VERSIONS: &str = "SELECT s, (SELECT stream_version FROM events \
     WHERE organization = $1 AND stream_id = s ORDER BY stream_version DESC LIMIT 1) \
     FROM unnest($2::text[]) AS s";
/// One index probe per command id: `command_id = ANY($2)` was planned as a filter over
/// the organization's every command (a generic plan), and a plain join as a hash join
/// over them, both slower as the log grew; `OFFSET 0` keeps the lateral probe a probe.
const STORED_COMMANDS: &str = "SELECT q.id, c.first_position, c.last_position \
     FROM unnest($2::uuid[]) AS q(id) CROSS JOIN LATERAL (SELECT first_position, \
     last_position FROM commands WHERE organization = $1 AND command_id = q.id \
     OFFSET 0) AS c";
const INSERT_EVENTS: &str = "INSERT INTO events (organization, epoch, position, stream_id, \
     stream_version, event_id, event_type, schema_version, payload, command_id, correlation_id, \
     causation_id, actor, recorded_at, hash) SELECT $1, $2, * FROM unnest($3::bigint[], \
     $4::text[], $5::bigint[], $6::uuid[], $7::text[], $8::bigint[], $9::text[], $10::uuid[], \
     $11::uuid[], $12::uuid[], $13::text[], $14::timestamptz[], $15::bytea[])";
const INSERT_COMMANDS: &str = "INSERT INTO commands (organization, command_id, first_position, \
     last_position) SELECT $1, * FROM unnest($2::uuid[], $3::bigint[], $4::bigint[])";
const UPDATE_HEAD: &str = "UPDATE log_heads SET head = $3, last_hash = $4 \
     WHERE organization = $1 AND epoch = $2 AND head = $5";
const NOTIFY: &str = "SELECT pg_notify($1, $2)";
const ADVANCE_HEAD: &str = "SELECT poolkeeper_advance_head($1, $2, $3, $4, $5)";
/// The SQLSTATE `poolkeeper_advance_head` raises when the writer is fenced.
const FENCED: &str = "PKFEN";

/// The writer task's state.
pub(crate) struct Writer {
    pub pool: Pool,
    pub organization: Arc<str>,
    pub epoch: u64,
    pub hub: Arc<Hub>,
    pub max_group_events: usize,
    /// Set once the task stopped: subscriptions then end after catching up.
    pub closed: watch::Sender<bool>,
    /// The log as this writer last committed it; `None` until a full-path commit
    /// and after any failure.
    pub known: Option<KnownHead>,
}

/// A group's result: each job's results and the new head when something was written.
type Committed = (Vec<JobResults>, Option<u64>);

impl Writer {
    /// Serves jobs until every sender is gone, then marks the store closed.
    pub(crate) async fn run(mut self, mut jobs: mpsc::Receiver<Job>) {
        while let Some(first) = jobs.recv().await {
            let group = self.gather(first, &mut jobs);
            self.serve(group).await;
        }
        self.closed.send_replace(true);
    }

    /// The first job and those already waiting, up to `max_group_events` events.
    fn gather(&self, first: Job, jobs: &mut mpsc::Receiver<Job>) -> Vec<Job> {
        let mut events: usize = first.requests.iter().map(AppendRequest::event_count).sum();
        let mut group = vec![first];
        while events < self.max_group_events {
            let Ok(job) = jobs.try_recv() else { break };
            events += job
                .requests
                .iter()
                .map(AppendRequest::event_count)
                .sum::<usize>();
            group.push(job);
        }
        group
    }

    /// Commits a group and replies to each job.
    async fn serve(&mut self, group: Vec<Job>) {
        let (requests, replies): (Vec<_>, Vec<_>) =
            group.into_iter().map(|j| (j.requests, j.reply)).unzip();
        match self.commit(&requests).await {
            Ok((results, head)) => {
                if let Some(head) = head {
                    self.hub.publish(&self.organization, head);
                }
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(Ok(result));
                }
            }
            Err(e) => {
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }

    /// One transaction for the group; rolled back on any error. Returns each
    /// job's results and the new head when something was written.
    async fn commit(&mut self, jobs: &[Vec<AppendRequest>]) -> Result<Committed, EventLogError> {
        let client = self.pool.get().await.map_err(backend)?;
        let streams = streams_of(jobs.iter().flatten());
        let started = std::time::Instant::now();
        let result = match self.at_once(&client, jobs, &streams).await {
            Ok(Some(committed)) => Ok(committed),
            Ok(None) => self.transaction(&client, jobs, &streams).await,
            Err(e) => Err(e),
        };
        poolkeeper_eventlog::observe::commit_took("postgres", started.elapsed());
        if result.is_err() {
            self.known = None;
            let _ = client.batch_execute("ROLLBACK").await;
        }
        result
    }

    /// The full path: three round trips, reading the head, the streams' versions and
    /// the stored outcomes under the head row's lock.
    async fn transaction(
        &mut self,
        client: &Object,
        jobs: &[Vec<AppendRequest>],
        streams: &[&str],
    ) -> Result<Committed, EventLogError> {
        let mut plan = self.load(client, jobs).await?;
        let results = apply_all(&mut plan, jobs);
        if plan.is_empty() {
            client.batch_execute("ROLLBACK").await.map_err(backend)?;
            return Ok((results, None));
        }
        self.write(client, &plan).await?;
        client.batch_execute("COMMIT").await.map_err(backend)?;
        let known = self
            .known
            .get_or_insert_with(|| KnownHead::new(plan.head, plan.last_hash));
        known.committed(plan.head, plan.last_hash, streams, plan.versions());
        Ok((results, Some(plan.head)))
    }

    /// The known-head path: one round trip, or `None` (nothing written) when the
    /// group needs the full path: a stream not known, a version conflict (a retry
    /// may be behind it), nothing to write, or a command id already stored.
    async fn at_once(
        &mut self,
        client: &Object,
        jobs: &[Vec<AppendRequest>],
        streams: &[&str],
    ) -> Result<Option<Committed>, EventLogError> {
        let Some(known) = &self.known else {
            return Ok(None);
        };
        let Some(versions) = known.versions(streams) else {
            return Ok(None);
        };
        let mut plan = Plan::new(known.head, known.last_hash, versions, HashMap::new());
        let old_head = known.head;
        let results = apply_all(&mut plan, jobs);
        if plan.is_empty() || results.iter().flatten().any(Result::is_err) {
            return Ok(None);
        }
        if !self.write_at_once(client, &plan, old_head).await? {
            client.batch_execute("ROLLBACK").await.map_err(backend)?;
            return Ok(None);
        }
        if let Some(known) = &mut self.known {
            known.committed(plan.head, plan.last_hash, streams, plan.versions());
        }
        Ok(Some((results, Some(plan.head))))
    }

    /// Round trip 1: begins, locks the head row under our epoch and reads the
    /// streams' versions and the stored command outcomes.
    async fn load<'a>(
        &self,
        client: &Object,
        jobs: &'a [Vec<AppendRequest>],
    ) -> Result<Plan<'a>, EventLogError> {
        let requests = || jobs.iter().flatten();
        let streams = streams_of(requests());
        let command_ids: Vec<Uuid> = requests().map(|r| r.command_id).collect();
        let (lock, versions, commands) = futures::try_join!(
            client.prepare_cached(LOCK_HEAD),
            client.prepare_cached(STREAM_VERSIONS),
            client.prepare_cached(STORED_COMMANDS),
        )
        .map_err(backend)?;
        let organization: &str = &self.organization;
        let epoch = sql_int(self.epoch);
        let lock_params: [&Param<'_>; 2] = [&organization, &epoch];
        let version_params: [&Param<'_>; 2] = [&organization, &streams];
        let command_params: [&Param<'_>; 2] = [&organization, &command_ids];
        let (_, head, versions, commands) = futures::try_join!(
            client.batch_execute("BEGIN"),
            client.query_opt(&lock, &lock_params),
            client.query(&versions, &version_params),
            client.query(&commands, &command_params),
        )
        .map_err(backend)?;
        let head = head.ok_or_else(|| self.fenced())?;
        let last_hash = <[u8; 32]>::try_from(head.get::<_, &[u8]>(1))
            .map_err(|_| crate::rows::corrupt(0, "the head's hash is not 32 bytes"))?;
        let versions = stream_versions(&streams, &versions)?;
        let outcomes = self.stored_outcomes(client, &commands).await?;
        Ok(Plan::new(
            unsigned(head.get(0), 0)?,
            last_hash,
            versions,
            outcomes,
        ))
    }

    /// The outcomes of the group's command ids that are already stored.
    async fn stored_outcomes(
        &self,
        client: &Object,
        rows: &[tokio_postgres::Row],
    ) -> Result<HashMap<Uuid, AppendOutcome>, EventLogError> {
        let mut outcomes = HashMap::with_capacity(rows.len());
        for row in rows {
            let outcome =
                outcome_of_range(client, &self.organization, row.get(1), row.get(2)).await?;
            outcomes.insert(row.get(0), outcome);
        }
        Ok(outcomes)
    }

    /// Round trip 2: the rows, the fenced head update and the notification.
    async fn write(&self, client: &Object, plan: &Plan<'_>) -> Result<(), EventLogError> {
        let (insert_events, insert_commands, update_head, notify) = futures::try_join!(
            client.prepare_cached(INSERT_EVENTS),
            client.prepare_cached(INSERT_COMMANDS),
            client.prepare_cached(UPDATE_HEAD),
            client.prepare_cached(NOTIFY),
        )
        .map_err(backend)?;
        let organization: &str = &self.organization;
        let epoch = sql_int(self.epoch);
        let first = plan.events.positions.first().copied().unwrap_or(1);
        let (new_head, old_head) = (sql_int(plan.head), first - 1);
        let message = format!("{} {organization}", plan.head);
        let last_hash = &plan.last_hash[..];
        let event_params = event_params(&organization, &epoch, &plan.events);
        let command_params = command_params(&organization, &plan.commands);
        let head_params: [&Param<'_>; 5] =
            [&organization, &epoch, &new_head, &last_hash, &old_head];
        let notify_params: [&Param<'_>; 2] = [&CHANNEL, &message];
        let (_, _, updated, _) = futures::try_join!(
            client.execute(&insert_events, &event_params),
            client.execute(&insert_commands, &command_params),
            client.execute(&update_head, &head_params),
            client.execute(&notify, &notify_params),
        )
        .map_err(backend)?;
        if updated == 1 {
            Ok(())
        } else {
            Err(self.fenced())
        }
    }

    /// The known-head path's round trip. `Ok(false)`: a command id of the group is
    /// already stored, nothing was written.
    async fn write_at_once(
        &self,
        client: &Object,
        plan: &Plan<'_>,
        old_head: u64,
    ) -> Result<bool, EventLogError> {
        let (advance, insert_events, insert_commands, notify) = futures::try_join!(
            client.prepare_cached(ADVANCE_HEAD),
            client.prepare_cached(INSERT_EVENTS),
            client.prepare_cached(INSERT_COMMANDS),
            client.prepare_cached(NOTIFY),
        )
        .map_err(backend)?;
        let organization: &str = &self.organization;
        let epoch = sql_int(self.epoch);
        let (old_head, new_head) = (sql_int(old_head), sql_int(plan.head));
        let last_hash = &plan.last_hash[..];
        let advance_params: [&Param<'_>; 5] =
            [&organization, &epoch, &old_head, &new_head, &last_hash];
        let events = event_params(&organization, &epoch, &plan.events);
        let commands = command_params(&organization, &plan.commands);
        let message = format!("{} {organization}", plan.head);
        let notify_params: [&Param<'_>; 2] = [&CHANNEL, &message];
        // Every statement is sent before any reply is read; `join!` (not `try_join!`)
        // reads every reply, so the connection is idle when this returns.
        let (begin, advanced, commands, events, notified, commit) = futures::join!(
            client.batch_execute("BEGIN"),
            client.execute(&advance, &advance_params),
            client.execute(&insert_commands, &commands),
            client.execute(&insert_events, &events),
            client.execute(&notify, &notify_params),
            client.batch_execute("COMMIT"),
        );
        begin.map_err(backend)?;
        advanced.map_err(|e| self.fenced_or(e))?;
        match commands {
            Err(e) if is_stored_command(&e) => return Ok(false),
            other => other.map_err(backend)?,
        };
        events.map_err(backend)?;
        notified.map_err(backend)?;
        commit.map_err(backend)?;
        Ok(true)
    }

    /// [`Fenced`](EventLogError::Fenced) when `poolkeeper_advance_head` refused.
    fn fenced_or(&self, error: tokio_postgres::Error) -> EventLogError {
        match error.code() {
            Some(code) if code.code() == FENCED => self.fenced(),
            _ => backend(error),
        }
    }

    fn fenced(&self) -> EventLogError {
        EventLogError::Fenced {
            organization: self.organization.to_string(),
            epoch: self.epoch,
        }
    }
}

/// The stored versions of the group's streams, keyed by the requests' own strings.
fn stream_versions<'a>(
    streams: &[&'a str],
    rows: &[tokio_postgres::Row],
) -> Result<HashMap<&'a str, StreamVersion>, EventLogError> {
    let mut versions = HashMap::with_capacity(rows.len());
    for row in rows {
        let stream: &str = row.get(0);
        let version: Option<i64> = row.get(1);
        if let (Ok(i), Some(version)) = (streams.binary_search(&stream), version) {
            versions.insert(streams[i], unsigned(version, 0)?);
        }
    }
    Ok(versions)
}

/// Plans every request of every job, in order.
fn apply_all<'a>(plan: &mut Plan<'a>, jobs: &'a [Vec<AppendRequest>]) -> Vec<JobResults> {
    jobs.iter()
        .map(|job| job.iter().map(|r| plan.apply(r)).collect())
        .collect()
}

/// A command id already in `commands` (a retry the known-head path cannot answer).
fn is_stored_command(error: &tokio_postgres::Error) -> bool {
    error.as_db_error().is_some_and(|db| {
        *db.code() == tokio_postgres::error::SqlState::UNIQUE_VIOLATION
            && db.constraint() == Some("commands_pkey")
    })
}

/// `INSERT_EVENTS`' parameters.
fn event_params<'p>(
    organization: &'p &str,
    epoch: &'p i64,
    e: &'p EventRows<'_>,
) -> [&'p Param<'p>; 15] {
    [
        organization,
        epoch,
        &e.positions,
        &e.stream_ids,
        &e.versions,
        &e.event_ids,
        &e.event_types,
        &e.schema_versions,
        &e.payloads,
        &e.command_ids,
        &e.correlation_ids,
        &e.causation_ids,
        &e.actors,
        &e.recorded_at,
        &e.hashes,
    ]
}

/// `INSERT_COMMANDS`' parameters.
fn command_params<'p>(organization: &'p &str, c: &'p CommandRows) -> [&'p Param<'p>; 4] {
    [
        organization,
        &c.command_ids,
        &c.first_positions,
        &c.last_positions,
    ]
}
