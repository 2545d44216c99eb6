//! `poolkeeper status --store postgres://…`: the nodes sharing the database (address,
//! last heartbeat), each organization's writer (holder node, epoch, head position, lease
//! left) and, with `--token`, each node's projections' lag behind that head.

use super::*;
use poolkeeper_eventlog_postgres::PostgresLogs;

/// One organization's log head and writer lease.
struct Head {
    organization: String,
    holder: Option<String>,
    epoch: i64,
    head: i64,
    lease_left: f64,
}

pub(super) async fn status_cluster(target: &Target, store: &str) -> Result<(), Failure> {
    let logs = PostgresLogs::connect(store, 2).await?;
    let client = logs.pool().get().await?;
    let nodes = client
        .query(
            "SELECT id, address, extract(epoch FROM now() - heartbeat_at)::float8 \
             FROM poolkeeper_nodes ORDER BY id",
            &[],
        )
        .await?;
    println!("{:<40} {:<32} {:>14}", "node", "address", "heartbeat_ago_s");
    let mut addresses = Vec::new();
    for row in &nodes {
        let (id, address, ago): (String, String, f64) = (row.get(0), row.get(1), row.get(2));
        println!("{id:<40} {address:<32} {ago:>14.1}");
        addresses.push((id, address));
    }
    let heads: Vec<Head> = client
        .query(
            "SELECT organization, holder, epoch, head, \
             extract(epoch FROM lease_expires_at - now())::float8 \
             FROM log_heads WHERE organization NOT LIKE '-%' ORDER BY organization",
            &[],
        )
        .await?
        .iter()
        .map(|row| Head {
            organization: row.get(0),
            holder: row.get(1),
            epoch: row.get(2),
            head: row.get(3),
            lease_left: row.get::<_, Option<f64>>(4).unwrap_or(0.0),
        })
        .collect();
    println!();
    println!(
        "{:<24} {:<40} {:>6} {:>10} {:>12}",
        "organization", "holder", "epoch", "head", "lease_left_s"
    );
    for head in &heads {
        let holder = head.holder.as_deref().unwrap_or("-");
        let left = head.lease_left.max(0.0);
        println!(
            "{:<24} {holder:<40} {:>6} {:>10} {left:>12.1}",
            head.organization, head.epoch, head.head
        );
    }
    if target.token.is_some() {
        println!();
        println!("{:<24} {:<40} {:>10}", "organization", "node", "lag");
        for head in &heads {
            for (node, address) in &addresses {
                let lag = node_lag(target, address, &head.organization).await;
                let lag = lag.map_or_else(|error| format!("({error})"), |lag| lag.to_string());
                println!("{:<24} {node:<40} {lag:>10}", head.organization);
            }
        }
    }
    Ok(())
}

/// How far the node at `address`'s projections of `organization` are behind its log.
async fn node_lag(target: &Target, address: &str, organization: &str) -> Result<u64, Failure> {
    let credentials = credentials(target.token.as_deref())?.in_organization(organization)?;
    let list = admin_client(address, &credentials)
        .await?
        .get_projection_status(pb::GetProjectionStatusRequest {})
        .await?
        .into_inner();
    Ok(list
        .projections
        .iter()
        .map(|p| p.lag_positions)
        .max()
        .unwrap_or(0))
}
