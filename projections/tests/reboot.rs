//! Live projections commit without fsync. A clean close keeps the files across a restart
//! of the machine; files left open by an earlier boot are discarded and rebuilt, and the
//! rebuild equals the projections they replace. Stored names never change, so a directory
//! written before a projection's module was renamed keeps opening.

mod support;

use poolkeeper_projections::{AbandonRecordQuery, ProjectionName, Projections, Snapshot};
use support::*;

#[test]
fn files_left_open_by_an_earlier_boot_are_discarded_and_a_clean_close_keeps_them() {
    let runtime = runtime();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = open_log(&dir.path().join("events.db"));
        let (_, commands) = history(7, 40, &fixed_steps(300));
        let tail = append(&store, &commands, 16).await;
        let projections_dir = dir.path().join("projections");

        // Follow the log, then close cleanly: reopening keeps everything.
        let projections = Projections::open(&projections_dir).unwrap();
        follow_to(&projections, &store, tail).await;
        let before = dump_all(&projections).await;
        projections.close().await.unwrap();
        drop(projections);
        assert!(
            !projections_dir.join("OPEN").exists(),
            "a clean close clears the marker"
        );
        let reopened = Projections::open(&projections_dir).unwrap();
        assert!(
            reopened.status().iter().all(|s| s.checkpoint == tail),
            "a clean close keeps the files"
        );
        drop(reopened);

        // As if the machine went down while they were open: another boot's marker.
        std::fs::write(projections_dir.join("OPEN"), "an-earlier-boot").unwrap();
        let discarded = Projections::open(&projections_dir).unwrap();
        assert!(
            discarded.status().iter().all(|s| s.checkpoint == 0),
            "files from another boot are discarded"
        );
        follow_to(&discarded, &store, tail).await;
        assert_eq!(
            dump_all(&discarded).await,
            before,
            "rebuilt from the log, they equal what was discarded"
        );
    });
}

#[test]
fn a_directory_of_the_abandon_audit_opens_as_the_abandon_records() {
    let runtime = runtime();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = open_log(&dir.path().join("events.db"));
        let (_, commands) = history(11, 40, &fixed_steps(300));
        let tail = append(&store, &commands, 16).await;
        let projections_dir = dir.path().join("projections");
        let projections = Projections::open(&projections_dir).unwrap();
        follow_to(&projections, &store, tail).await;
        let records = projections
            .abandon_records()
            .list(AbandonRecordQuery::default())
            .await
            .unwrap()
            .items;
        assert!(!records.is_empty(), "the history abandons and reclaims");
        projections.close().await.unwrap();
        drop(projections);

        // The file and the name in its meta table are those of the `abandon_audit`, as
        // every directory written before the rename has them.
        let file = projections_dir.join("abandon_audit.db");
        assert!(file.exists(), "the file keeps its stored name");
        assert_eq!(
            Snapshot::open(&file).unwrap().name(),
            ProjectionName::AbandonRecords
        );
        assert_eq!(
            ProjectionName::parse("abandon_audit"),
            Some(ProjectionName::AbandonRecords)
        );

        // Reopened, it is neither discarded nor rebuilt, and reads the same records.
        let reopened = Projections::open(&projections_dir).unwrap();
        let status = reopened
            .status()
            .into_iter()
            .find(|s| s.name == ProjectionName::AbandonRecords)
            .unwrap();
        assert_eq!(status.checkpoint, tail);
        let again = reopened
            .abandon_records()
            .list(AbandonRecordQuery::default())
            .await
            .unwrap()
            .items;
        assert_eq!(again, records);
    });
}
