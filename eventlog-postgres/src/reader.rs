//! Reads of one organization's log through the pool: by position, stream and
//! type, the tail, stream versions, command outcomes and `verify`. Every read
//! is one statement over committed rows; since the writer commits in position
//! order under the head row's lock, a read never sees a gap.

use std::sync::Arc;

use deadpool_postgres::{Object, Pool};
use poolkeeper_eventlog::hash::{CanonicalEvent, GENESIS_HASH, chain_hash};
use poolkeeper_eventlog::{
    AppendOutcome, BreakReason, ChainBreak, EventLogError, Position, RecordedEvent, StreamId,
    StreamVersion, Upcasters, VerifyReport,
};
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use crate::rows::{EVENT_COLUMNS, backend, decode_event, sql_int, sql_limit, unsigned};

/// The read side of one organization's log. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Reader {
    pool: Pool,
    organization: Arc<str>,
    upcasters: Arc<Upcasters>,
    page_size: usize,
}

impl Reader {
    pub(crate) fn new(
        pool: Pool,
        organization: Arc<str>,
        upcasters: Upcasters,
        page_size: usize,
    ) -> Self {
        Self {
            pool,
            organization,
            upcasters: Arc::new(upcasters),
            page_size: page_size.max(1),
        }
    }

    /// Events per page of paged reads.
    pub(crate) fn page_size(&self) -> usize {
        self.page_size
    }

    async fn client(&self) -> Result<Object, EventLogError> {
        self.pool.get().await.map_err(backend)
    }

    /// Runs an event query (`$1` is the organization) and decodes its rows.
    async fn events(
        &self,
        filter: &str,
        params: &[&(dyn ToSql + Sync)],
        upcast: bool,
    ) -> Result<Vec<RecordedEvent>, EventLogError> {
        let sql =
            format!("SELECT {EVENT_COLUMNS} FROM events WHERE organization = $1 AND {filter}");
        let client = self.client().await?;
        let statement = client.prepare_cached(&sql).await.map_err(backend)?;
        let organization: &str = &self.organization;
        let mut all: Vec<&(dyn ToSql + Sync)> = vec![&organization];
        all.extend_from_slice(params);
        let rows = client.query(&statement, &all).await.map_err(backend)?;
        rows.iter()
            .map(|row| {
                let mut event = decode_event(row)?;
                if upcast {
                    self.upcasters.apply(&mut event)?;
                }
                Ok(event)
            })
            .collect()
    }

    /// Up to `max` events from `from`, upcast (`upcast`) or as stored.
    pub(crate) async fn read_all(
        &self,
        from: Position,
        max: usize,
        upcast: bool,
    ) -> Result<Vec<RecordedEvent>, EventLogError> {
        let (from, max) = (sql_int(from), sql_limit(max));
        self.events(
            "position >= $2 ORDER BY position LIMIT $3",
            &[&from, &max],
            upcast,
        )
        .await
    }

    pub(crate) async fn read_stream(
        &self,
        stream: &StreamId,
        from: StreamVersion,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, EventLogError> {
        let (from, max) = (sql_int(from), sql_limit(max));
        self.events(
            "stream_id = $2 AND stream_version >= $3 ORDER BY stream_version LIMIT $4",
            &[&stream.as_str(), &from, &max],
            true,
        )
        .await
    }

    pub(crate) async fn read_by_type(
        &self,
        event_type: &str,
        from: Position,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, EventLogError> {
        let (from, max) = (sql_int(from), sql_limit(max));
        self.events(
            "event_type = $2 AND position >= $3 ORDER BY position LIMIT $4",
            &[&event_type, &from, &max],
            true,
        )
        .await
    }

    /// The committed head (0 for an organization without a log yet).
    pub(crate) async fn tail(&self) -> Result<Position, EventLogError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT head FROM log_heads WHERE organization = $1",
                &[&&*self.organization],
            )
            .await
            .map_err(backend)?;
        row.map_or(Ok(0), |r| unsigned(r.get(0), 0))
    }

