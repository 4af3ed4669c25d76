//! `off`, `on`, `set-rate`, `status` and `config`, on the room a profile
//! runs as: resolved once from the state file ([`Room::resolve`]).

use beekeeper_core::{profile, RoomConfig};
use beekeeper_local::{Control, Stats};

use crate::aws::{AwsOpts, DeployedRoom};
use crate::error::CliError;
use crate::files::{Files, Served};
use crate::output::{
    self, Format, ProfileShown, Profiles, Settings, Status, Switches, Urls, Where,
};
use crate::serve::DEMO_PROFILE;

/// The room a profile runs as.
pub enum Room {
    /// Served on this machine (its data directory and URL).
    Served(Served),
    Deployed(Box<DeployedRoom>),
}

impl Room {
    /// A deployed room when the state file records a deploy of `name`,
    /// else the room this machine serves for it.
    pub fn resolve(files: &Files, name: &str) -> Result<Room, CliError> {
        if name != DEMO_PROFILE {
            files.profile(name)?;
        }
        let state = files.state()?;
        if let Some(d) = state.deploy.get(name) {
            return Ok(Room::Deployed(Box::new(DeployedRoom::new(files, name, d)?)));
        }
        state
            .serve
            .get(name)
            .cloned()
            .map(Room::Served)
            .ok_or_else(|| CliError::NotServed(name.to_string()))
    }
}

fn control(name: &str, served: &Served) -> Result<Control, CliError> {
    Control::open(&served.data_dir).map_err(|e| match e {
        beekeeper_local::StoreError::NoRoom(_) => CliError::NotServed(name.to_string()),
        e => e.into(),
    })
}

/// What `off`, `on` and `set-rate` change.
#[derive(Debug, Clone, Copy)]
pub enum Change {
    Switch(Switch),
    Rate(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Switch {
    On,
    Off,
}

impl Change {
    /// The change applied to a room config: the one rule both rooms follow.
    pub fn apply(self, cfg: &mut RoomConfig) {
        match self {
            Change::Switch(s) => cfg.enabled = s == Switch::On,
            Change::Rate(rate) => {
                cfg.rate_limit = rate;
                cfg.rate_current = rate;
            }
        }
    }
}

async fn change(
    files: &Files,
    name: &str,
    change: Change,
    opts: &AwsOpts,
) -> Result<Switches, CliError> {
    Ok(match Room::resolve(files, name)? {
        Room::Deployed(room) => Switches::new(name, Where::Aws, &room.update(change, opts).await?),
        Room::Served(served) => {
            let cfg = control(name, &served)?.update(|c| change.apply(c))?;
            Switches::new(name, Where::Serve, &cfg)
        }
    })
}

pub async fn switch(
    files: &Files,
    name: &str,
    to: Switch,
    format: Format,
    opts: &AwsOpts,
) -> Result<(), CliError> {
    let out = change(files, name, Change::Switch(to), opts).await?;
    output::emit(&out, format)
}

pub async fn set_rate(
    files: &Files,
    name: &str,
    rate: &str,
    format: Format,
    opts: &AwsOpts,
) -> Result<(), CliError> {
    let rate = profile::validate_rate(rate).map_err(|e| CliError::InvalidAnswer {
        flag: "RATE",
        reason: e.to_string(),
    })?;
    let mut out = change(files, name, Change::Rate(rate), opts).await?;
    // The profile keeps the new rate too: a restart or a redeploy takes
    // the stored room config over the profile (RoomConfig::resumed), and
    // a room started afresh from the profile starts at it.
    if name != DEMO_PROFILE {
        let mut file = files.profiles()?;
        if let Some(p) = file.profiles.get_mut(name) {
            p.rate = rate;
        }
        files.save_profiles(&file)?;
    }
    out.rate_set = Some(rate);
    output::emit(&out, format)
}

/// `rotate-key`: a new key signs from now on; the ones it replaced stay
/// published until their passes have expired.
pub async fn rotate_key(
    files: &Files,
    name: &str,
    format: Format,
    opts: &AwsOpts,
) -> Result<(), CliError> {
    let (room, ring) = match Room::resolve(files, name)? {
        Room::Deployed(room) => (Where::Aws, room.rotate_key(opts).await?),
        Room::Served(served) => (
            Where::Serve,
            beekeeper_local::keys::rotate(&served.data_dir).map_err(|e| match e {
                beekeeper_local::keys::KeysError::NoRoom(_) => CliError::NotServed(name.into()),
                e => e.into(),
            })?,
        ),
    };
    output::emit(&output::Rotated::new(name, room, &ring), format)
}

pub async fn status(
    files: &Files,
    name: &str,
    format: Format,
    opts: &AwsOpts,
) -> Result<(), CliError> {
    let out = match Room::resolve(files, name)? {
        Room::Deployed(room) => room.status(opts).await?,
        Room::Served(served) => served_status(name, &served)?,
    };
    output::emit(&out, format)
}

fn served_status(name: &str, served: &Served) -> Result<Status, CliError> {
    let ctl = control(name, served)?;
    let cfg = ctl.config()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let Stats {
        queue_depth,
        admitted_last_minute,
        ..
    } = ctl.stats(now)?;
    let (_, last) = ctl.throttle()?;
    Ok(Status {
        profile: name.to_string(),
        room: Where::Serve,
        urls: served.urls(),
        deployment: None,
        enabled: cfg.enabled,
        rate_limit: cfg.rate_limit,
        rate_current: cfg.effective_rate(),
        queue_depth,
        admitted_last_minute,
        wait_seconds_for_new_arrival: cfg.wait_for_new_arrival(queue_depth),
        throttle: output::Throttle::new(&cfg, last.as_ref()),
    })
}

pub fn config(files: &Files, name: Option<&str>, format: Format) -> Result<(), CliError> {
    let state = files.state()?;
    let shown = |name: &str, p: &beekeeper_core::Profile| -> Result<ProfileShown, CliError> {
        Ok(ProfileShown {
            profile: name.to_string(),
            settings: Settings::from(p),
            served: state.serve.get(name).map(Served::urls),
            deployed: state.deploy.get(name).map(output::deployed_urls),
            toml: toml::to_string_pretty(p).map_err(|e| CliError::Internal(e.to_string()))?,
        })
    };
    if let Some(name) = name {
        let p = files.profile(name)?;
        return output::emit(&shown(name, &p)?, format);
    }
    let file = files.profiles()?;
    let profiles = file
        .profiles
        .iter()
        .map(|(n, p)| shown(n, p))
        .collect::<Result<_, _>>()?;
    output::emit(
        &Profiles {
            file: files.profiles_path.clone(),
            profiles,
        },
        format,
    )
}

impl Served {
    /// The URLs of the room served at `url` (its entry).
    pub fn urls(&self) -> Urls {
        let base = self
            .url
            .trim_end_matches(beekeeper_core::names::ROUTE_ENTRY);
        Urls {
            url: self.url.clone(),
            client_check: format!(
                "{base}{}/{{token}}",
                beekeeper_core::names::ROUTE_CLIENT_CHECK
            ),
        }
    }
}
