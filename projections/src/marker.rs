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

/// Marks `dir` open. Returns true when the files must be discarded: an earlier boot left
/// them open (or the boot cannot be told, so a clean close cannot be assumed).
pub(crate) fn mark_open(dir: &Path) -> std::io::Result<bool> {
    let path = dir.join(MARKER);
    let current = boot_id();
    let discard = match std::fs::read_to_string(&path) {
        Ok(previous) => current.as_deref() != Some(previous.trim()) || current.is_none(),
        Err(error) if error.kind() == ErrorKind::NotFound => false,
        Err(error) => return Err(error),
    };
    let mut file = std::fs::File::create(&path)?;
    file.write_all(current.as_deref().unwrap_or("unknown").as_bytes())?;
    file.sync_all()?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(discard)
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
            !mark_open(dir.path()).unwrap(),
            "a first open keeps the files"
        );
        // Left open by a crashed process of this boot: the OS kept every write.
        assert_eq!(mark_open(dir.path()).unwrap(), boot_id().is_none());
        mark_closed(dir.path()).unwrap();
        assert!(
            !mark_open(dir.path()).unwrap(),
            "a clean close keeps the files"
        );
        std::fs::write(dir.path().join(MARKER), "another-boot").unwrap();
        assert!(
            mark_open(dir.path()).unwrap(),
            "left open across a reboot: discard"
        );
    }
}
