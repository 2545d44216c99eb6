//! Whether the projections' files can be trusted after the machine restarted.
//!
//! Live projections run with `synchronous=OFF`: a commit never waits for the disk, which
//! keeps their writes from stalling the event log's own fsync. A process crash loses
//! nothing that way (the OS still holds every write), but an OS crash or power loss may
//! leave a file inconsistent. So `open` writes `<dir>/OPEN` holding the machine's boot id,
//! and a clean `close` syncs every file and removes it. Finding the marker from another
//! boot (or on a system that has no boot id) means the machine went down while the files
//! were open: they are discarded and rebuilt from the log.

use std::io::{ErrorKind, Write};
use std::path::Path;

const MARKER: &str = "OPEN";

/// The identity of this boot of the machine, where the OS tells it.
fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|id| id.trim().to_owned())
        .filter(|id| !id.is_empty())
}

/// Whether the files in `dir` must be discarded: an earlier boot left them open (or the
/// boot cannot be told, so a clean close cannot be assumed). Reads only; call
/// [`mark_open`] after discarding, so a crash in between discards again.
pub(crate) fn must_discard(dir: &Path) -> std::io::Result<bool> {
    match std::fs::read_to_string(dir.join(MARKER)) {
        Ok(previous) => {
            let current = boot_id();
            Ok(current.is_none() || current.as_deref() != Some(previous.trim()))
        }
        Err(error) if error.kind() == ErrorKind::NotFound => Ok(false),
        Err(error) => Err(error),
    }
}

/// Marks `dir` open by this boot. The marker is replaced atomically (written beside it,
/// synced, renamed), so a crash at any moment leaves the old marker or the new one.
pub(crate) fn mark_open(dir: &Path) -> std::io::Result<()> {
    let staged = dir.join(format!("{MARKER}.new"));
    let mut file = std::fs::File::create(&staged)?;
    file.write_all(boot_id().as_deref().unwrap_or("unknown").as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&staged, dir.join(MARKER))?;
    std::fs::File::open(dir)?.sync_all()
}

/// Marks `dir` cleanly closed (every file must already be synced).
pub(crate) fn mark_closed(dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(dir.join(MARKER)) {
        Err(error) if error.kind() != ErrorKind::NotFound => return Err(error),
        _ => {}
    }
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_from_this_boot_keeps_the_files_and_one_from_another_boot_discards_them() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            !must_discard(dir.path()).unwrap(),
            "a first open keeps the files"
        );
        mark_open(dir.path()).unwrap();
        // Left open by a crashed process of this boot: the OS kept every write.
        assert_eq!(must_discard(dir.path()).unwrap(), boot_id().is_none());
        mark_closed(dir.path()).unwrap();
        assert!(
            !must_discard(dir.path()).unwrap(),
            "a clean close keeps the files"
        );
        std::fs::write(dir.path().join(MARKER), "another-boot").unwrap();
        assert!(
            must_discard(dir.path()).unwrap(),
            "left open across a reboot: discard"
        );
        // A crash while staging the new marker leaves the old one in force.
        std::fs::write(dir.path().join(format!("{MARKER}.new")), "").unwrap();
        assert!(must_discard(dir.path()).unwrap());
        mark_open(dir.path()).unwrap();
        assert_eq!(must_discard(dir.path()).unwrap(), boot_id().is_none());
    }
}
