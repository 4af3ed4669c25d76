//! Probes of the destination for the dynamic rate throttle: a few requests
//! a minute, spread over it, never more than one in flight. A 2xx or 3xx
//! answer within the timeout is healthy (a destination that redirects is
//! not failing); anything else, or no answer in time, is a failure.

use std::time::{Duration, Instant};

use beekeeper_core::throttle::{Probe, PROBES_PER_MINUTE, PROBE_TIMEOUT_MS};

pub struct Prober {
    client: reqwest::Client,
}

/// The HTTP client could not be set up (no TLS roots, for one). The
/// throttle then does not run: a client without the timeout and the
/// no-redirect policy would measure something else.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the throttle's HTTP client: {0}")]
pub struct ProbeError(#[from] reqwest::Error);

impl Prober {
    pub fn new() -> Result<Prober, ProbeError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_millis(u64::from(PROBE_TIMEOUT_MS)))
            .user_agent(concat!("beekeeper-throttle/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Prober { client })
    }

    /// One request; its latency counts until the answer's head arrived.
    pub async fn probe(&self, url: &str) -> Probe {
        let start = Instant::now();
        let answer = self.client.get(url).send().await;
        let latency_ms = start.elapsed().as_millis().min(u128::from(u32::MAX)) as u32;
        match answer {
            Ok(r) if r.status().is_success() || r.status().is_redirection() => Probe {
                latency_ms,
                ok: true,
            },
            Ok(r) => {
                tracing::info!(status = r.status().as_u16(), "probe answered with an error");
                Probe {
                    latency_ms,
                    ok: false,
                }
            }
            Err(e) => {
                tracing::info!("probe failed: {e}");
                Probe {
                    latency_ms: latency_ms.max(PROBE_TIMEOUT_MS),
                    ok: false,
                }
            }
        }
    }

    /// [`PROBES_PER_MINUTE`] probes spread evenly over `window`, one at a time.
    pub async fn minute(&self, url: &str, window: Duration) -> Vec<Probe> {
        let start = tokio::time::Instant::now();
        let spacing = window / PROBES_PER_MINUTE as u32;
        let mut probes = Vec::with_capacity(PROBES_PER_MINUTE);
        for i in 0..PROBES_PER_MINUTE as u32 {
            tokio::time::sleep_until(start + spacing * i).await;
            probes.push(self.probe(url).await);
        }
        probes
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use axum::routing::get;
    use axum::Router;

    use super::*;

    async fn origin() -> String {
        let app = Router::new()
            .route("/ok", get(|| async { "fine" }))
            .route(
                "/moved",
                get(|| async { (StatusCode::FOUND, [("location", "/ok")]) }),
            )
            .route("/broken", get(|| async { StatusCode::SERVICE_UNAVAILABLE }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    "late"
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn healthy_redirecting_failing_slow_and_unreachable() {
        let base = origin().await;
        let p = Prober::new().unwrap();
        assert!(p.probe(&format!("{base}/ok")).await.ok);
        assert!(
            p.probe(&format!("{base}/moved")).await.ok,
            "a redirect is healthy"
        );
        assert!(!p.probe(&format!("{base}/broken")).await.ok);
        let slow = p.probe(&format!("{base}/slow")).await;
        assert!(slow.ok && slow.latency_ms >= 300, "{slow:?}");
        let gone = p.probe("http://127.0.0.1:9/").await;
        assert!(!gone.ok && gone.latency_ms >= PROBE_TIMEOUT_MS);
    }

    #[tokio::test]
    async fn a_minute_of_probes_is_spread_and_sequential() {
        let base = origin().await;
        let start = Instant::now();
        let probes = Prober::new()
            .unwrap()
            .minute(&format!("{base}/slow"), Duration::from_millis(1200))
            .await;
        assert_eq!(probes.len(), PROBES_PER_MINUTE);
        // Six 300 ms probes one after the other, the last one starting at 1 s.
        assert!(
            start.elapsed() >= Duration::from_millis(1300),
            "{:?}",
            start.elapsed()
        );
    }
}
