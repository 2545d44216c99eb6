//! `poolkeeper status`: every organization's log position and projections' lag, from
//! a running server or the data directory.

use super::*;

pub(super) async fn status(target: Target) -> Result<(), Failure> {
    if let Some(store) = &target.store {
        return super::cluster::status_cluster(&target, store).await;
    }
    println!(
        "{:<24} {:<18} {:>12} {:>12} {:>10} {:>10}  state",
        "organization", "projection", "checkpoint", "tail", "lag", "lag_s"
    );
    match &target.server {
        Some(server) => status_remote(&target, server).await,
        None => status_local(&target).await,
    }
}

pub(super) async fn status_remote(target: &Target, server: &str) -> Result<(), Failure> {
    for organization in organizations_to_report(target, server).await? {
        let credentials = credentials(target.token.as_deref())?.in_organization(&organization)?;
        let list = admin_client(server, &credentials)
            .await?
            .get_projection_status(pb::GetProjectionStatusRequest {})
            .await?
            .into_inner();
        for p in list.projections {
            let state = if !p.error.is_empty() {
                p.error
            } else if p.rebuilding {
                "rebuilding".into()
            } else {
                "ok".into()
            };
            println!(
                "{organization:<24} {:<18} {:>12} {:>12} {:>10} {:>10.1}  {state}",
                p.projection, p.checkpoint, p.tail, p.lag_positions, p.lag_seconds
            );
        }
    }
    Ok(())
}

pub(super) async fn status_local(target: &Target) -> Result<(), Failure> {
    let data = DataDir::new(&target.data_dir);
    let _lock = lock_local(&data)?;
    let organizations = match &target.organization {
        Some(_) => vec![target.organization()?],
        None => local_organizations(&data)?,
    };
    for organization in organizations {
        let store = open_local_log(&data, &organization)?;
        let tail = store.tail().await?;
        let projections =
            Projections::open(&data.layout().organization_projections(&organization))?;
        for p in projections.status() {
            let lag = tail.saturating_sub(p.checkpoint);
            let state = p.error.unwrap_or_else(|| "ok".into());
            println!(
                "{:<24} {:<18} {:>12} {:>12} {:>10} {:>10}  {state}",
                organization.as_str(),
                p.name.as_str(),
                p.checkpoint,
                tail,
                lag,
                "-"
            );
        }
        store.close().await?;
    }
    Ok(())
}
