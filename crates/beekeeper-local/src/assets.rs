//! The demo destination page; the room page itself comes from
//! `beekeeper_core::page`, shared with the AWS deployer.

/// The demo destination: it checks its visitor's token the way an origin
/// backend would, and says whether the visitor came through the line.
pub(crate) const DEMO_PAGE: &str = include_str!("demo.html");
