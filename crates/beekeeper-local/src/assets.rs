//! The room page, embedded from `waiting-room-assets/` (the same files the
//! AWS deployer uploads to the assets bucket).

/// The page template; its room name slot is filled once at start.
pub(crate) const INDEX_TEMPLATE: &str = include_str!("../../../waiting-room-assets/index.html");

/// (name, content type, body), besides `index.html`. Only these names are ever served: a request
/// for anything else under `/room/` is a 404, so there is no path to walk.
pub(crate) const ROOM: &[(&str, &str, &str)] = &[
    (
        "room.css",
        "text/css; charset=utf-8",
        include_str!("../../../waiting-room-assets/room.css"),
    ),
    (
        "room.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../waiting-room-assets/room.js"),
    ),
    (
        "schedule.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../waiting-room-assets/schedule.js"),
    ),
];

/// The demo destination: it checks its visitor's token the way an origin
/// backend would, and says whether the visitor came through the line.
pub(crate) const DEMO_PAGE: &str = include_str!("demo.html");

pub(crate) fn find(name: &str) -> Option<(&'static str, &'static str)> {
    ROOM.iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, ct, body)| (*ct, *body))
}
