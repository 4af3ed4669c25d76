//! The beekeeper waiting room on one machine.
//!
//! The same routes and answers as the AWS room, backed by an embedded
//! durable store, with the every-minute trigger and its consumers running as
//! tasks in the same process.

mod admission;
mod assets;
pub mod keys;
pub mod limit;
mod lock;
mod server;
pub mod store;
mod throttle;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use beekeeper_core::RoomConfig;

pub use server::{
    Serving, CONNECTIONS_PER_CLIENT, HEADER_READ_TIMEOUT, MAX_CONNECTIONS, SHUTDOWN_DEADLINE,
};
pub use store::{Control, Stats, StoreError};

/// Environment variable that shortens the room's minute, for tests only: the
/// trigger, the pacing and its ticks all scale with it, nothing else changes.
pub const MINUTE_MS_ENV: &str = "BEEKEEPER_MINUTE_MS";

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source} (hint: pick another address with --listen)")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is in use by another beekeeper serve ({holder}) (hint: stop it first, or pass another --data-dir)")]
    Busy { path: PathBuf, holder: String },
    #[error(transparent)]
    Keys(#[from] keys::KeysError),
    #[error("server error: {0}")]
    Serve(std::io::Error),
}

/// What `beekeeper serve` runs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The profile's name: the `room` of every pass.
    pub profile: String,
    pub room: RoomConfig,
    pub listen: String,
    pub data_dir: PathBuf,
    /// Also serve the demo destination at `/demo/`.
    pub demo: bool,
    /// Length of the room's minute; 60 s except in tests (see [`MINUTE_MS_ENV`]).
    pub minute: Duration,
    /// The profile's `secure_cookie` ([`beekeeper_core::entry::secure_cookie`]).
    pub secure_cookie: Option<bool>,
    /// Places a minute one client address may take (0: no limit).
    pub arrivals_per_client: u32,
    /// Proxies whose `X-Forwarded-For` names the client
    /// ([`beekeeper_core::gate::client_address`]).
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// The room's clock in epoch milliseconds.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Reads the test-only minute override; 60 s otherwise.
pub fn minute_from_env() -> Duration {
    std::env::var(MINUTE_MS_ENV)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|&ms| ms >= 600)
        .map_or(Duration::from_secs(60), Duration::from_millis)
}

/// Opens the store, binds the address and starts the room. The returned
/// handle knows the bound address; await [`Serving::run`] to serve.
pub async fn start(cfg: ServeConfig) -> Result<Serving, LocalError> {
    let lock = lock::DataDir::take(&cfg.data_dir)?;
    let listener = tokio::net::TcpListener::bind(&cfg.listen)
        .await
        .map_err(|source| LocalError::Bind {
            addr: cfg.listen.clone(),
            source,
        })?;
    let addr: SocketAddr = listener.local_addr().map_err(LocalError::Serve)?;
    lock.name_holder(&format!("pid {}, http://{addr}", std::process::id()));
    let mut room = cfg.room.clone();
    if cfg.demo {
        room.destination = format!("http://{addr}/demo/");
    }
    let store = store::Store::open(&cfg.data_dir, &room)?;
    let ring = keys::open(&cfg.data_dir, &format!("http://{addr}"), &cfg.profile)?;
    server::start(listener, addr, store, ring, lock, cfg)
}
