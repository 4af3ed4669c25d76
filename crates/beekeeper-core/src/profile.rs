//! Profiles (what the user answered in `init`) and the live room config.

use serde::{Deserialize, Serialize};

use crate::names::{RATE_MAX, RATE_MIN};

/// Commercial AWS regions a room can be deployed to.
pub const REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
];

pub const DEFAULT_REGION: &str = "us-east-1";
pub const DEFAULT_RATE: u32 = 500;
pub const DEFAULT_SESSION_MINUTES: u32 = 30;
pub const DEFAULT_QUEUE_HOURS: u32 = 12;
/// Places a minute one client address may take by default. A carrier's
/// shared address (CGNAT) stands for a few hundred to a few thousand
/// subscribers at once; even a sale email read by all of them at the same
/// moment is far fewer than 60 clicks in one minute from one address,
/// while one machine dropping its cookie takes thousands a second.
pub const DEFAULT_ARRIVALS_PER_CLIENT: u32 = 60;
/// The most visitors in line by default: about 75 MB of memory and 50 MB
/// of database in `serve`, and what the capacity model says a deployed
/// room keeps polling under AWS's default quotas up to about 20,000 a
/// minute (a deployed room takes the model's figure where it is lower:
/// `beekeeper_deploy::capacity::default_max_line`).
pub const DEFAULT_MAX_LINE: u64 = 1_000_000;

/// Why an answer was refused. Each message names what is wrong and what fits.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProfileError {
    #[error("profile name {0:?} is not usable: use 1-32 lower-case letters, digits and hyphens, starting with a letter")]
    ProfileName(String),
    #[error("profile name {0:?} is reserved for `beekeeper serve --demo`: pick another")]
    Reserved(String),
    #[error("room name must be 1-100 printable characters")]
    RoomName,
    #[error("region {0:?} is not a commercial AWS region (for example us-east-1, eu-west-1)")]
    Region(String),
    #[error("destination {0:?} is not an absolute http(s) URL (for example https://shop.example.com/sale)")]
    Destination(String),
    #[error(
        "rate {0:?} is not a whole number between {RATE_MIN} and {RATE_MAX} admits per minute"
    )]
    Rate(String),
    #[error("session length must be between 1 and 1440 minutes")]
    Session,
    #[error("queue lifetime must be between 1 and 336 hours")]
    QueueHours,
    #[error("probe_url {0:?} is not an absolute http(s) URL")]
    ProbeUrl(String),
    #[error("trusted_proxies: {0}")]
    TrustedProxy(#[from] crate::gate::BadProxy),
    #[error("max_line must be at least 1 (it is the most visitors in line)")]
    MaxLine,
}

/// One waiting room as the user configured it (a table in the profiles file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Public name shown on the room page.
    pub name: String,
    /// AWS region for `deploy`.
    pub region: String,
    /// Where admitted visitors go.
    pub destination: String,
    /// Admits per minute.
    pub rate: u32,
    /// Slow admission down when the destination slows down.
    pub dynamic_throttle: bool,
    /// How long an admitted token stays valid at the origin.
    #[serde(default = "default_session")]
    pub session_minutes: u32,
    /// How long a place in line (the cookie, the queued message) lives.
    #[serde(default = "default_queue_hours")]
    pub queue_hours: u32,
    /// What the throttle probes (default: the destination).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_url: Option<String>,
    /// `serve` only: whether the place-in-line cookie is `Secure`
    /// (default: [`crate::entry::secure_cookie`]'s rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secure_cookie: Option<bool>,
    /// Places a minute one client address may take; 0: no limit (default
    /// [`DEFAULT_ARRIVALS_PER_CLIENT`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrivals_per_client: Option<u32>,
    /// `serve` only: proxies (addresses or networks) whose
    /// `X-Forwarded-For` names the client ([`crate::gate::client_address`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_proxies: Vec<String>,
    /// The most visitors in line (default [`DEFAULT_MAX_LINE`]); beyond,
    /// arrivals get `503` and a "the room is full" page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_line: Option<u64>,
}

