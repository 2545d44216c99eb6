//! `poolkeeper history`, `verify` and `export`: what an auditor asks of one
//! organization's log, from a running server or the data directory.

use super::*;

pub(super) async fn history(
    target: Target,
    customer: String,
    as_of: Option<DateTime<Utc>>,
) -> Result<(), Failure> {
    let customer_id = crate::convert::customer("customer", &customer)
        .map_err(|status| status.message().to_owned())?;
    let intervals = if let Some(server) = &target.server {
        let credentials = target.credentials()?.acting_as("system")?;
        let mut queries = QueryServiceClient::new(credentials.on(client::connect(server).await?));
        let history = queries
            .get_ownership_history(pb::GetOwnershipHistoryRequest {
                customer: format!("customers/{customer_id}"),
                as_of: as_of.map(crate::convert::timestamp),
                ..Default::default()
            })
            .await?
            .into_inner();
        if let Some(owner) = history.owner_as_of {
            println!(
                "owner as of {}: {}",
                as_of.map(|t| t.to_rfc3339()).unwrap_or_default(),
                owner.owner
            );
        } else if as_of.is_some() {
            println!(
                "not owned as of {}",
                as_of.map(|t| t.to_rfc3339()).unwrap_or_default()
            );
        }
        history
            .intervals
            .into_iter()
            .map(|i| {
                let start = i.start_time.map(|t| t.seconds).unwrap_or_default();
                let end = i.end_time.map(|t| t.seconds);
                (
                    i.owner,
                    start,
                    i.began_by,
                    end,
                    i.ended_by,
                    i.end_reason,
                    i.end_actor,
                )
            })
            .collect::<Vec<_>>()
    } else {
        let data = DataDir::new(&target.data_dir);
        let _lock = lock_local(&data)?;
        let projections = Projections::open(
            &data
                .layout()
                .organization_projections(&target.organization()?),
        )?;
        let reader = projections.history();
        if let Some(at) = as_of {
            match reader
                .owner_at(customer_id, poolkeeper_projections::AsOf::Instant(at))
                .await?
            {
                Some(period) => println!(
                    "owner as of {}: users/{}",
                    at.to_rfc3339(),
                    period.user.map(|u| u.to_string()).unwrap_or_default()
                ),
                None => println!("not owned as of {}", at.to_rfc3339()),
            }
        }
        reader
            .ownership(customer_id)
            .await?
            .into_iter()
            .map(|p| {
                (
                    p.user.map(|u| format!("users/{u}")).unwrap_or_default(),
                    p.from.at.timestamp(),
                    p.began.as_str().to_owned(),
                    p.to.map(|m| m.at.timestamp()),
                    p.ended.map(|c| c.as_str().to_owned()).unwrap_or_default(),
                    p.end_reason.unwrap_or_default(),
                    p.ended_by.map(|a| a.to_string()).unwrap_or_default(),
                )
            })
            .collect()
    };
    println!(
        "{:<44} {:<20} {:<14} {:<20} {:<14} reason / by",
        "owner", "from", "began", "to", "ended"
    );
    let show = |seconds: i64| {
        DateTime::from_timestamp(seconds, 0)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default()
    };
    for (owner, start, began, end, ended, reason, by) in intervals {
        println!(
            "{owner:<44} {:<20} {began:<14} {:<20} {ended:<14} {reason} {by}",
            show(start),
            end.map(show).unwrap_or_else(|| "(now)".into())
        );
    }
    Ok(())
}

pub(super) async fn verify(target: Target) -> Result<bool, Failure> {
    if let Some(server) = &target.server {
        let mut client = audit_client(&target, server).await?;
        let report = client
            .verify_log(pb::VerifyLogRequest {})
            .await?
            .into_inner();
        println!(
            "events checked: {}  tail: {}",
            report.events_checked, report.tail
        );
        if report.intact {
            println!("chain intact");
        } else {
            println!(
                "chain broken at position {}: {}",
                report.first_broken_position, report.reason
            );
        }
        return Ok(report.intact);
    }
    let (_lock, store) = open_local(&target)?;
    let report = store.verify().await?;
    println!(
        "events checked: {}  tail: {}",
        report.events_checked, report.tail
    );
    match &report.first_break {
        None => println!("chain intact"),
        Some(chain_break) => println!(
            "chain broken at position {}: {:?}",
            chain_break.position, chain_break.reason
        ),
    }
    store.close().await?;
    Ok(report.first_break.is_none())
}

pub(super) async fn export(target: Target, output: Option<PathBuf>) -> Result<(), Failure> {
    let mut out: Box<dyn Write + Send> = match &output {
        Some(path) => Box::new(std::io::BufWriter::new(std::fs::File::create(path)?)),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    if let Some(server) = &target.server {
        let mut client = audit_client(&target, server).await?;
        let mut chunks = client
            .export_log(pb::ExportLogRequest {
                from_position: 1,
                ..Default::default()
            })
            .await?
            .into_inner();
        while let Some(chunk) = chunks.message().await? {
            out.write_all(&chunk.jsonl)?;
        }
        out.flush()?;
        return Ok(());
    }
    let (_lock, store) = open_local(&target)?;
    let (summary, mut out) = store.export_jsonl(out).await?;
    out.flush()?;
    eprintln!("exported {} events, tail {}", summary.events, summary.tail);
    store.close().await?;
    Ok(())
}
