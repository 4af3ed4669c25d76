//! The tables of the room database and the reads and writes of the room
//! config that both the server and `Control` make.

use rusqlite::{params, Connection, OptionalExtension};

use super::Result;
use beekeeper_core::RoomConfig;

/// Every time in the tables is in epoch milliseconds.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS queue (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    token TEXT NOT NULL,
    enqueued_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS admitted (
    token TEXT PRIMARY KEY,
    admitted_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    -- When `POST /client-check/{token}` used the admission; NULL until then.
    redeemed_ms INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS admitted_by_time ON admitted(admitted_ms);
CREATE INDEX IF NOT EXISTS admitted_by_expiry ON admitted(expires_ms);
CREATE TABLE IF NOT EXISTS room (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    config TEXT NOT NULL,
    version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS throttle (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    state TEXT NOT NULL,
    last TEXT NOT NULL
);
";

/// The schema's version (`PRAGMA user_version`): 1 since every time is in
/// milliseconds (before, `admitted.expires_at` held seconds), 2 since an
/// admission records its redemption (`admitted.redeemed_ms`).
const VERSION: i64 = 2;

/// Creates the tables, or brings a database of an earlier version up to
/// this one, in one transaction: a crash leaves either version whole.
pub(super) fn create_or_migrate(conn: &mut Connection) -> Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version >= VERSION {
        return Ok(());
    }
    let tx = conn.transaction()?;
    let seconds = tx
        .prepare("SELECT 1 FROM pragma_table_info('admitted') WHERE name = 'expires_at'")?
        .exists([])?;
    if seconds {
        tx.execute_batch(
            "DROP INDEX IF EXISTS admitted_by_expiry;
             ALTER TABLE admitted RENAME COLUMN expires_at TO expires_ms;
             UPDATE admitted SET expires_ms = expires_ms * 1000;",
        )?;
    }
    let unredeemable = tx
        .prepare("SELECT 1 FROM pragma_table_info('admitted')")?
        .exists([])?
        && !tx
            .prepare("SELECT 1 FROM pragma_table_info('admitted') WHERE name = 'redeemed_ms'")?
            .exists([])?;
    if unredeemable {
        tx.execute_batch("ALTER TABLE admitted ADD COLUMN redeemed_ms INTEGER;")?;
    }
    tx.execute_batch(SCHEMA)?;
    tx.pragma_update(None, "user_version", VERSION)?;
    tx.commit()?;
    Ok(())
}

/// Figures `status` reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Stats {
    pub queue_depth: u64,
    pub admitted_last_minute: u64,
    pub admitted_total: u64,
}

pub(super) fn read_config(conn: &Connection) -> Result<Option<RoomConfig>> {
    let json: Option<String> = conn
        .query_row("SELECT config FROM room WHERE id = 1", [], |r| r.get(0))
        .optional()?;
    Ok(json.map(|j| serde_json::from_str(&j)).transpose()?)
}

pub(super) fn write_config(conn: &Connection, cfg: &RoomConfig) -> Result<()> {
    conn.execute(
        "INSERT INTO room (id, config, version) VALUES (1, ?1, 1)
         ON CONFLICT(id) DO UPDATE SET config = excluded.config, version = version + 1",
        params![serde_json::to_string(cfg)?],
    )?;
    Ok(())
}

pub(super) fn stats(conn: &Connection, now_ms: u64) -> Result<Stats> {
    let count = |sql: &str, p: &[&dyn rusqlite::ToSql]| -> Result<u64> {
        Ok(conn.query_row(sql, p, |r| r.get::<_, i64>(0))? as u64)
    };
    let since = now_ms.saturating_sub(60_000) as i64;
    Ok(Stats {
        queue_depth: count("SELECT count(*) FROM queue", &[])?,
        admitted_last_minute: count(
            "SELECT count(*) FROM admitted WHERE admitted_ms > ?1",
            &[&since],
        )?,
        admitted_total: count("SELECT count(*) FROM admitted", &[])?,
    })
}

pub(super) fn queue_head(conn: &Connection) -> Result<u64> {
    let head: Option<i64> = conn.query_row("SELECT min(seq) FROM queue", [], |r| r.get(0))?;
    match head {
        Some(h) => Ok(h as u64),
        // Empty line: the next visitor gets the next sequence number.
        None => Ok(conn
            .query_row(
                "SELECT seq FROM sqlite_sequence WHERE name = 'queue'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
            .map_or(1, |s| s as u64 + 1)),
    }
}
