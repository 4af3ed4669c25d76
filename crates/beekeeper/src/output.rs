//! What each command prints: one type per command, rendered as text by
//! `Display` or as JSON by serde (`--json`), camelCase throughout. README
//! documents the JSON; tests snapshot it.

use std::fmt;
use std::path::PathBuf;

use beekeeper_core::throttle::{Decision, Verdict};
use beekeeper_core::{Profile, RoomConfig};
use serde::Serialize;

use crate::error::CliError;

/// Text for people, or JSON for scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

impl Format {
    pub fn new(json: bool) -> Format {
        if json {
            Format::Json
        } else {
            Format::Text
        }
    }
}

/// Prints one command's output on stdout: text, or JSON on one line (one
/// document per line, so that a script can read `serve`'s while it runs).
pub fn emit<T: Serialize + fmt::Display>(out: &T, format: Format) -> Result<(), CliError> {
    use std::io::Write;
    let text = match format {
        Format::Json => {
            let json = serde_json::to_string(out)
                .map_err(|e| CliError::Internal(format!("cannot write the JSON output: {e}")))?;
            format!("{json}\n")
        }
        Format::Text => out.to_string(),
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| CliError::Internal(format!("cannot write the output: {e}")))
}

/// A profile's settings, as JSON shows them.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    pub name: String,
    pub region: String,
    pub destination: String,
    pub rate: u32,
    pub dynamic_throttle: bool,
    pub session_minutes: u32,
    pub queue_hours: u32,
    pub probe_url: Option<String>,
    pub secure_cookie: Option<bool>,
    /// As the room applies it: 0 is no limit.
    pub arrivals_per_client: u32,
    pub trusted_proxies: Vec<String>,
    pub max_line: u64,
}

impl From<&Profile> for Settings {
    fn from(p: &Profile) -> Settings {
        Settings {
            name: p.name.clone(),
            region: p.region.clone(),
            destination: p.destination.clone(),
            rate: p.rate,
            dynamic_throttle: p.dynamic_throttle,
            session_minutes: p.session_minutes,
            queue_hours: p.queue_hours,
            probe_url: p.probe_url.clone(),
            secure_cookie: p.secure_cookie,
            arrivals_per_client: p.arrivals_per_client(),
            trusted_proxies: p.trusted_proxies.clone(),
            max_line: p.room_config().max_line,
        }
    }
}

/// `init`
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Initialized {
    pub profile: String,
    pub settings: Settings,
    pub profiles_file: PathBuf,
}

impl fmt::Display for Initialized {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "saved profile {:?} in {}",
            self.profile,
            self.profiles_file.display()
        )?;
        writeln!(f, "next: beekeeper serve {}", self.profile)
    }
}

/// The two URLs a user needs, whichever room serves them.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Urls {
    /// The waiting-room URL, for the emails.
    pub url: String,
    /// The origin's check, `{token}` standing for the visitor's token.
    pub client_check: String,
}

impl fmt::Display for Urls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "waiting room:  {}", self.url)?;
        writeln!(f, "client check:  {}", self.client_check)
    }
}

/// `serve`, once the room listens.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Serving {
    pub profile: String,
    #[serde(flatten)]
    pub urls: Urls,
    pub demo_shop: Option<String>,
    pub data_dir: PathBuf,
}

impl fmt::Display for Serving {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.urls)?;
        if let Some(shop) = &self.demo_shop {
            writeln!(f, "demo shop:     {shop}")?;
        }
        writeln!(f, "data:          {}", self.data_dir.display())
    }
}

/// Where a deployed room is.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    pub region: String,
    pub account: String,
    pub api_id: String,
    pub queue_url: String,
    pub tokens_table: String,
    pub config_table: String,
    pub bucket: String,
}

impl From<&beekeeper_deploy::Deployed> for Deployment {
    fn from(d: &beekeeper_deploy::Deployed) -> Deployment {
        Deployment {
            region: d.region.clone(),
            account: d.account.clone(),
            api_id: d.api_id.clone(),
            queue_url: d.queue_url.clone(),
            tokens_table: d.tokens_table.clone(),
            config_table: d.config_table.clone(),
            bucket: d.bucket.clone(),
        }
    }
}

