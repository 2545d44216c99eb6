//! The auditor script in README.md, run for real with `python3` against an
//! export of a log (and against tampered copies of the export).

mod common;

use std::path::Path;
use std::process::Command;

use common::{event, request};
use poolkeeper_eventlog::{
    AppendRequest, EventLogConfig, EventStore, ExpectedVersion, SqliteEventStore, Upcasters,
};
use uuid::Uuid;

/// The first ```python block of README.md.
fn script_from_readme() -> String {
    let readme = include_str!("../README.md");
    let start = readme
        .find("```python\n")
        .expect("README has a python block")
        + 10;
    let end = start + readme[start..].find("```").expect("closed block");
    readme[start..end].to_owned()
}

fn python3_available() -> bool {
    Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs the script: (success, stdout + stderr).
fn audit(script: &Path, export: &Path) -> (bool, String) {
    let out = Command::new("python3")
        .arg(script)
        .arg(export)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// A log with varied content: unicode, escapes, several streams, causation ids,
/// a pre-1970 time, a payload with an upcaster (the export must stay raw).
async fn varied_log(store: &SqliteEventStore) {
    let payloads = [
        r#"{"name":"Zoë ☃ 漢字","note":"line\nbreak \"quoted\" \\ backslash"}"#,
        r#"[1, 2.5, -3e7, true, null]"#,
        r#"  {"spaced" : "kept byte for byte"}  "#,
        r#""\u00e9 escaped""#,
        "{\"emoji\":\"🦀\",\"tab\":\"\\t\"}",
    ];
    for (i, p) in payloads.iter().enumerate() {
        let mut req: AppendRequest = request(
            &format!("customer-{}", i % 2),
            ExpectedVersion::Any,
            vec![event("customer.claimed", p), event("customer.noted", "{}")],
        );
        if i % 2 == 0 {
            req.causation_id = Some(Uuid::now_v7());
        }
        if i == 3 {
            req.recorded_at = chrono::DateTime::from_timestamp_micros(-1_234_567).unwrap();
        }
        req.actor = format!("user:{}", Uuid::now_v7());
        store.append(req).await.unwrap();
    }
}

#[tokio::test]
async fn the_readme_auditor_script_verifies_a_real_export() {
    if !python3_available() {
        println!("NOTICE: python3 not found; skipping the auditor script test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = EventLogConfig {
        upcasters: Upcasters::new().with("customer.claimed", 1, |v| {
            Ok(serde_json::json!({ "v2": v }))
        }),
        ..EventLogConfig::default()
    };
    let store = SqliteEventStore::open(dir.path().join("log.db"), config).unwrap();
    varied_log(&store).await;
    let export_path = dir.path().join("export.jsonl");
    let file = std::io::BufWriter::new(std::fs::File::create(&export_path).unwrap());
    let (summary, file) = store.export_jsonl(file).await.unwrap();
    drop(file);
    let report = store.verify().await.unwrap();
    assert!(report.is_intact());
    assert_eq!(summary.events, 10);
    assert_eq!(
        (summary.tail, summary.tail_hash),
        (report.tail, report.tail_hash)
    );

    // The export holds stored values: raw payload text and stored schema version.
    let text = std::fs::read_to_string(&export_path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 10);
    let first: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(first["schema_version"], 1);
    assert_eq!(
        first["payload"],
        r#"{"name":"Zoë ☃ 漢字","note":"line\nbreak \"quoted\" \\ backslash"}"#
    );
    assert_eq!(
        first["hash"],
        hex::encode(store.read_all(1, 1).await.unwrap()[0].hash)
    );

    let script = dir.path().join("audit.py");
    std::fs::write(&script, script_from_readme()).unwrap();
    let (ok, out) = audit(&script, &export_path);
    assert!(ok, "auditor rejected a good export: {out}");
    assert_eq!(
        out.trim(),
        format!("OK 10 events, tail hash {}", hex::encode(report.tail_hash))
    );

    // One changed payload character at position 4.
    let mut lines: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let mut row: serde_json::Value = serde_json::from_str(&lines[3]).unwrap();
    let payload = row["payload"].as_str().unwrap().replacen("{}", "{ }", 1);
    row["payload"] = payload.into();
    lines[3] = row.to_string();
    let tampered = dir.path().join("tampered.jsonl");
    std::fs::write(&tampered, lines.join("\n") + "\n").unwrap();
    let (ok, out) = audit(&script, &tampered);
    assert!(!ok);
    assert!(out.contains("BROKEN at position 4: hash mismatch"), "{out}");

    // A deleted line (position 6).
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines.remove(5);
    std::fs::write(&tampered, lines.join("\n") + "\n").unwrap();
    let (ok, out) = audit(&script, &tampered);
    assert!(!ok);
    assert!(out.contains("BROKEN at position 6: missing"), "{out}");
}
