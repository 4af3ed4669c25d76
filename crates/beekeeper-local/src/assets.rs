//! The demo destination page; the room page itself comes from
//! `beekeeper_core::page`, shared with the AWS deployer.

/// The demo destination: it checks its visitor's token the way an origin
/// backend would, and says whether the visitor came through the line.
pub(crate) const DEMO_PAGE: &str = include_str!("demo.html");

pub(crate) fn find(name: &str) -> Option<(&'static str, &'static str)> {
    beekeeper_core::page::ASSETS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, ct, body)| (*ct, *body))
}