/// The URLs of a deployed room.
pub fn deployed_urls(d: &beekeeper_deploy::Deployed) -> Urls {
    Urls {
        url: d.url.clone(),
        client_check: format!("{}{{token}}", d.client_check),
    }
}

/// `deploy`
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployed {
    pub profile: String,
    #[serde(flatten)]
    pub urls: Urls,
    pub deployment: Deployment,
    pub aws_calls: usize,
    /// Calls that changed something: 0 for a deploy with nothing to do.
    pub changes: usize,
    pub seconds: f64,
}

impl fmt::Display for Deployed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "deployed {} in {:.1} s ({} AWS calls, {} changes)",
            self.profile, self.seconds, self.aws_calls, self.changes
        )?;
        write!(f, "{}", self.urls)
    }
}

/// `deploy --dry-run`: the plan.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct DryRun(pub beekeeper_deploy::Plan);

impl fmt::Display for DryRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.describe())?;
        writeln!(f, "dry run: nothing was called or changed")
    }
}

/// `destroy`
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Destroyed {
    pub profile: String,
    pub deleted: usize,
    /// Resources left in place, each with the reason.
    pub kept: Vec<String>,
    pub aws_calls: usize,
    pub seconds: f64,
}

impl fmt::Display for Destroyed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "destroyed {}: {} resources deleted in {:.1} s ({} AWS calls)",
            self.profile, self.deleted, self.seconds, self.aws_calls
        )?;
        for k in &self.kept {
            writeln!(f, "left in place: {k}")?;
        }
        Ok(())
    }
}

/// Which room a command acted on.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Where {
    Serve,
    Aws,
}

/// `off`, `on` and `set-rate`: the room's switches after the change.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Switches {
    pub profile: String,
    pub room: Where,
    pub enabled: bool,
    pub rate_limit: u32,
    pub rate_current: u32,
    pub destination: String,
    /// Set by `set-rate`: the rate asked for.
    #[serde(skip)]
    pub rate_set: Option<u32>,
}

impl Switches {
    pub fn new(profile: &str, room: Where, cfg: &RoomConfig) -> Switches {
        Switches {
            profile: profile.to_string(),
            room,
            enabled: cfg.enabled,
            rate_limit: cfg.rate_limit,
            rate_current: cfg.effective_rate(),
            destination: cfg.destination.clone(),
            rate_set: None,
        }
    }
}

impl fmt::Display for Switches {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = &self.profile;
        if let Some(rate) = self.rate_set {
            writeln!(f, "{name}: admit rate set to {rate} per minute")
        } else if self.enabled {
            writeln!(
                f,
                "{name}: on, new visitors queue at {} per minute",
                self.rate_current
            )
        } else {
            writeln!(
                f,
                "{name}: off, every visitor goes straight to {}",
                self.destination
            )
        }
    }
}

/// `rotate-key`: which key signs now, and which are still published.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rotated {
    pub profile: String,
    pub room: Where,
    /// The key id (`kid`) new passes carry.
    pub signing: String,
    /// Every key id the room's JWKS holds, oldest first.
    pub published: Vec<String>,
}

impl Rotated {
    pub fn new(profile: &str, room: Where, ring: &beekeeper_core::pass::KeyRing) -> Rotated {
        let published: Vec<String> = ring.kids().iter().map(|k| k.to_string()).collect();
        Rotated {
            profile: profile.to_string(),
            room,
            signing: published.last().cloned().unwrap_or_default(),
            published,
        }
    }
}

impl fmt::Display for Rotated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: new passes are signed with key {}",
            self.profile, self.signing
        )?;
        let older = self.published.len().saturating_sub(1);
        if older > 0 {
            writeln!(
                f,
                "  {older} earlier key(s) stay published until the passes they signed expire ({} minutes at most)",
                beekeeper_core::pass::PASS_SECS / 60
            )?;
        }
        Ok(())
    }
}

/// The throttle in `status`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Throttle {
    pub enabled: bool,
    pub probe_url: String,
    pub last_verdict: Option<Verdict>,
    pub last_median_ms: Option<u32>,
    pub last_failed: Option<u32>,
    pub last_probes: Option<u32>,
    pub baseline_ms: Option<u64>,
}

