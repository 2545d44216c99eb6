//! Live projections commit without fsync. A clean close keeps the files across a restart
//! of the machine; files left open by an earlier boot are discarded and rebuilt, and the
//! rebuild equals the projections they replace.

mod support;

use poolkeeper_projections::Projections;
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
