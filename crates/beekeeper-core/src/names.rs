//! The names both backends (and the room page) must agree on.

/// Cookie holding the visitor's place in line.
pub const COOKIE: &str = "bk_token";
/// Query parameter carrying the token to the destination.
pub const DESTINATION_PARAM: &str = "bk_token";

/// Entry route: the URL that goes into marketing emails.
pub const ROUTE_ENTRY: &str = "/beekeeper";
/// Room page prefix; the producer redirects to `room/` relative to the entry.
pub const ROUTE_ROOM: &str = "/room";
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
