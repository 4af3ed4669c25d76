//! The room's pass keys on this machine: [`KEYS_FILE`] in the data
//! directory, readable by its owner only, never printed.
//!
//! `serve` makes the ring on its first start and names itself in it (the
//! base URL it listens on is the passes' `iss`); `beekeeper rotate-key`
//! adds a key from another process, and the server picks the change up
//! within a quarter of a second (it checks the file's length and time).
//! Every write goes to a private temporary file that is renamed over the
//! ring, so a crash leaves the old ring or the new one, never half of one.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use beekeeper_core::pass::{KeyRing, PassError};

/// File name of the key ring inside the data directory.
pub const KEYS_FILE: &str = "pass-keys.json";

#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("cannot read the room's keys {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the room's keys {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the room's keys {path} are unusable: {source} (hint: move the file away and run `beekeeper rotate-key`; passes it signed stop verifying)")]
    Unusable { path: PathBuf, source: PassError },
    #[error("no room at {0}: start it with `beekeeper serve` first")]
    NoRoom(PathBuf),
    #[error("cannot draw a random key: {0}")]
    Random(String),
}

fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(KEYS_FILE)
}

fn seed() -> Result<[u8; 32], KeysError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| KeysError::Random(e.to_string()))?;
    Ok(seed)
}

/// The stored ring, if there is one.
fn read(data_dir: &Path) -> Result<Option<KeyRing>, KeysError> {
    let path = path(data_dir);
    match std::fs::read_to_string(&path) {
        Ok(json) => KeyRing::from_json(&json)
            .map(Some)
            .map_err(|source| KeysError::Unusable { path, source }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(KeysError::Read { path, source }),
    }
}

fn write(data_dir: &Path, ring: &KeyRing) -> Result<(), KeysError> {
    let path = path(data_dir);
    let err = |source| KeysError::Write {
        path: path.clone(),
        source,
    };
    let tmp = data_dir.join(format!(".{KEYS_FILE}.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut f = crate::lock::private_file(&tmp).map_err(err)?;
    f.write_all(ring.to_json().as_bytes()).map_err(err)?;
    f.sync_all().map_err(err)?;
    drop(f);
    std::fs::rename(&tmp, &path).map_err(err)?;
    if let Ok(dir) = std::fs::File::open(data_dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// The ring `serve` signs with: the stored one, named for `issuer` and
/// `room`, or a new one when the room has none yet.
pub(crate) fn open(data_dir: &Path, issuer: &str, room: &str) -> Result<KeyRing, KeysError> {
    let now = now_secs();
    let ring = match read(data_dir)? {
        Some(r) if r.issuer == issuer && r.room == room => return Ok(r),
        Some(mut r) => {
            r.issuer = issuer.to_string();
            r.room = room.to_string();
            r
        }
        None => KeyRing::new(issuer, room, seed()?, now),
    };
    write(data_dir, &ring)?;
    Ok(ring)
}

/// `beekeeper rotate-key` on a served room: a new key signs from now on;
/// the passes the old one signed verify until they expire. Returns the ring.
pub fn rotate(data_dir: &Path) -> Result<KeyRing, KeysError> {
    let mut ring = read(data_dir)?.ok_or_else(|| KeysError::NoRoom(data_dir.to_path_buf()))?;
    ring.rotate(seed()?, now_secs());
    write(data_dir, &ring)?;
    Ok(ring)
}

/// What tells a changed ring: the file's length and time.
pub(crate) fn stamp(data_dir: &Path) -> Option<(u64, SystemTime)> {
    let m = std::fs::metadata(path(data_dir)).ok()?;
    Some((m.len(), m.modified().ok()?))
}

/// The stored ring as it is now (the server's reload).
pub(crate) fn reload(data_dir: &Path) -> Result<KeyRing, KeysError> {
    read(data_dir)?.ok_or_else(|| KeysError::NoRoom(data_dir.to_path_buf()))
}

fn now_secs() -> u64 {
    crate::now_ms() / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_is_private_kept_across_starts_and_rotated_in_place() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(rotate(dir.path()), Err(KeysError::NoRoom(_))));
        let first = open(dir.path(), "http://127.0.0.1:1", "sale").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path(dir.path()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // The same keys on the next start; a new address renames the issuer only.
        assert_eq!(
            open(dir.path(), "http://127.0.0.1:1", "sale").unwrap(),
            first
        );
        let moved = open(dir.path(), "http://127.0.0.1:2", "sale").unwrap();
        assert_eq!(
            (moved.kids(), moved.issuer.as_str()),
            (first.kids(), "http://127.0.0.1:2")
        );
        let rotated = rotate(dir.path()).unwrap();
        assert_eq!(rotated.kids().len(), 2);
        assert_eq!(rotated.kids()[0], first.kids()[0]);
        assert_eq!(reload(dir.path()).unwrap(), rotated);
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [KEYS_FILE]);
        std::fs::write(path(dir.path()), "{").unwrap();
        assert!(matches!(
            open(dir.path(), "i", "r"),
            Err(KeysError::Unusable { .. })
        ));
    }
}