fn default_session() -> u32 {
    DEFAULT_SESSION_MINUTES
}

fn default_queue_hours() -> u32 {
    DEFAULT_QUEUE_HOURS
}

impl Profile {
    /// Checks every field and returns the profile with its URLs in the
    /// normalised form the room uses everywhere (a hand-edited file may
    /// hold `" https://shop.example/sale "`); the first problem found is
    /// returned.
    pub fn validated(mut self) -> Result<Profile, ProfileError> {
        validate_room_name(&self.name)?;
        validate_region(&self.region)?;
        self.destination = validate_destination(&self.destination)?;
        validate_rate(&self.rate.to_string())?;
        if !(1..=1440).contains(&self.session_minutes) {
            return Err(ProfileError::Session);
        }
        if !(1..=336).contains(&self.queue_hours) {
            return Err(ProfileError::QueueHours);
        }
        if let Some(url) = &self.probe_url {
            let normal =
                validate_destination(url).map_err(|_| ProfileError::ProbeUrl(url.clone()))?;
            self.probe_url = Some(normal);
        }
        self.trusted_networks()?;
        if self.max_line == Some(0) {
            return Err(ProfileError::MaxLine);
        }
        Ok(self)
    }

    /// Places a minute per client address; 0: no limit.
    pub fn arrivals_per_client(&self) -> u32 {
        self.arrivals_per_client
            .unwrap_or(DEFAULT_ARRIVALS_PER_CLIENT)
    }

    /// The parsed `trusted_proxies`.
    pub fn trusted_networks(&self) -> Result<Vec<ipnet::IpNet>, ProfileError> {
        self.trusted_proxies
            .iter()
            .map(|p| crate::gate::parse_proxy(p).map_err(ProfileError::from))
            .collect()
    }

    /// The room config a fresh room starts with.
    pub fn room_config(&self) -> RoomConfig {
        RoomConfig {
            enabled: true,
            rate_limit: self.rate,
            rate_current: self.rate,
            destination: self.destination.clone(),
            name: self.name.clone(),
            session_secs: u64::from(self.session_minutes) * 60,
            queue_secs: u64::from(self.queue_hours) * 3600,
            dynamic_throttle: self.dynamic_throttle,
            probe_url: self.probe_url.clone(),
            max_line: self.max_line.unwrap_or(DEFAULT_MAX_LINE),
        }
    }
}

/// The profile name of `beekeeper serve --demo`, which no profile may take.
pub const DEMO_PROFILE: &str = "demo";

pub fn validate_profile_name(s: &str) -> Result<(), ProfileError> {
    if s == DEMO_PROFILE {
        return Err(ProfileError::Reserved(s.to_string()));
    }
    let ok = (1..=32).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && !s.ends_with('-')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(ProfileError::ProfileName(s.to_string()))
    }
}

pub fn validate_room_name(s: &str) -> Result<(), ProfileError> {
    let n = s.trim().chars().count();
    if (1..=100).contains(&n) && !s.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(ProfileError::RoomName)
    }
}

pub fn validate_region(s: &str) -> Result<(), ProfileError> {
    if REGIONS.contains(&s) {
        Ok(())
    } else {
        Err(ProfileError::Region(s.to_string()))
    }
}

/// Returns the URL as it will be stored (normalised by the URL parser).
///
/// The stored form goes verbatim into JSON answers (the API Gateway
/// template cannot escape it), so it never holds a character JSON would
/// need escaped: the parser percent-encodes quotes and drops control
/// characters, and a backslash left in a query is refused.
pub fn validate_destination(s: &str) -> Result<String, ProfileError> {
    let err = || ProfileError::Destination(s.to_string());
    let url = url::Url::parse(s.trim()).map_err(|_| err())?;
    let host_ok = url.host_str().is_some_and(|h| !h.is_empty());
    if !matches!(url.scheme(), "http" | "https") || !host_ok || url.fragment().is_some() {
        return Err(err());
    }
    let url = url.to_string();
    if url.chars().any(|c| c == '"' || c == '\\' || c.is_control()) {
        return Err(err());
    }
    Ok(url)
}

