//! `poolkeeper rebuild`: projections rebuilt from the log, online on a running server
//! or offline on the data directory, with a progress bar.

use super::*;

pub(super) fn progress_bar(total: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg:>18} [{bar:40}] {pos}/{len} events, {per_sec}, eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar
}

pub(super) fn projection_names(projection: Option<&str>) -> Result<Vec<ProjectionName>, Failure> {
    match projection {
        None => Ok(ProjectionName::ALL.to_vec()),
        Some(name) => Ok(vec![ProjectionName::parse(name).ok_or_else(|| {
            format!("unknown projection {name:?}: pool_view, owner_view, abandon_audit, ownership_history or statistics")
        })?]),
    }
}

pub(super) async fn rebuild(
    target: Target,
    projection: Option<String>,
    online: bool,
) -> Result<(), Failure> {
    let names = projection_names(projection.as_deref())?;
    if online {
        let server = target
            .server
            .as_deref()
            .ok_or("--online rebuilds on a running server: pass --server")?;
        let mut admin = admin_client(server, &target.credentials()?).await?;
        let mut stream = admin
            .rebuild_projection(pb::RebuildProjectionRequest {
                projection: projection.unwrap_or_default(),
            })
            .await?
            .into_inner();
        let bar = progress_bar(0);
        while let Some(progress) = stream.message().await? {
            bar.set_length(progress.events_total);
            bar.set_position(progress.events_done);
            bar.set_message(format!("{} {}", progress.projection, progress.phase));
            if !progress.error.is_empty() {
                bar.abandon();
                return Err(format!(
                    "rebuilding {} failed: {}",
                    progress.projection, progress.error
                )
                .into());
            }
            if progress.done {
                bar.suspend(|| {
                    println!(
                        "{} rebuilt to position {} and swapped in",
                        progress.projection, progress.events_done
                    )
                });
            }
        }
        bar.finish();
        return Ok(());
    }
    if target.server.is_some() {
        return Err("an offline rebuild works on the data directory of a stopped server; use --online with --server".into());
    }
    let data = DataDir::new(&target.data_dir);
    let _lock = lock_local(&data)?;
    let organization = target.organization()?;
    let store = open_local_opened(&data, &organization, target.master_key_file.as_deref())?;
    let bar = progress_bar(store.tail().await?);
    let done = Projections::rebuild_offline(
        &data.layout().organization_projections(&organization),
        &names,
        store.clone(),
        |progress| {
            bar.set_length(progress.events_total);
            bar.set_position(progress.events_done);
            bar.set_message(format!("{:?}", progress.phase).to_lowercase());
        },
    )
    .await?;
    bar.finish();
    for (name, position) in done {
        println!("{} rebuilt to position {position}", name.as_str());
    }
    store.close().await?;
    Ok(())
}
