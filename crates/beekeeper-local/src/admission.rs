//! The every-minute trigger and its consumers, as tasks.
//!
//! Each minute the trigger reads the current rate and asks the core for the
//! fan-out plan; each planned consumer gets a [`Pacer`] with its quota. The
//! consumers of one minute share one loop that ticks 600 times a minute and
//! admits, in one transaction per tick, what their pacers allow.

use std::sync::Arc;
use std::time::Duration;

use beekeeper_core::plan::{fan_out, CONSUMER_CAPACITY};
use beekeeper_core::{Pacer, RoomConfig};
use tokio::sync::watch;
use tokio::time::{sleep_until, Instant};

use crate::now_ms;
use crate::store::Store;

/// Ticks per minute; the pacers' catch-up horizon (1/120) spans five ticks.
const TICKS: u32 = 600;

pub(crate) async fn run(store: Store, config: watch::Receiver<Arc<RoomConfig>>, minute: Duration) {
    let minute_ms = minute.as_millis() as u64;
    let tick = minute / TICKS;
    let mut start = Instant::now();
    loop {
        let cfg = config.borrow().clone();
        let mut rate = cfg.effective_rate();
        let mut pacers: Vec<Pacer> = plan(rate, minute_ms);
        tracing::info!(rate, consumers = pacers.len(), "minute starts");
        let mut admitted_this_minute = 0u64;
        for k in 1..=TICKS {
            sleep_until(start + tick * k).await;
            let cfg = config.borrow().clone();
            let elapsed = (Instant::now() - start)
                .as_millis()
                .min(u128::from(minute_ms)) as u64;
            let elapsed = if k == TICKS { minute_ms } else { elapsed };
            if cfg.effective_rate() != rate {
                rate = cfg.effective_rate();
                pacers = plan(rate, minute_ms)
                    .iter()
                    .map(|p| p.retarget(p.quota(), elapsed))
                    .collect();
                tracing::info!(rate, "rate changed mid-minute");
            }
            if !cfg.enabled {
                continue;
            }
            admitted_this_minute += u64::from(tick_once(&store, &cfg, &mut pacers, elapsed).await);
        }
        tracing::info!(admitted = admitted_this_minute, rate, "minute ends");
        start += minute;
    }
}

fn plan(rate: u32, minute_ms: u64) -> Vec<Pacer> {
    fan_out(rate, CONSUMER_CAPACITY)
        .into_iter()
        .map(|q| Pacer::new(q, 0, minute_ms))
        .collect()
}

/// One tick: ask every consumer's pacer, admit the sum in one transaction,
/// and credit the admitted visitors to the consumers in plan order.
async fn tick_once(store: &Store, cfg: &RoomConfig, pacers: &mut [Pacer], elapsed: u64) -> u32 {
    let wants: Vec<u32> = pacers.iter_mut().map(|p| p.allowance(elapsed)).collect();
    let total: u32 = wants.iter().sum();
    if total == 0 {
        return 0;
    }
    let now = now_ms();
    let expires_ms = now + cfg.session_secs * 1000;
    let got = match store.admit(total, now, expires_ms).await {
        Ok(n) => n,
        Err(e) => {
            // Nothing was admitted (the transaction rolled back); the slots
            // are caught up on the next ticks.
            tracing::warn!("admission failed, retrying next tick: {e}");
            return 0;
        }
    };
    let mut left = got;
    for (p, want) in pacers.iter_mut().zip(wants) {
        let n = want.min(left);
        p.record(elapsed, n);
        left -= n;
    }
    got
}
