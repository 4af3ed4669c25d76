//! The every-minute trigger and its consumers, as tasks.
//!
//! Each minute the room's rate is read and the core plans the minute's
//! orders with what the room admitted in the minute before
//! ([`RoomPacer`]); one loop ticks 600 times a minute and admits, in one
//! transaction per tick, what the orders allow. The sliding-window
//! promises hold across minutes because the room's last minute is carried.

use std::sync::Arc;
use std::time::Duration;

use beekeeper_core::pace::RoomPacer;
use beekeeper_core::RoomConfig;
use tokio::sync::watch;
use tokio::time::{sleep_until, Instant};

use crate::now_ms;
use crate::store::Store;

/// Ticks per minute: the 5-second cap spans fifty of them.
const TICKS: u32 = 600;

pub(crate) async fn run(store: Store, config: watch::Receiver<Arc<RoomConfig>>, minute: Duration) {
    let minute_ms = minute.as_millis() as u64;
    let tick = minute / TICKS;
    let origin = Instant::now();
    // The pacer's clock: milliseconds since the loop started.
    let at = |i: Instant| (i - origin).as_millis() as u64;
    let mut room = RoomPacer::new(minute_ms);
    let mut start = origin;
    loop {
        let rate = config.borrow().effective_rate();
        room.start_minute(rate, at(start));
        tracing::info!(rate, consumers = room.consumers(), "minute starts");
        let mut admitted_this_minute = 0u64;
        for k in 1..=TICKS {
            sleep_until(start + tick * k).await;
            let cfg = config.borrow().clone();
            let now = at(Instant::now()).min(at(start) + minute_ms - 1);
            if cfg.effective_rate() != room.rate() {
                room.set_rate(cfg.effective_rate(), now);
                tracing::info!(rate = room.rate(), "rate changed mid-minute");
            }
            if !cfg.enabled {
                room.idle(now);
                continue;
            }
            admitted_this_minute += u64::from(tick_once(&store, &cfg, &mut room, now).await);
        }
        tracing::info!(admitted = admitted_this_minute, rate, "minute ends");
        start += minute;
    }
}

/// One tick: ask the orders, admit their sum in one transaction, and
/// credit what was admitted to them.
async fn tick_once(store: &Store, cfg: &RoomConfig, room: &mut RoomPacer, now: u64) -> u32 {
    let wants = room.allowance(now);
    let total: u32 = wants.iter().sum();
    if total == 0 {
        return 0;
    }
    let wall = now_ms();
    let expires_ms = wall + cfg.session_secs * 1000;
    match store.admit(total, wall, expires_ms).await {
        Ok(got) => {
            room.record(now, &wants, got);
            got
        }
        Err(e) => {
            // Nothing was admitted (the transaction rolled back); the slots
            // stay owed and are made up on the next ticks.
            tracing::warn!("admission failed, retrying next tick: {e}");
            0
        }
    }
}
