//! The embedded durable store: SQLite in WAL mode with `synchronous=FULL`.
//!
//! One writer thread owns the write connection and commits arrivals in
//! groups: every arrival waiting when a transaction starts goes into it, and
//! each is acknowledged only after the commit is on disk. So an arrival that
//! got its cookie survives `kill -9` (and a power cut), while a burst of
//! arrivals costs one fsync per group rather than one per visitor.
//!
//! Reads (polls, client checks) use a small pool of read connections; WAL
//! lets them run beside the writer. Who is in line at which place is also
//! kept in memory (`Line`), maintained by the writer and rebuilt from the
//! table at start: the queue table needs no index on the random tokens, so
//! a commit only appends to it (an index on random keys dirtied one page
//! per arrival and halved the arrival rate).

//!
//! The parts: the tables (`schema`), the writer thread and its group
//! commit (`writer`), the in-memory mirror of the line (`line`), and the
//! handle other processes use for `off`, `on`, `set-rate` and `status`
//! (`control`).

mod control;
mod line;
mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};

use beekeeper_core::answer::{Admission, Redeemed};
use beekeeper_core::{RoomConfig, Token};
use rusqlite::Connection;
use tokio::sync::oneshot;

pub use control::Control;
pub use schema::Stats;

use line::Line;
use schema::{create_or_migrate, read_config, stats, write_config};
use writer::{checkpointer, writer_loop, Cmd};

