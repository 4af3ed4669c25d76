//! The names both backends (and the room page) must agree on.

/// Cookie holding the visitor's place in line.
pub const COOKIE: &str = "bk_token";
/// Query parameter carrying the token to the destination.
pub const DESTINATION_PARAM: &str = "bk_token";

/// Entry route: the URL that goes into marketing emails.
pub const ROUTE_ENTRY: &str = "/beekeeper";
/// Room page prefix; the producer redirects to `room/` relative to the entry.
pub const ROUTE_ROOM: &str = "/room";
/// Where the producer sends visitors, relative to the entry route. The page
/// is named, not `room/`, so every router (API Gateway's included) agrees on
/// the resource.
pub const ROOM_PAGE: &str = "room/index.html";
/// The entry route as the room page reaches it: where `/polling` sends a
/// waiting visitor when the room is off, so that the entry releases them
/// with a token (the same relative URL works under any stage or prefix).
pub const ENTRY_FROM_ROOM: &str = "../beekeeper";
/// Poll route used by the room page.
pub const ROUTE_POLL: &str = "/polling";
/// Client-check route for the origin backend; the token follows.
pub const ROUTE_CLIENT_CHECK: &str = "/client-check";

/// Query parameters the producer adds to the room page URL.
pub const ROOM_PARAM_POSITION: &str = "p";
pub const ROOM_PARAM_WAIT: &str = "w";

/// Lowest admit rate per minute (the throttle never goes below it either).
pub const RATE_MIN: u32 = 10;
/// Highest admit rate per minute a profile may ask for.
pub const RATE_MAX: u32 = 100_000;

/// Tag every AWS resource of a profile carries.
pub const TAG_PROFILE: &str = "beekeeper:profile";

/// Deterministic name of one part of a profile's room: `beekeeper-{profile}-{part}`.
pub fn resource_name(profile: &str, part: &str) -> String {
    format!("beekeeper-{profile}-{part}")
}

/// Environment of the Lambdas, set by the deployer.
pub mod env {
    pub const QUEUE_URL: &str = "BEEKEEPER_QUEUE_URL";
    pub const TOKENS_TABLE: &str = "BEEKEEPER_TOKENS_TABLE";
    pub const CONFIG_TABLE: &str = "BEEKEEPER_CONFIG_TABLE";
    pub const CONSUMER_FUNCTION: &str = "BEEKEEPER_CONSUMER_FUNCTION";
    /// The SecureString parameter holding the pass keys (producer and
    /// consumer: they sign).
    pub const PASS_KEYS: &str = "BEEKEEPER_PASS_KEYS";
}

/// The SSM parameter holding a deployed room's pass keys
/// ([`crate::pass::KeyRing`] as JSON, SecureString).
pub fn pass_keys_parameter(profile: &str) -> String {
    format!("/beekeeper/{profile}/pass-keys")
}

/// The key of the room's JWKS in the assets bucket.
pub const JWKS_OBJECT: &str = "jwks.json";

/// Memory of each Lambda, in MB: what `deploy` sets and what the capacity
/// model bills.
pub mod memory_mb {
    pub const PRODUCER: u32 = 256;
    pub const TRIGGER: u32 = 128;
    pub const CONSUMER: u32 = 128;
    pub const THROTTLE: u32 = 128;
}

/// The admitted-tokens table: one item per admitted visitor.
pub mod tokens {
    /// Partition key (S): the token.
    pub const KEY: &str = "token";
    /// N, epoch seconds.
    pub const ADMITTED_AT: &str = "admitted_at";
    /// N, epoch seconds: the token is valid while now < expires_at.
    pub const EXPIRES_AT: &str = "expires_at";
    /// N, epoch seconds: when `POST /client-check/{token}` used the
    /// admission (absent until then).
    pub const REDEEMED_AT: &str = "redeemed_at";
    /// S: the destination with the token appended, what `/polling` answers.
    pub const ORIGIN: &str = "origin";
    /// N, epoch seconds: DynamoDB's TTL attribute. It outlives `expires_at`
    /// by the queue lifetime, so a visitor coming back with an expired
    /// admission is recognised (and queues again) for as long as the
    /// cookie lives.
    pub const TTL: &str = "ttl";
}

/// The room config table: the config item, the throttle's item and the
/// switch's copies.
pub mod config {
    pub const KEY: &str = "id";
    pub const ID: &str = "room";
    pub const ENABLED: &str = "enabled";
    pub const RATE_LIMIT: &str = "rate_limit";
    pub const RATE_CURRENT: &str = "rate_current";
    pub const DESTINATION: &str = "destination";
    pub const NAME: &str = "name";
    pub const SESSION_SECS: &str = "session_secs";
    pub const QUEUE_SECS: &str = "queue_secs";
    pub const DYNAMIC_THROTTLE: &str = "dynamic_throttle";
    pub const PROBE_URL: &str = "probe_url";
    /// N: the most visitors in line (absent: the default).
    pub const MAX_LINE: &str = "max_line";
    /// A second item: the throttle's memory and its last decision (S, JSON).
    pub const THROTTLE_ID: &str = "throttle";
    pub const THROTTLE_STATE: &str = "state";
    pub const THROTTLE_LAST: &str = "last";
    /// Copies of `enabled` that `/polling` reads on AWS, one per first hex
    /// digit of the visitor's token (`switch-0` … `switch-f`; `switch-0`
    /// without a token): a single item can serve only about 6,000
    /// eventually consistent reads a second, sixteen spread the line's
    /// polls beyond what API Gateway lets through.
    pub const SWITCH_PREFIX: &str = "switch-";
    pub const SWITCH_SHARDS: &str = "0123456789abcdef";
    /// The minute ledger: two items, `minute-0` and `minute-1`, one for
    /// even minutes and one for odd. The trigger opens the minute's item
    /// once (a second delivery of the same minute finds it open and starts
    /// nobody); each consumer claims its order in it (`o{slot}`) and adds
    /// its admissions to the minute's buckets (`b0` … `b119`, see
    /// `pace::Carry`), which the next minute's trigger reads as its carry.
    pub const LEDGER_PREFIX: &str = "minute-";
    /// N: the start of the minute the item holds (epoch ms).
    pub const LEDGER_START: &str = "start";
    pub const LEDGER_BUCKET_PREFIX: &str = "b";
    pub const LEDGER_CLAIM_PREFIX: &str = "o";
}
