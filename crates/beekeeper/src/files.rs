//! The profiles file (edited by the user) and the state file (written by
//! beekeeper: where each room runs). They sit side by side, never mixed.

use std::collections::BTreeMap;
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

    pub fn save_state(&self, f: &StateFile) -> Result<(), CliError> {
        write_toml(&self.state_path, f)
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
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, text).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}
