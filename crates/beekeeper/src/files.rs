//! The profiles file (edited by the user) and the state file (written by
//! beekeeper: where each room runs). They sit side by side, never mixed.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use beekeeper_core::Profile;
use serde::{Deserialize, Serialize};

use crate::error::CliError;

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ProfilesFile {
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// Where a profile's room was last served.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Served {
    pub data_dir: PathBuf,
    pub url: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct StateFile {
    #[serde(default)]
    pub serve: BTreeMap<String, Served>,
    /// What each profile's last successful deploy created on AWS.
    #[serde(default)]
    pub deploy: BTreeMap<String, beekeeper_deploy::Deployed>,
}

pub struct Files {
    pub profiles_path: PathBuf,
    pub state_path: PathBuf,
}

/// A profile's deployment lock, held until dropped.
pub struct ProfileLock {
    _file: File,
}

fn open_lock(path: &Path) -> Result<File, CliError> {
    let err = |source| CliError::WriteFile {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(err)
}

impl Files {
    pub fn locate(config: Option<PathBuf>) -> Result<Files, CliError> {
        let profiles_path = match config {
            Some(p) => p,
            None => dirs::config_dir()
                .ok_or(CliError::NoConfigDir)?
                .join("beekeeper")
                .join("profiles.toml"),
        };
        let state_path = profiles_path.with_file_name("state.toml");
        Ok(Files {
            profiles_path,
            state_path,
        })
    }

    pub fn profiles(&self) -> Result<ProfilesFile, CliError> {
        read_toml(&self.profiles_path)
    }

    pub fn save_profiles(&self, f: &ProfilesFile) -> Result<(), CliError> {
        write_toml(&self.profiles_path, f)
    }

    pub fn state(&self) -> Result<StateFile, CliError> {
        read_toml(&self.state_path)
    }

    /// Reads, changes and writes the state file under its lock, so that
    /// two commands finishing at once (a deploy and a serve, two deploys of
    /// different profiles) never lose each other's entry.
    pub fn update_state(&self, change: impl FnOnce(&mut StateFile)) -> Result<(), CliError> {
        let lock = self.state_path.with_extension("lock");
        let file = open_lock(&lock)?;
        file.lock().map_err(|source| CliError::WriteFile {
            path: lock.clone(),
            source,
        })?;
        let mut state = self.state()?;
        change(&mut state);
        write_toml(&self.state_path, &state)
        // The lock goes with `file`.
    }

    /// Takes the lock of `profile`'s deployment for as long as the guard
    /// lives: a second `deploy` or `destroy` of the same profile refuses to
    /// start, naming the one that runs, instead of creating a second API.
    pub fn lock_profile(&self, profile: &str) -> Result<ProfileLock, CliError> {
        let path = self
            .state_path
            .with_file_name("locks")
            .join(format!("{profile}.lock"));
        let mut file = open_lock(&path)?;
        match file.try_lock() {
            Ok(()) => {
                let holder = format!("pid {}", std::process::id());
                let _ = file
                    .set_len(0)
                    .and_then(|()| file.rewind())
                    .and_then(|()| file.write_all(holder.as_bytes()));
                Ok(ProfileLock { _file: file })
            }
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                Err(CliError::ProfileBusy {
                    profile: profile.to_string(),
                    holder: holder.trim().to_string(),
                    path,
                })
            }
            Err(TryLockError::Error(source)) => Err(CliError::WriteFile { path, source }),
        }
    }

    /// The named profile, validated.
    pub fn profile(&self, name: &str) -> Result<Profile, CliError> {
        let file = self.profiles()?;
        let profile = file
            .profiles
            .get(name)
            .cloned()
            .ok_or_else(|| CliError::UnknownProfile {
                name: name.to_string(),
                known: file.profiles.keys().cloned().collect::<Vec<_>>().join(", "),
            })?;
        profile.validated().map_err(|e| CliError::BadProfile {
            name: name.to_string(),
            path: self.profiles_path.clone(),
            reason: e.to_string(),
        })
    }
}

fn read_toml<T: Default + for<'de> Deserialize<'de>>(path: &Path) -> Result<T, CliError> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).map_err(|e| CliError::ParseFile {
            path: path.to_path_buf(),
            reason: e.message().to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(source) => Err(CliError::ReadFile {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Writes through a temporary file and a rename, so a crash never leaves
/// half a profiles file behind.
fn write_toml<T: Serialize>(path: &Path, value: &T) -> Result<(), CliError> {
    let err = |source| CliError::WriteFile {
        path: path.to_path_buf(),
        source,
    };
    let text = toml::to_string_pretty(value).map_err(|e| CliError::Internal(e.to_string()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(err)?;
    // A temporary file of its own beside the target: two writers never
    // share one, and the rename is atomic.
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
    tmp.write_all(text.as_bytes()).map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Eight commands finishing at once each record their room: none is lost.
    #[test]
    fn concurrent_state_updates_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let files =
            std::sync::Arc::new(Files::locate(Some(dir.path().join("profiles.toml"))).unwrap());
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let files = files.clone();
                std::thread::spawn(move || {
                    for round in 0..20 {
                        files
                            .update_state(|s| {
                                s.serve.insert(
                                    format!("p{i}-{round}"),
                                    Served {
                                        data_dir: PathBuf::from("/tmp"),
                                        url: String::new(),
                                    },
                                );
                            })
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(files.state().unwrap().serve.len(), 160);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().contains("tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn a_profile_is_deployed_by_one_command_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let files = Files::locate(Some(dir.path().join("profiles.toml"))).unwrap();
        let held = files.lock_profile("sale").unwrap();
        let err = files.lock_profile("sale").err().unwrap().to_string();
        assert!(
            err.contains("\"sale\"") && err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        assert!(
            files.lock_profile("other").is_ok(),
            "other profiles are free"
        );
        drop(held);
        assert!(
            files.lock_profile("sale").is_ok(),
            "released with the guard"
        );
    }
}
