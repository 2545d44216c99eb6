//! Raw PostgreSQL baselines, measured in the same run as the log: what the database
//! itself does with rows shaped like the log's, with none of the log's work (no lease,
//! no head row, no hash chain, no expected versions, no command ids).
//!
//! - `raw_insert_{n}`: `n` connections, each committing one prepared `INSERT` per
//!   transaction (the cost of a durable commit per row);
//! - `raw_copy_100`: one connection, `COPY … FROM STDIN` of 100 rows per transaction
//!   (what one writer's group commits could reach at best).

use std::io::Cursor;
use std::time::Instant;

use deadpool_postgres::Pool;
use futures::SinkExt;
use uuid::Uuid;

const TABLE: &str = "CREATE TABLE IF NOT EXISTS raw_events (
    organization   text NOT NULL,
    position       bigint NOT NULL,
    stream_id      text NOT NULL,
    stream_version bigint NOT NULL,
    event_id       uuid NOT NULL,
    event_type     text NOT NULL,
    payload        text NOT NULL,
    command_id     uuid NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    hash           bytea NOT NULL,
    PRIMARY KEY (organization, position),
    UNIQUE (organization, stream_id, stream_version))";

const INSERT: &str = "INSERT INTO raw_events (organization, position, stream_id, \
     stream_version, event_id, event_type, payload, command_id, hash) \
     VALUES ($1, $2, $3, $4, $5, 'customer.claimed', $6, $7, $8)";

const COPY: &str = "COPY raw_events (organization, position, stream_id, stream_version, \
     event_id, event_type, payload, command_id, hash) FROM STDIN";

fn payload(n: u64) -> String {
    format!("{{\"customer\":{n},\"by\":\"user-raw\",\"pool\":\"p\"}}")
}

/// `clients` connections committing one prepared INSERT per transaction, `per_client`
/// rows each; rows per second.
pub async fn insert_per_transaction(pool: &Pool, clients: usize, per_client: u64) -> f64 {
    let organization = format!("raw-insert-{clients}-{}", Uuid::now_v7().simple());
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let pool = pool.clone();
            let organization = organization.clone();
            tokio::spawn(async move {
                let mut db = pool.get().await.expect("a connection");
                let insert = db.prepare_cached(INSERT).await.expect("prepared");
                for n in 0..per_client {
                    let position = (client as i64) << 32 | n as i64;
                    let stream = format!("customer-{client}-{n}");
                    let tx = db.transaction().await.expect("begin");
                    tx.execute(
                        &insert,
                        &[
                            &organization,
                            &position,
                            &stream,
                            &1i64,
                            &Uuid::now_v7(),
                            &payload(n),
                            &Uuid::now_v7(),
                            &vec![0u8; 32],
                        ],
                    )
                    .await
                    .expect("an insert");
                    tx.commit().await.expect("commit");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a client panicked");
    }
    (clients as u64 * per_client) as f64 / started.elapsed().as_secs_f64()
}

/// One connection copying `batches` transactions of 100 rows each; rows per second.
pub async fn copy_batches(pool: &Pool, batches: u64) -> f64 {
    let organization = format!("raw-copy-{}", Uuid::now_v7().simple());
    let mut db = pool.get().await.expect("a connection");
    let started = Instant::now();
    for batch in 0..batches {
        let mut rows = String::with_capacity(100 * 200);
        for n in batch * 100..(batch + 1) * 100 {
            rows.push_str(&format!(
                "{organization}\t{n}\tcustomer-{n}\t1\t{}\tcustomer.claimed\t{}\t{}\t\\\\x{}\n",
                Uuid::now_v7(),
                payload(n),
                Uuid::now_v7(),
                "00".repeat(32)
            ));
        }
        let tx = db.transaction().await.expect("begin");
        let sink = tx.copy_in::<_, Cursor<Vec<u8>>>(COPY).await.expect("copy");
        futures::pin_mut!(sink);
        sink.send(Cursor::new(rows.into_bytes()))
            .await
            .expect("rows sent");
        sink.finish().await.expect("copy finished");
        tx.commit().await.expect("commit");
    }
    (batches * 100) as f64 / started.elapsed().as_secs_f64()
}

/// Creates the baselines' table (a twin of `events`, without the log's other tables).
pub async fn prepare(pool: &Pool) {
    let db = pool.get().await.expect("a connection");
    db.batch_execute(TABLE).await.expect("the raw table");
}
