//! The writer lease of an organization's log: [`Lease`] and [`WriterLease`].
//!
//! The lease lives in the organization's `log_heads` row (`epoch`, `holder`,
//! `lease_expires_at`). Acquiring it increments `epoch`; every append
//! transaction updates the head only `WHERE epoch = <the writer's epoch>`, so
//! a writer that lost the lease is fenced by the database, whatever the clocks
//! say. The expiry time only decides when another node may take over
//! (liveness); it never decides whether an append is safe.

use std::time::Duration;

use deadpool_postgres::Pool;
use poolkeeper_eventlog::EventLogError;
use poolkeeper_eventlog::hash::GENESIS_HASH;

use crate::rows::{backend, sql_int};

/// What a store appends under: an organization, the lease's holder and the
/// epoch it was granted. Obtained from [`Lease::writer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterLease {
    /// The organization whose log the lease covers.
    pub organization: String,
    /// Who holds it (a node id).
    pub holder: String,
    /// The epoch granted by [`Lease::acquire`]; appends are fenced once it is stale.
    pub epoch: u64,
}

/// A held writer lease of one organization's log. Renew it well before its
/// time to live runs out ([`renew`](Self::renew)); release it when stepping
/// down. Dropping it without releasing leaves it to expire.
#[derive(Debug)]
pub struct Lease {
    pool: Pool,
    writer: WriterLease,
    ttl: Duration,
}

const ACQUIRE: &str = "UPDATE log_heads SET epoch = epoch + 1, holder = $2, \
     lease_expires_at = now() + $3::float8 * interval '1 second' \
     WHERE organization = $1 AND (lease_expires_at < now() OR holder IS NULL OR holder = $2) \
     RETURNING epoch";

impl Lease {
    /// Takes the lease of `organization` for `holder` when it is free, expired
    /// or already `holder`'s, incrementing the epoch (which fences every store
    /// opened under an earlier one, the holder's own included). `None`: another
    /// holder's lease is still running.
    pub async fn acquire(
        pool: &Pool,
        organization: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, EventLogError> {
        crate::check_organization(organization)?;
        let client = pool.get().await.map_err(backend)?;
        client
            .execute(
                "INSERT INTO log_heads (organization, last_hash) VALUES ($1, $2) \
                 ON CONFLICT (organization) DO NOTHING",
                &[&organization, &&GENESIS_HASH[..]],
            )
            .await
            .map_err(backend)?;
        let row = client
            .query_opt(ACQUIRE, &[&organization, &holder, &ttl.as_secs_f64()])
            .await
            .map_err(backend)?;
        Ok(row.map(|row| Lease {
            pool: pool.clone(),
            writer: WriterLease {
                organization: organization.to_owned(),
                holder: holder.to_owned(),
                epoch: u64::try_from(row.get::<_, i64>(0)).unwrap_or(0),
            },
            ttl,
        }))
    }

    /// What a store appends under: pass it to
    /// [`PostgresLogs::open_log`](crate::PostgresLogs::open_log).
    pub fn writer(&self) -> WriterLease {
        self.writer.clone()
    }

    /// The epoch this lease was granted.
    pub fn epoch(&self) -> u64 {
        self.writer.epoch
    }

    /// Extends the lease by its time to live from now. Fails with
    /// [`Fenced`](EventLogError::Fenced) when another holder took it over.
    pub async fn renew(&self) -> Result<(), EventLogError> {
        let client = self.pool.get().await.map_err(backend)?;
        let renewed = client
            .execute(
                "UPDATE log_heads SET lease_expires_at = now() + $4::float8 * interval '1 second' \
                 WHERE organization = $1 AND epoch = $2 AND holder = $3",
                &[
                    &self.writer.organization,
                    &sql_int(self.writer.epoch),
                    &self.writer.holder,
                    &self.ttl.as_secs_f64(),
                ],
            )
            .await
            .map_err(backend)?;
        self.held(renewed)
    }

    /// Gives the lease up at once, so another holder may acquire it without
    /// waiting for the expiry. Fails with [`Fenced`](EventLogError::Fenced)
    /// when it had already been taken over.
    pub async fn release(self) -> Result<(), EventLogError> {
        let client = self.pool.get().await.map_err(backend)?;
        let released = client
            .execute(
                "UPDATE log_heads SET holder = NULL, lease_expires_at = '-infinity' \
                 WHERE organization = $1 AND epoch = $2 AND holder = $3",
                &[
                    &self.writer.organization,
                    &sql_int(self.writer.epoch),
                    &self.writer.holder,
                ],
            )
            .await
            .map_err(backend)?;
        self.held(released)
    }

    fn held(&self, rows: u64) -> Result<(), EventLogError> {
        if rows == 1 {
            Ok(())
        } else {
            Err(EventLogError::Fenced {
                organization: self.writer.organization.clone(),
                epoch: self.writer.epoch,
            })
        }
    }
}
