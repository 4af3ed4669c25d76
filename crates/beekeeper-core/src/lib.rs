//! Decision logic of the beekeeper waiting room.
//!
//! Everything here is pure: no clock, no randomness, no network, no disk. The
//! callers (the local server, the Lambdas) pass in the time and the random
//! bytes, so both backends take the same decisions for the same inputs.

pub mod answer;
pub mod entry;
pub mod gate;
pub mod names;
pub mod pace;
pub mod page;
pub mod pass;
pub mod plan;
pub mod profile;
pub mod throttle;
pub mod token;
pub mod wait;

pub use answer::{ClientCheck, Poll};
pub use pace::Pacer;
pub use plan::fan_out;
pub use profile::{Profile, ProfileError, RoomConfig};
pub use token::Token;