pub fn validate_rate(s: &str) -> Result<u32, ProfileError> {
    match s.trim().parse::<u32>() {
        Ok(n) if (RATE_MIN..=RATE_MAX).contains(&n) => Ok(n),
        _ => Err(ProfileError::Rate(s.to_string())),
    }
}

/// The live config of a room, kept in the data store so that `off`, `on`,
/// `set-rate` and the throttle act within seconds, without a redeploy.
///
/// Its JSON (in `serve`'s database and in the plan) is camelCase; the
/// snake_case of earlier versions is still read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomConfig {
    pub enabled: bool,
    /// Set by the user.
    #[serde(alias = "rate_limit")]
    pub rate_limit: u32,
    /// Set by the throttle; never above `rate_limit`, never below the floor.
    #[serde(alias = "rate_current")]
    pub rate_current: u32,
    pub destination: String,
    pub name: String,
    #[serde(alias = "session_secs")]
    pub session_secs: u64,
    #[serde(alias = "queue_secs")]
    pub queue_secs: u64,
    /// Whether the throttle runs.
    #[serde(default, alias = "dynamic_throttle")]
    pub dynamic_throttle: bool,
    /// What the throttle probes; the destination when absent.
    #[serde(default, alias = "probe_url")]
    pub probe_url: Option<String>,
    /// The most visitors in line ([`Profile::max_line`]).
    #[serde(default = "default_max_line")]
    pub max_line: u64,
}

fn default_max_line() -> u64 {
    DEFAULT_MAX_LINE
}

#[cfg(test)]
impl RoomConfig {
    /// A room for the core's tests: `rate` a minute to
    /// https://shop.example/, one-minute sessions, no throttle.
    pub(crate) fn for_tests(rate: u32) -> RoomConfig {
        RoomConfig {
            enabled: true,
            rate_limit: rate,
            rate_current: rate,
            destination: "https://shop.example/".into(),
            name: "Sale".into(),
            session_secs: 60,
            queue_secs: 3600,
            dynamic_throttle: false,
            probe_url: None,
            max_line: DEFAULT_MAX_LINE,
        }
    }
}

impl RoomConfig {
    /// The config a room runs with after `serve` restarts or `deploy` runs
    /// again: the profile's settings (`set-rate` saves the rate there too,
    /// so the profile is where the user's rate lives), with the live
    /// switches the room holds kept, so neither undoes an `off` nor the
    /// throttle's cut. The throttle's current rate survives only while the
    /// limit it was cut from is unchanged; a new limit starts at the limit.
    pub fn resumed(stored: Option<&RoomConfig>, profile: &RoomConfig) -> RoomConfig {
        let Some(old) = stored else {
            return profile.clone();
        };
        RoomConfig {
            enabled: old.enabled,
            rate_current: if old.rate_limit == profile.rate_limit {
                old.rate_current.min(profile.rate_limit)
            } else {
                profile.rate_limit
            },
            ..profile.clone()
        }
    }

    /// The rate the trigger plans with this minute.
    pub fn effective_rate(&self) -> u32 {
        self.rate_current
            .clamp(RATE_MIN.min(self.rate_limit), self.rate_limit)
    }

    /// Seconds a visitor arriving now would wait behind `queue_depth`
    /// others: none when the room is off (they go straight through).
    /// `status` shows it for both rooms.
    pub fn wait_for_new_arrival(&self, queue_depth: u64) -> u64 {
        if !self.enabled {
            return 0;
        }
        crate::wait::estimated_wait_secs(queue_depth.saturating_add(1), self.effective_rate())
    }

    /// The URL the throttle probes.
    pub fn probe_target(&self) -> &str {
        self.probe_url.as_deref().unwrap_or(&self.destination)
    }

