//! The dynamic rate throttle in `serve`: every minute, probe the
//! destination, ask the core's controller, and store the new current rate
//! (the server picks it up like any config change).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use beekeeper_core::throttle::decide;
use beekeeper_core::RoomConfig;
use beekeeper_probe::Prober;
use tokio::sync::watch;

use crate::store::Control;

pub(crate) async fn run(
    data_dir: PathBuf,
    config: watch::Receiver<Arc<RoomConfig>>,
    minute: Duration,
) {
    let prober = match Prober::new() {
        Ok(p) => p,
        Err(e) => {
            tracing::error!("throttle stopped: {e}");
            return;
        }
    };
    let mut control = match Control::open(&data_dir) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("throttle stopped: {e}");
            return;
        }
    };
    loop {
        let seen = config.borrow().clone();
        if !seen.dynamic_throttle || !seen.enabled {
            tokio::time::sleep(minute).await;
            continue;
        }
        let probes = prober.minute(seen.probe_target(), minute).await;
        let state = match control.throttle() {
            Ok((state, _)) => state,
            Err(e) => {
                tracing::warn!("cannot read the throttle's state: {e}");
                continue;
            }
        };
        let d = decide(&probes, &state, seen.rate_current, seen.rate_limit);
        tracing::info!(verdict = ?d.verdict, median_ms = ?d.median_ms, failed = d.failed, rate = d.rate, "throttle");
        if let Err(e) = control.apply_throttle(&seen, &d) {
            tracing::warn!("cannot store the throttle's decision: {e}");
        }
    }
}