impl Throttle {
    pub fn new(cfg: &RoomConfig, last: Option<&Decision>) -> Throttle {
        Throttle {
            enabled: cfg.dynamic_throttle,
            probe_url: cfg.probe_target().to_string(),
            last_verdict: last.map(|d| d.verdict),
            last_median_ms: last.and_then(|d| d.median_ms),
            last_failed: last.map(|d| d.failed),
            last_probes: last.map(|d| d.probes),
            baseline_ms: last
                .and_then(|d| d.state.baseline_ms)
                .map(|b| b.round() as u64),
        }
    }
}

impl fmt::Display for Throttle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
        match (self.enabled, self.last_verdict) {
            (false, _) => writeln!(f, "throttle:              off"),
            (true, None) => writeln!(
                f,
                "throttle:              on, probing {} (no decision yet)",
                self.probe_url
            ),
            (true, Some(v)) => writeln!(
                f,
                "throttle:              on, last minute {v:?}: median {} ms, {}/{} probes failed, baseline {} ms",
                show(self.last_median_ms.map(u64::from)),
                show(self.last_failed.map(u64::from)),
                show(self.last_probes.map(u64::from)),
                show(self.baseline_ms),
            ),
        }
    }
}

/// `status`, the same for both rooms.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub profile: String,
    pub room: Where,
    #[serde(flatten)]
    pub urls: Urls,
    /// Where a deployed room is (`null` for a served one).
    pub deployment: Option<Deployment>,
    pub enabled: bool,
    pub rate_limit: u32,
    pub rate_current: u32,
    pub queue_depth: u64,
    pub admitted_last_minute: u64,
    pub wait_seconds_for_new_arrival: u64,
    pub throttle: Throttle,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = match &self.deployment {
            Some(d) => format!("on AWS, {} at {}", d.region, self.urls.url),
            None => format!("served at {}", self.urls.url),
        };
        writeln!(f, "profile:               {} ({at})", self.profile)?;
        let on = if self.enabled { "on" } else { "off" };
        writeln!(f, "room:                  {on}")?;
        writeln!(
            f,
            "rate:                  {} per minute (limit {})",
            self.rate_current, self.rate_limit
        )?;
        writeln!(f, "in line:               {}", self.queue_depth)?;
        writeln!(f, "admitted, last minute: {}", self.admitted_last_minute)?;
        writeln!(
            f,
            "estimated wait now:    {}",
            human_secs(self.wait_seconds_for_new_arrival)
        )?;
        write!(f, "{}", self.throttle)
    }
}

fn human_secs(s: u64) -> String {
    match s {
        0 => "none".into(),
        1..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

/// One profile in `config`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileShown {
    pub profile: String,
    pub settings: Settings,
    /// The room this machine serves for it, if any.
    pub served: Option<Urls>,
    /// The room deployed for it, if any.
    pub deployed: Option<Urls>,
    /// The profile as its file holds it (text output only).
    #[serde(skip)]
    pub toml: String,
}

impl fmt::Display for ProfileShown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[profiles.{}]\n{}", self.profile, self.toml)?;
        if let Some(s) = &self.served {
            writeln!(f, "# served at {}", s.url)?;
        }
        if let Some(d) = &self.deployed {
            writeln!(f, "# deployed at {}", d.url)?;
        }
        Ok(())
    }
}

/// `config` without a profile: every profile.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Profiles {
    pub file: PathBuf,
    pub profiles: Vec<ProfileShown>,
}

impl fmt::Display for Profiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.profiles.is_empty() {
            return writeln!(
                f,
                "no profiles in {} (create one with `beekeeper init`)",
                self.file.display()
            );
        }
        writeln!(f, "profiles in {}:", self.file.display())?;
        for p in &self.profiles {
            let at = match (&p.deployed, &p.served) {
                (Some(d), _) => format!("deployed at {}", d.url),
                (None, Some(s)) => format!("served at {}", s.url),
                (None, None) => "not served yet".to_string(),
            };
            writeln!(
                f,
                "  {:<20} {:>6}/min  {}  ({at})",
                p.profile, p.settings.rate, p.settings.destination
            )?;
        }
        Ok(())
    }
}