    /// Where an admitted visitor is sent: the destination with the token
    /// and the pass appended ([`crate::pass::Passes::destination`] makes
    /// the pass).
    pub fn destination_for(&self, token: &crate::Token, pass: &str) -> String {
        let sep = if self.destination.contains('?') {
            '&'
        } else {
            '?'
        };
        format!(
            "{}{sep}{}={token}&{}={pass}",
            self.destination,
            crate::names::DESTINATION_PARAM,
            crate::pass::DESTINATION_PARAM
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_room_config_stored_by_an_earlier_version_is_still_read() {
        let old = r#"{"enabled":false,"rate_limit":250,"rate_current":120,"destination":"https://shop.example/","name":"Sale","session_secs":1800,"queue_secs":3600,"dynamic_throttle":true}"#;
        let cfg: RoomConfig = serde_json::from_str(old).unwrap();
        assert_eq!(
            (cfg.enabled, cfg.rate_limit, cfg.rate_current),
            (false, 250, 120)
        );
        assert!(cfg.dynamic_throttle);
        let again: RoomConfig =
            serde_json::from_str(&serde_json::to_string(&cfg).unwrap()).unwrap();
        assert_eq!(again, cfg);
        assert!(serde_json::to_string(&cfg)
            .unwrap()
            .contains("\"rateLimit\":250"));
    }

    #[test]
    fn profile_names() {
        for ok in ["a", "tester", "black-friday-2026", &"a".repeat(32)] {
            assert_eq!(validate_profile_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "Tester",
            "1abc",
            "-abc",
            "abc-",
            "a_b",
            "a b",
            "ä",
            "demo",
            &"a".repeat(33),
        ] {
            assert!(validate_profile_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn destinations() {
        assert_eq!(
            validate_destination("https://shop.example.com").as_deref(),
            Ok("https://shop.example.com/")
        );
        assert!(validate_destination("http://127.0.0.1:8080/x?y=1").is_ok());
        for bad in [
            "",
            "shop.example.com",
            "ftp://x.y",
            "https://",
            "javascript:alert(1)",
            "https://x.y/#frag",
        ] {
            assert!(validate_destination(bad).is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn stored_destinations_never_need_json_escaping(s in "https?://[a-z]{1,8}\\.example(/[ -~]{0,20})?(\\?[ -~\\u{80}-\\u{10ffff}]{0,20})?") {
            if let Ok(d) = validate_destination(&s) {
                proptest::prop_assert_eq!(serde_json::to_string(&d).unwrap_or_default(), format!("\"{d}\""));
            }
        }
    }

    proptest::proptest! {
        /// Whatever a hand-edited profile holds, a destination that passes
        /// is the normalised one, with nothing a Location header or a JSON
        /// answer could not carry.
        #[test]
        fn a_validated_profile_holds_the_normalised_destination(
            pad in "[ \t]{0,3}",
            path in "[ -~]{0,12}",
            tail in "[ \t\n\r]{0,2}",
        ) {
            let mut p = room_profile();
            p.destination = format!("{pad}https://shop.example/{path}{tail}");
            if let Ok(v) = p.clone().validated() {
                proptest::prop_assert_eq!(&v.destination, &validate_destination(&p.destination).unwrap_or_default());
                proptest::prop_assert!(v.destination.bytes().all(|b| b.is_ascii_graphic()), "{:?}", v.destination);
                let loc = v.room_config().destination_for(&crate::Token::from_random([7; 16]), "a.b-_.c");
                proptest::prop_assert!(http::HeaderValue::from_str(&loc).is_ok(), "{:?}", loc);
            }
        }
    }

    #[test]
    fn a_padded_destination_is_used_trimmed() {
        let mut p = room_profile();
        p.destination = " https://shop.example/sale ".into();
        let v = p.validated().unwrap();
        assert_eq!(v.destination, "https://shop.example/sale");
        let t = crate::Token::from_random([0; 16]);
        assert_eq!(
            v.room_config().destination_for(&t, "P"),
            format!("https://shop.example/sale?bk_token={t}&bk_pass=P")
        );
    }

    #[test]
    fn rates() {
        assert_eq!(validate_rate("10"), Ok(10));
        assert_eq!(validate_rate(" 100000 "), Ok(100_000));
        for bad in ["9", "100001", "-5", "1.5", "ten", ""] {
            assert!(validate_rate(bad).is_err(), "{bad}");
        }
    }

    fn room_profile() -> Profile {
        Profile {
            name: "n".into(),
            region: DEFAULT_REGION.into(),
            destination: "https://x.y/sale".into(),
            rate: 600,
            dynamic_throttle: false,
            session_minutes: 30,
            queue_hours: 12,
            probe_url: None,
            secure_cookie: None,
            arrivals_per_client: None,
            trusted_proxies: Vec::new(),
            max_line: None,
        }
    }

    fn room(rate: u32) -> RoomConfig {
        Profile {
            name: "n".into(),
            region: DEFAULT_REGION.into(),
            destination: "https://x.y/sale".into(),
            rate,
            dynamic_throttle: true,
            session_minutes: 30,
            queue_hours: 12,
            probe_url: None,
            secure_cookie: None,
            arrivals_per_client: None,
            trusted_proxies: Vec::new(),
            max_line: None,
        }
        .room_config()
    }

    /// One rule for `serve` restarting and `deploy` running again.
    #[test]
    fn a_resumed_room_takes_the_profile_and_keeps_its_switches() {
        let profile = room(600);
        assert_eq!(RoomConfig::resumed(None, &profile), profile);

        // Off and throttled to 200, same limit: both kept, the rest from
        // the profile.
        let mut stored = room(600);
        stored.enabled = false;
        stored.rate_current = 200;
        stored.name = "old name".into();
        let r = RoomConfig::resumed(Some(&stored), &profile);
        assert!(!r.enabled);
        assert_eq!((r.rate_limit, r.rate_current), (600, 200));
        assert_eq!(r.name, profile.name);

        // The profile's limit changed (set-rate, or an edit): the rate is
        // the profile's, the throttle starts again from it; `off` is kept.
        let r = RoomConfig::resumed(Some(&stored), &room(900));
        assert!(!r.enabled);
        assert_eq!((r.rate_limit, r.rate_current), (900, 900));
        let r = RoomConfig::resumed(Some(&stored), &room(100));
        assert_eq!((r.rate_limit, r.rate_current), (100, 100));
    }

    #[test]
    fn the_wait_for_a_new_arrival() {
        let mut r = room(600);
        assert_eq!(r.wait_for_new_arrival(0), 1);
        assert_eq!(r.wait_for_new_arrival(599), 60);
        r.rate_current = 60;
        assert_eq!(r.wait_for_new_arrival(599), 600, "the current rate counts");
        r.enabled = false;
        assert_eq!(r.wait_for_new_arrival(599), 0, "off: straight through");
    }

    #[test]
    fn destination_keeps_existing_query() {
        let mut c = Profile {
            name: "n".into(),
            region: DEFAULT_REGION.into(),
            destination: "https://x.y/sale".into(),
            rate: 10,
            dynamic_throttle: false,
            session_minutes: 30,
            queue_hours: 12,
            probe_url: None,
            secure_cookie: None,
            arrivals_per_client: None,
            trusted_proxies: Vec::new(),
            max_line: None,
        }
        .room_config();
        let t = crate::Token::from_random([0; 16]);
        assert_eq!(
            c.destination_for(&t, "P"),
            format!("https://x.y/sale?bk_token={t}&bk_pass=P")
        );
        c.destination = "https://x.y/sale?a=1".into();
        assert_eq!(
            c.destination_for(&t, "P"),
            format!("https://x.y/sale?a=1&bk_token={t}&bk_pass=P")
        );
    }
}