/// File name of the room database inside the data directory.
pub const DB_FILE: &str = "room.db";
const READERS: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the room database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("cannot make the room database {path} private: {source}")]
    Private {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("room database error: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("room config in the database is unreadable: {0}")]
    Config(#[from] serde_json::Error),
    #[error("no room at {0}: start it with `beekeeper serve` first")]
    NoRoom(PathBuf),
    #[error("the room database writer stopped")]
    WriterGone,
    #[error("the room database writer has {WRITER_QUEUE} requests waiting: shedding load")]
    Busy,
    #[error("the arrivals could not be committed: {0}")]
    Commit(String),
    #[error("cannot start the {0} thread: {1}")]
    Thread(&'static str, std::io::Error),
}

/// Commands waiting for the writer at most: eight of its groups. Beyond,
/// a visitor's request is answered `503` at once instead of queueing (each
/// waiting request also holds a connection, which the server bounds too).
pub const WRITER_QUEUE: usize = 8 * 1024;

pub(crate) type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Opens a connection with the settings every beekeeper connection uses.
pub(crate) fn connect(path: &Path) -> Result<Connection> {
    let open = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    let conn = Connection::open(path).map_err(open)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(open)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(open)?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(open)?;
    Ok(conn)
}

/// The server's handle on the store.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    writer: Mutex<mpsc::SyncSender<Cmd>>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicU64,
    line: Arc<Line>,
    /// Dropped with the store: the checkpoint thread then stops.
    _checkpoints: mpsc::Sender<()>,
}

/// Where a token stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Unknown,
    /// In line at this sequence number.
    Queued(u64),
    Admitted(Admission),
}

impl Store {
    /// Opens (or creates) the room in `data_dir`, with the config
    /// [`RoomConfig::resumed`] makes of the stored one and `initial` (the
    /// profile's), so a restart never undoes an `off`.
    pub fn open(data_dir: &Path, initial: &RoomConfig) -> Result<Store> {
        let path = data_dir.join(DB_FILE);
        // Every queued and admitted token is in it: readable by the owner only.
        crate::lock::private_file(&path).map_err(|source| StoreError::Private {
            path: path.clone(),
            source,
        })?;
        let mut conn = connect(&path)?;
        create_or_migrate(&mut conn)?;
        let tx = conn.transaction()?;
        let cfg = RoomConfig::resumed(read_config(&tx)?.as_ref(), initial);
        write_config(&tx, &cfg)?;
        tx.commit()?;
        let line = Arc::new(Line::load(&conn)?);
        let readers = (0..READERS)
            .map(|_| connect(&path).map(Mutex::new))
            .collect::<Result<_>>()?;
        // The writer never checkpoints: a checkpoint copies the WAL into
        // the database and fsyncs it, which on a slow disk held up
        // admissions for 100-200 ms. A thread of its own checkpoints
        // (PASSIVE: it never blocks the writer) every second instead.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let checkpoints = checkpointer(&path)?;
        let (tx, rx) = mpsc::sync_channel(WRITER_QUEUE);
        let writer_line = line.clone();
        std::thread::Builder::new()
            .name("beekeeper-store".into())
            .spawn(move || writer_loop(conn, rx, &writer_line))
            .map_err(|e| StoreError::Thread("database writer", e))?;
        Ok(Store {
            inner: Arc::new(Inner {
                writer: Mutex::new(tx),
                readers,
                next_reader: AtomicU64::new(0),
                line,
                _checkpoints: checkpoints,
            }),
        })
    }

    /// Hands a command to the writer. A visitor's request (`shed`) finds a
    /// full queue busy at once ([`StoreError::Busy`]: a `503`, and memory
    /// stays bounded whatever the flood); the room's own work (admitting,
    /// sweeping) waits for room instead, so a flood never stops admission.
    async fn ask<T>(
        &self,
        shed: bool,
        make: impl FnOnce(oneshot::Sender<Result<T>>) -> Cmd,
    ) -> Result<T> {
        let (ack, rx) = oneshot::channel();
        let mut cmd = make(ack);
        loop {
            // The sender is only cloned under the lock: a poisoned lock
            // still holds a working sender.
            let sent = self
                .inner
                .writer
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .try_send(cmd);
            match sent {
                Ok(()) => break,
                Err(mpsc::TrySendError::Full(_)) if shed => return Err(StoreError::Busy),
                Err(mpsc::TrySendError::Full(back)) => {
                    cmd = back;
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
                Err(mpsc::TrySendError::Disconnected(_)) => {
                    tracing::error!("room database writer is gone");
                    return Err(StoreError::WriterGone);
                }
            }
        }
        rx.await.map_err(|_| StoreError::WriterGone)?
    }

    /// Puts a new visitor in line unless it holds `max_line` already
    /// (checked in the writer, so concurrent arrivals never overfill it);
    /// returns the arrival's sequence number once it is on disk, or `None`
    /// for a full line.
    pub async fn enqueue(&self, token: Token, now_ms: u64, max_line: u64) -> Result<Option<u64>> {
        self.ask(true, |ack| Cmd::Enqueue {
            token,
            now_ms,
            max_line,
            ack,
        })
        .await
    }

    /// How many are in line now.
    pub fn line_len(&self) -> u64 {
        self.inner.line.len()
    }

    /// Moves up to `max` visitors from the head of the line to the admitted
    /// table in one transaction; returns how many were admitted.
    pub async fn admit(&self, max: u32, now_ms: u64, expires_ms: u64) -> Result<u32> {
        self.ask(false, |ack| Cmd::Admit {
            max,
            now_ms,
            expires_ms,
            ack,
        })
        .await
    }

    /// Admits `token` at once until `expires_ms` (the room is off), out of
    /// the line if it is in it; an earlier admission of the token is
    /// replaced.
    pub async fn release(&self, token: Token, now_ms: u64, expires_ms: u64) -> Result<()> {
        self.ask(true, |ack| Cmd::Release {
            token,
            now_ms,
            expires_ms,
            ack,
        })
        .await
    }

    /// Drops expired admissions and places in line whose cookie has expired.
    pub async fn sweep(&self, now_ms: u64, queue_ms: u64) -> Result<()> {
        self.ask(false, |ack| Cmd::Sweep {
            now_ms,
            queue_ms,
            ack,
        })
        .await
    }

    /// Uses `token`'s admission once (`POST /client-check/{token}`).
    pub async fn redeem(&self, token: Token, now_ms: u64) -> Result<Redeemed> {
        self.ask(true, |ack| Cmd::Redeem { token, now_ms, ack })
            .await
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let n = self.inner.readers.len();
        let start = self.inner.next_reader.fetch_add(1, Ordering::Relaxed) as usize;
        for i in 0..n {
            if let Ok(conn) = self.inner.readers[(start + i) % n].try_lock() {
                return f(&conn);
            }
        }
        // A reader that panicked left its connection as SQLite keeps it:
        // usable, so the poison is cleared rather than failing every read.
        let conn = self.inner.readers[start % n]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        f(&conn)
    }

    /// Where `token` stands now.
    pub fn standing(&self, token: &Token) -> Result<Standing> {
        // The line first: a visitor leaves it only after their admission
        // committed, so looking there first never misses one in between.
        let queued = self.inner.line.seq(token);
        let admitted = self.inner.line.admission(token);
        Ok(match (admitted, queued) {
            (Some(a), _) => Standing::Admitted(a),
            (None, Some(seq)) => Standing::Queued(seq),
            (None, None) => Standing::Unknown,
        })
    }

    /// 1-based place in line of the visitor with sequence number `seq`.
    pub fn position(&self, seq: u64) -> u64 {
        seq.saturating_sub(self.inner.line.head.load(Ordering::Relaxed)) + 1
    }

    pub fn config(&self) -> Result<(RoomConfig, u64)> {
        self.read(|c| {
            let (json, version): (String, i64) = c
                .prepare_cached("SELECT config, version FROM room WHERE id = 1")?
                .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok((serde_json::from_str(&json)?, version as u64))
        })
    }

    /// Version of the room config, cheap enough to check several times a second.
    pub fn config_version(&self) -> Result<u64> {
        self.read(|c| {
            Ok(c.prepare_cached("SELECT version FROM room WHERE id = 1")?
                .query_row([], |r| r.get::<_, i64>(0))? as u64)
        })
    }

    pub fn stats(&self, now_ms: u64) -> Result<Stats> {
        self.read(|c| stats(c, now_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shared test room, with one-minute sessions and an hour in line.
    fn cfg() -> RoomConfig {
        RoomConfig {
            session_secs: 60,
            queue_secs: 3600,
            ..beekeeper_test_support::room_config(100)
        }
    }

    fn tok(i: u8) -> Token {
        Token::from_random([i; 16])
    }

    #[tokio::test]
    async fn line_order_admission_and_expiry() -> Result<()> {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), &cfg())?;
        for i in 0..5 {
            s.enqueue(tok(i), 1000, u64::MAX).await?;
        }
        assert_eq!(s.standing(&tok(3))?, Standing::Queued(4));
        assert_eq!(s.position(4), 4);
        assert_eq!(s.admit(2, 5000, 100_000).await?, 2);
        assert_eq!(s.position(4), 2);
        assert_eq!(
            s.standing(&tok(0))?,
            Standing::Admitted(Admission {
                admitted_at: 5,
                expires_at: 100
            })
        );
        assert_eq!(s.standing(&tok(2))?, Standing::Queued(3));
        s.release(tok(4), 6000, 100_000).await?;
        assert_eq!(s.stats(6000)?.queue_depth, 2);
        assert_eq!(s.stats(6000)?.admitted_total, 3);
        // A token not in line (a new visitor while off) and a renewed
        // admission: one admitted row each, the line untouched.
        s.release(tok(9), 6000, 100_000).await?;
        s.release(tok(4), 7000, 200_000).await?;
        assert_eq!(
            s.standing(&tok(4))?,
            Standing::Admitted(Admission {
                admitted_at: 7,
                expires_at: 200
            })
        );
        assert_eq!(s.stats(7000)?.queue_depth, 2);
        assert_eq!(s.stats(7000)?.admitted_total, 4);
        s.sweep(300_000, 3_600_000).await?;
        assert_eq!(s.standing(&tok(0))?, Standing::Unknown);
        assert_eq!(s.admit(10, 7000, 100_000).await?, 2);
        assert_eq!(s.admit(10, 7000, 100_000).await?, 0);
        Ok(())
    }

    /// A database written before every time was in milliseconds (version
    /// 0: `admitted.expires_at` in seconds) opens with its admissions
    /// intact, converted once.
    #[tokio::test]
    async fn a_database_of_the_first_schema_is_migrated_once() -> Result<()> {
        let dir = tempfile::tempdir().unwrap();
        {
            let old = rusqlite::Connection::open(dir.path().join(DB_FILE))?;
            old.execute_batch(
                "CREATE TABLE queue (seq INTEGER PRIMARY KEY AUTOINCREMENT, token TEXT NOT NULL, enqueued_ms INTEGER NOT NULL);
                 CREATE TABLE admitted (token TEXT PRIMARY KEY, admitted_ms INTEGER NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID;
                 CREATE INDEX admitted_by_time ON admitted(admitted_ms);
                 CREATE INDEX admitted_by_expiry ON admitted(expires_at);",
            )?;
            old.execute(
                "INSERT INTO admitted VALUES (?1, 5000, 1800)",
                [tok(1).as_str()],
            )?;
            old.execute(
                "INSERT INTO queue (token, enqueued_ms) VALUES (?1, 6000)",
                [tok(2).as_str()],
            )?;
        }
        let admitted = Standing::Admitted(Admission {
            admitted_at: 5,
            expires_at: 1800,
        });
        for _ in 0..2 {
            let s = Store::open(dir.path(), &cfg())?;
            assert_eq!(s.standing(&tok(1))?, admitted);
            assert_eq!(s.standing(&tok(2))?, Standing::Queued(1));
            // Swept at its expiry in milliseconds, not before.
            s.sweep(1_799_999, 3_600_000_000).await?;
            drop(s);
        }
        let db = rusqlite::Connection::open(dir.path().join(DB_FILE))?;
        let expires: i64 = db.query_row("SELECT expires_ms FROM admitted", [], |r| r.get(0))?;
        let version: i64 = db.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        assert_eq!((expires, version), (1_800_000, 2));
        Ok(())
    }

    #[tokio::test]
    async fn reopening_keeps_the_line_and_the_switches() -> Result<()> {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Store::open(dir.path(), &cfg())?;
            s.enqueue(tok(1), 1, u64::MAX).await?;
            s.enqueue(tok(2), 1, u64::MAX).await?;
            s.admit(1, 2, 100_000).await?;
        }
        // Off, and the throttle's cut (RoomConfig::resumed decides).
        Control::open(dir.path())?.update(|c| {
            c.enabled = false;
            c.rate_current = 42;
        })?;
        let mut changed = cfg();
        changed.name = "Renamed".into();
        let s = Store::open(dir.path(), &changed)?;
        let (c, _) = s.config()?;
        assert!(!c.enabled);
        assert_eq!(
            (c.rate_limit, c.rate_current, c.name.as_str()),
            (100, 42, "Renamed")
        );
        assert_eq!(s.position(2), 1);
        // The mirror of the tables is rebuilt from them.
        let admitted = Admission {
            admitted_at: 0,
            expires_at: 100,
        };
        assert_eq!(s.standing(&tok(1))?, Standing::Admitted(admitted));
        assert_eq!(s.standing(&tok(2))?, Standing::Queued(2));
        // Sequence numbers never repeat, even after the line empties.
        s.admit(5, 3, 100_000).await?;
        let seq = s.enqueue(tok(3), 4, u64::MAX).await?.unwrap_or_default();
        assert_eq!((seq, s.position(seq)), (3, 1));
        Ok(())
    }

    /// Arrivals racing for the last places of a line of 30 (one writer
    /// group or several): exactly 30 get one, and an admission frees one.
    #[tokio::test]
    async fn a_full_line_takes_nobody_else_however_many_race() -> Result<()> {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), &cfg())?;
        let arrivals = (0..100u8).map(|i| {
            let s = s.clone();
            tokio::spawn(async move { s.enqueue(tok(i), 1000, 30).await })
        });
        let mut placed = 0;
        for a in arrivals {
            if a.await.expect("an arrival task")?.is_some() {
                placed += 1;
            }
        }
        assert_eq!((placed, s.line_len()), (30, 30));
        assert_eq!(s.admit(1, 2000, 100_000).await?, 1);
        assert!(s.enqueue(tok(200), 3000, 30).await?.is_some());
        assert!(s.enqueue(tok(201), 3000, 30).await?.is_none());
        Ok(())
    }
}
