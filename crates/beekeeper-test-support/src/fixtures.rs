//! Values the tests share.

use beekeeper_core::{Profile, RoomConfig};

/// A room admitting `rate` a minute to `https://shop.example/sale`.
pub fn room_config(rate: u32) -> RoomConfig {
    RoomConfig {
        enabled: true,
        rate_limit: rate,
        rate_current: rate,
        destination: "https://shop.example/sale".into(),
        name: "Test Sale".into(),
        session_secs: 1800,
        queue_secs: 43200,
        dynamic_throttle: false,
        probe_url: None,
        max_line: beekeeper_core::profile::DEFAULT_MAX_LINE,
    }
}

/// The profile "Big Sale" in eu-west-1 at 600 a minute.
pub fn profile(dynamic_throttle: bool) -> Profile {
    Profile {
        name: "Big Sale".into(),
        region: "eu-west-1".into(),
        destination: "https://shop.example/sale".into(),
        rate: 600,
        dynamic_throttle,
        session_minutes: 30,
        queue_hours: 12,
        probe_url: None,
        secure_cookie: None,
        arrivals_per_client: None,
        trusted_proxies: Vec::new(),
        max_line: None,
    }
}

/// A file of the AWS crate's tests/fixtures.
pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../beekeeper-aws/tests/fixtures")
            .join(name),
    )
    .unwrap()
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}
