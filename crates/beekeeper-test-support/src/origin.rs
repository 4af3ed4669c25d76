//! An origin whose health the test switches: `GET /health` answers the
//! status it is set to (healthy, failing, healthy again), for the throttle
//! of both rooms.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;

pub struct Origin {
    /// The URL the throttle probes.
    pub url: String,
    status: Arc<AtomicU16>,
}

impl Origin {
    /// Starts answering `200` on a port of its own (127.0.0.1).
    pub async fn start() -> Origin {
        let status = Arc::new(AtomicU16::new(200));
        let s = status.clone();
        let app = axum::Router::new().route(
            "/health",
            axum::routing::get(move || {
                let s = s.clone();
                async move { axum::http::StatusCode::from_u16(s.load(Ordering::Relaxed)).unwrap() }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/health", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Origin { url, status }
    }

    /// From now on `GET /health` answers `status`.
    pub fn answer(&self, status: u16) {
        self.status.store(status, Ordering::Relaxed);
    }
}
