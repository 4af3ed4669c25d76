//! Admission, as a task: one [`Pacer`] for the whole room, ticking 600
//! times a minute and admitting, in one transaction per tick, what it
//! allows.
//!
//! The pacer runs without end (the room's rate is a property of every
//! sliding minute, not of the room's own minutes), so nothing resets at a
//! minute's start; a rate change (`set-rate`, the throttle) retargets it
//! and keeps what it has in hand. A tick whose transaction fails keeps its
//! slots for the next ticks; one that finds the line short lets go of all
//! but the burst. While the room is off nobody is admitted here (waiting
//! visitors go through at their next poll) and, as for an empty line, the
//! pacer keeps no more than its burst.

use std::sync::Arc;
use std::time::Duration;

use beekeeper_core::{Pacer, RoomConfig};
use tokio::sync::watch;
use tokio::time::{sleep_until, Instant};

use crate::now_ms;
use crate::store::Store;

/// Ticks per minute: a tick every 100 ms of a real minute.
const TICKS: u32 = 600;

pub(crate) async fn run(store: Store, config: watch::Receiver<Arc<RoomConfig>>, minute: Duration) {
    let minute_ms = minute.as_millis() as u64;
    let tick_ns = (minute / TICKS).as_nanos() as u64;
    let origin = Instant::now();
    let elapsed = || (Instant::now() - origin).as_millis() as u64;
    let mut pacer = Pacer::continuous(config.borrow().effective_rate(), minute_ms, 0);
    let mut admitted_this_minute = 0u64;
    for k in 1u64.. {
        sleep_until(origin + Duration::from_nanos(tick_ns.saturating_mul(k))).await;
        let cfg = config.borrow().clone();
        let now = elapsed();
        if cfg.effective_rate() != pacer.quota() {
            pacer.retarget(cfg.effective_rate(), now);
            tracing::info!(rate = cfg.effective_rate(), "rate changed");
        }
        if cfg.enabled {
            admitted_this_minute += u64::from(tick_once(&store, &cfg, &mut pacer, now).await);
        } else {
            // Off is an empty line: no slots pile up for when it is on again.
            pacer.record(now, 0);
        }
        if k % u64::from(TICKS) == 0 {
            tracing::info!(
                admitted = admitted_this_minute,
                rate = pacer.quota(),
                "minute ends"
            );
            admitted_this_minute = 0;
        }
    }
}

/// One tick: admit what the pacer allows, in one transaction.
async fn tick_once(store: &Store, cfg: &RoomConfig, pacer: &mut Pacer, elapsed: u64) -> u32 {
    let want = pacer.allowance(elapsed);
    if want == 0 {
        return 0;
    }
    let now = now_ms();
    let expires_at = now / 1000 + cfg.session_secs;
    let got = match store.admit(want, now, expires_at).await {
        Ok(n) => n,
        Err(e) => {
            // Nothing was admitted (the transaction rolled back); the slots
            // stay in hand, up to the burst, for the next ticks.
            tracing::warn!("admission failed, retrying next tick: {e}");
            return 0;
        }
    };
    pacer.record(elapsed, got);
    got
}
