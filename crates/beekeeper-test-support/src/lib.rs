//! The harness of beekeeper's tests, a crate of its own so that every
//! test crate uses the same one (cargo's `cargo-test-support` is the
//! model): a moto server, the airspeed renderer and `cargo lambda watch`,
//! each started for one test on 127.0.0.1 ([`moto`], [`vtl`], [`watch`]);
//! a room's data plane laid out in moto ([`room`]); deploys and an
//! independent census of what they left ([`census`]); the values the
//! tests share ([`fixtures`]); a served room with its visitors and crowds
//! ([`served`]), an origin whose health the test switches ([`origin`]),
//! and headless Chromium ([`browser`]).
//!
//! Everything here runs inside a test, where a failed unwrap is a failed
//! test with its message.
#![allow(clippy::unwrap_used)]

pub mod browser;
pub mod census;
pub mod fixtures;
pub mod moto;
pub mod origin;
pub mod room;
pub mod served;
pub mod verifiers;
pub mod vtl;
pub mod watch;

pub use fixtures::{now_ms, room_config};
pub use moto::{artifacts, cargo_tool, free_port, tools_bin, Moto};