    pub(crate) async fn stream_version(
        &self,
        stream: &StreamId,
    ) -> Result<Option<StreamVersion>, EventLogError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT max(stream_version) FROM events WHERE organization = $1 AND stream_id = $2",
                &[&&*self.organization, &stream.as_str()],
            )
            .await
            .map_err(backend)?;
        row.get::<_, Option<i64>>(0)
            .map(|v| unsigned(v, 0))
            .transpose()
    }

    pub(crate) async fn command_outcome(
        &self,
        command_id: Uuid,
    ) -> Result<Option<AppendOutcome>, EventLogError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT first_position, last_position FROM commands \
                 WHERE organization = $1 AND command_id = $2",
                &[&&*self.organization, &command_id],
            )
            .await
            .map_err(backend)?;
        match row {
            None => Ok(None),
            Some(row) => outcome_of_range(&client, &self.organization, row.get(0), row.get(1))
                .await
                .map(Some),
        }
    }

    /// Re-walks the chain in one repeatable-read snapshot, page by page.
    pub(crate) async fn verify(&self) -> Result<VerifyReport, EventLogError> {
        let mut client = self.client().await?;
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(backend)?;
        let mut walk = ChainWalk::default();
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE organization = $1 AND position >= $2 \
             ORDER BY position LIMIT $3"
        );
        let statement = tx.prepare(&sql).await.map_err(backend)?;
        let limit = sql_limit(self.page_size.max(512));
        while walk.first_break.is_none() {
            let from = sql_int(walk.expected);
            let rows = tx
                .query(&statement, &[&&*self.organization, &from, &limit])
                .await
                .map_err(backend)?;
            for row in &rows {
                walk.check(row);
            }
            if (rows.len() as i64) < limit {
                break;
            }
        }
        let tail = self.stored_tail(&tx).await?;
        tx.commit().await.map_err(backend)?;
        Ok(walk.report(tail))
    }

    /// The last stored position and hash, as `verify` reports them.
    async fn stored_tail(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
    ) -> Result<(Position, [u8; 32]), EventLogError> {
        let row = tx
            .query_opt(
                "SELECT position, hash FROM events WHERE organization = $1 \
                 ORDER BY position DESC LIMIT 1",
                &[&&*self.organization],
            )
            .await
            .map_err(backend)?;
        let Some(row) = row else {
            return Ok((0, GENESIS_HASH));
        };
        let position = unsigned(row.get(0), 0)?;
        let hash: &[u8] = row.get(1);
        let hash = <[u8; 32]>::try_from(hash)
            .map_err(|_| crate::rows::corrupt(position, "hash is not 32 bytes"))?;
        Ok((position, hash))
    }
}

/// The state of a chain being re-walked.
struct ChainWalk {
    prev: [u8; 32],
    expected: Position,
    checked: u64,
    first_break: Option<ChainBreak>,
}

impl Default for ChainWalk {
    fn default() -> Self {
        Self {
            prev: GENESIS_HASH,
            expected: 1,
            checked: 0,
            first_break: None,
        }
    }
}

impl ChainWalk {
    fn check(&mut self, row: &tokio_postgres::Row) {
        if self.first_break.is_some() {
            return;
        }
        let position = row.get::<_, i64>(0);
        if position != sql_int(self.expected) {
            let next_stored = u64::try_from(position).unwrap_or(0);
            return self.broken(self.expected, BreakReason::Missing { next_stored });
        }
        self.checked += 1;
        match decode_event(row) {
            Ok(e) if chain_hash(&self.prev, &CanonicalEvent::from(&e)) == e.hash => {
                self.prev = e.hash;
                self.expected += 1;
            }
            Ok(_) => self.broken(self.expected, BreakReason::HashMismatch),
            Err(e) => self.broken(self.expected, BreakReason::Malformed(e.to_string())),
        }
    }

    fn broken(&mut self, position: Position, reason: BreakReason) {
        self.first_break = Some(ChainBreak { position, reason });
    }

    fn report(self, (tail, tail_hash): (Position, [u8; 32])) -> VerifyReport {
        VerifyReport {
            events_checked: self.checked,
            tail,
            tail_hash,
            first_break: self.first_break,
        }
    }
}

/// The outcome of a stored command, rebuilt from its position range: streams
/// in request order (the writer appends them in that order).
pub(crate) async fn outcome_of_range(
    client: &tokio_postgres::Client,
    organization: &str,
    first: i64,
    last: i64,
) -> Result<AppendOutcome, EventLogError> {
    let rows = client
        .query(
            "SELECT stream_id, max(stream_version) FROM events \
             WHERE organization = $1 AND position BETWEEN $2 AND $3 \
             GROUP BY stream_id ORDER BY min(position)",
            &[&organization, &first, &last],
        )
        .await
        .map_err(backend)?;
    let first = unsigned(first, 0)?;
    let stream_versions = rows
        .into_iter()
        .map(|row| {
            let stream = crate::plan::stream_id(row.get(0), first)?;
            Ok((stream, unsigned(row.get(1), first)?))
        })
        .collect::<Result<_, EventLogError>>()?;
    Ok(AppendOutcome {
        first_position: first,
        last_position: unsigned(last, first)?,
        stream_versions,
        duplicate: false,
    })
}
