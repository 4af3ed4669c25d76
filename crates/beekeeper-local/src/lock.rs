//! One `serve` per data directory, and the directory kept private.
//!
//! Two servers on one store would each run a trigger (admitting twice the
//! rate) and keep their own in-memory line. The first takes an exclusive
//! lock on `serve.lock` and holds it for the life of the process (the
//! system drops it when the process dies, `kill -9` included); a second is
//! refused with the first one's pid and address, which the holder writes
//! into the file.
//!
//! The directory holds every queued and admitted token, so it is created
//! `0700` and its files are made `0600`.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

use crate::LocalError;

const LOCK_FILE: &str = "serve.lock";

pub(crate) struct DataDir {
    file: File,
}

impl DataDir {
    /// Creates the directory if needed and takes its lock.
    pub(crate) fn take(dir: &Path) -> Result<DataDir, LocalError> {
        let io = |source| LocalError::DataDir {
            path: dir.to_path_buf(),
            source,
        };
        private_dir(dir).map_err(io)?;
        let path = dir.join(LOCK_FILE);
        let mut file = private_file(&path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => Ok(DataDir { file }),
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                Err(LocalError::Busy {
                    path: dir.to_path_buf(),
                    holder: if holder.is_empty() {
                        "starting".into()
                    } else {
                        holder.to_string()
                    },
                })
            }
            Err(TryLockError::Error(e)) => Err(io(e)),
        }
    }

    /// Writes who holds the lock, for the message a second server prints.
    pub(crate) fn name_holder(&self, holder: &str) {
        let mut f = &self.file;
        let written = f
            .set_len(0)
            .and_then(|()| f.rewind())
            .and_then(|()| f.write_all(holder.as_bytes()));
        if let Err(e) = written {
            tracing::warn!("cannot write {LOCK_FILE}: {e}");
        }
    }
}

/// The directory, `0700` (created so, or tightened).
fn private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)
}

/// A file in the data directory, opened for reading and writing (created
/// if missing), `0600` (created so, or tightened). SQLite gives a
/// database's `-wal` and `-shm` files the database file's mode.
pub(crate) fn private_file(path: &Path) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        o.mode(0o600);
        let file = o.open(path)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        Ok(file)
    }
    #[cfg(not(unix))]
    o.open(path)
}
