//! The room config from another process: `off`, `on`, `set-rate` and
//! `status` write and read the database the server watches.

use std::path::{Path, PathBuf};

use beekeeper_core::{throttle, RoomConfig};
use rusqlite::{params, OptionalExtension};

use super::schema::{read_config, stats, write_config, Stats};
use super::{connect, Result, StoreError, DB_FILE};
use rusqlite::Connection;

/// Room config access for `off`, `on`, `set-rate` and `status` from another
/// process: they write the same database the server reads every few hundred
/// milliseconds.
pub struct Control {
    conn: Connection,
}

impl Control {
    /// Opens an existing room; refuses to create one.
    pub fn open(data_dir: &Path) -> Result<Control> {
        let path = data_dir.join(DB_FILE);
        if !path.exists() {
            return Err(StoreError::NoRoom(data_dir.to_path_buf()));
        }
        Ok(Control {
            conn: connect(&path)?,
        })
    }

    pub fn config(&self) -> Result<RoomConfig> {
        read_config(&self.conn)?.ok_or_else(|| StoreError::NoRoom(PathBuf::new()))
    }

    /// Applies `change` to the config in one transaction.
    pub fn update(&mut self, change: impl FnOnce(&mut RoomConfig)) -> Result<RoomConfig> {
        let tx = self.conn.transaction()?;
        let mut cfg = read_config(&tx)?.ok_or_else(|| StoreError::NoRoom(PathBuf::new()))?;
        change(&mut cfg);
        write_config(&tx, &cfg)?;
        tx.commit()?;
        Ok(cfg)
    }

    pub fn stats(&self, now_ms: u64) -> Result<Stats> {
        stats(&self.conn, now_ms)
    }

    /// The throttle's memory and its last decision, if it ran.
    pub fn throttle(&self) -> Result<(throttle::State, Option<throttle::Decision>)> {
        let row: Option<(String, String)> = self
            .conn
            .query_row("SELECT state, last FROM throttle WHERE id = 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        match row {
            Some((state, last)) => Ok((
                serde_json::from_str(&state)?,
                Some(serde_json::from_str(&last)?),
            )),
            None => Ok((throttle::State::default(), None)),
        }
    }

    /// Applies the throttle's decision, made from `seen` (the config it read
    /// before probing). If `set-rate` changed the rates meanwhile, the user
    /// wins: only the throttle's memory is kept, the rate is left alone.
    pub fn apply_throttle(
        &mut self,
        seen: &RoomConfig,
        d: &throttle::Decision,
    ) -> Result<RoomConfig> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut cfg = read_config(&tx)?.ok_or_else(|| StoreError::NoRoom(PathBuf::new()))?;
        if let Some(rate) = throttle::rate_to_store(seen, &cfg, d.rate) {
            cfg.rate_current = rate;
            write_config(&tx, &cfg)?;
        }
        tx.execute(
            "INSERT INTO throttle (id, state, last) VALUES (1, ?1, ?2)
             ON CONFLICT(id) DO UPDATE SET state = excluded.state, last = excluded.last",
            params![serde_json::to_string(&d.state)?, serde_json::to_string(d)?],
        )?;
        tx.commit()?;
        Ok(cfg)
    }
}
