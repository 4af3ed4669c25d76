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

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use beekeeper_core::answer::Admission;
use beekeeper_core::{throttle, RoomConfig, Token};
use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::oneshot;

/// File name of the room database inside the data directory.
pub const DB_FILE: &str = "room.db";
/// Most arrivals committed in one transaction.
const GROUP_MAX: usize = 1024;
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
}

type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Opens a connection with the settings every beekeeper connection uses.
fn connect(path: &Path) -> Result<Connection> {
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

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS queue (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    token TEXT NOT NULL,
    enqueued_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS admitted (
    token TEXT PRIMARY KEY,
    admitted_ms INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS admitted_by_time ON admitted(admitted_ms);
CREATE INDEX IF NOT EXISTS admitted_by_expiry ON admitted(expires_at);
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

/// Room config access for `off`, `on`, `set-rate` and `status` from another
/// process: they write the same database the server reads every few hundred
/// milliseconds.
pub struct Control {
    conn: Connection,
}

/// Figures `status` reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Stats {
    pub queue_depth: u64,
    pub admitted_last_minute: u64,
    pub admitted_total: u64,
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

fn read_config(conn: &Connection) -> Result<Option<RoomConfig>> {
    let json: Option<String> = conn
        .query_row("SELECT config FROM room WHERE id = 1", [], |r| r.get(0))
        .optional()?;
    Ok(json.map(|j| serde_json::from_str(&j)).transpose()?)
}

fn write_config(conn: &Connection, cfg: &RoomConfig) -> Result<()> {
    conn.execute(
        "INSERT INTO room (id, config, version) VALUES (1, ?1, 1)
         ON CONFLICT(id) DO UPDATE SET config = excluded.config, version = version + 1",
        params![serde_json::to_string(cfg)?],
    )?;
    Ok(())
}

fn stats(conn: &Connection, now_ms: u64) -> Result<Stats> {
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

enum Cmd {
    Enqueue {
        token: Token,
        now_ms: u64,
        ack: oneshot::Sender<Result<u64>>,
    },
    Admit {
        max: u32,
        now_ms: u64,
        expires_at: u64,
        ack: oneshot::Sender<Result<u32>>,
    },
    Release {
        token: Token,
        now_ms: u64,
        expires_at: u64,
        ack: oneshot::Sender<Result<bool>>,
    },
    Sweep {
        now_ms: u64,
        queue_ms: u64,
        ack: oneshot::Sender<Result<()>>,
    },
}

/// The server's handle on the store.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    writer: Mutex<mpsc::Sender<Cmd>>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicU64,
    line: Arc<Line>,
    /// Dropped with the store: the checkpoint thread then stops.
    _checkpoints: mpsc::Sender<()>,
}

/// Starts the thread that checkpoints the WAL every second, on a
/// connection of its own, until the returned sender is dropped.
fn checkpointer(path: &Path) -> Result<mpsc::Sender<()>> {
    let conn = connect(path)?;
    let (tx, rx) = mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("beekeeper-checkpoint".into())
        .spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) =
                rx.recv_timeout(std::time::Duration::from_secs(1))
            {
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::warn!("checkpoint failed: {e}");
                }
            }
        })
        .map_err(|_| StoreError::WriterGone)?;
    Ok(tx)
}

/// The line and the admitted in memory: the mirror of the queue and
/// admitted tables, changed by the writer only after its transaction
/// committed, so that a poll never touches the database.
struct Line {
    /// Lowest sequence number still queued (for position estimates).
    head: AtomicU64,
    seqs: std::sync::RwLock<HashMap<Token, u64>>,
    admitted: std::sync::RwLock<HashMap<Token, Admission>>,
}

impl Line {
    fn load(conn: &Connection) -> Result<Line> {
        let mut seqs = HashMap::new();
        let mut st = conn.prepare("SELECT seq, token FROM queue")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
        for row in rows {
            let (seq, token) = row?;
            if let Some(t) = Token::parse(&token) {
                seqs.insert(t, seq as u64);
            }
        }
        let mut admitted = HashMap::new();
        let mut st = conn.prepare("SELECT token, admitted_ms, expires_at FROM admitted")?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        for row in rows {
            let (token, admitted_ms, expires_at) = row?;
            if let Some(t) = Token::parse(&token) {
                admitted.insert(
                    t,
                    Admission {
                        admitted_at: admitted_ms as u64 / 1000,
                        expires_at: expires_at as u64,
                    },
                );
            }
        }
        Ok(Line {
            head: AtomicU64::new(queue_head(conn)?),
            seqs: std::sync::RwLock::new(seqs),
            admitted: std::sync::RwLock::new(admitted),
        })
    }

    fn seq(&self, token: &Token) -> Option<u64> {
        self.seqs.read().ok()?.get(token).copied()
    }

    fn admission(&self, token: &Token) -> Option<Admission> {
        self.admitted.read().ok()?.get(token).copied()
    }

    /// Records committed admissions (`INSERT OR IGNORE`: an earlier one
    /// stays), then takes the visitors out of the line, in that order, so
    /// that a reader looking at the line first never misses them.
    fn admit<'a>(&self, tokens: impl IntoIterator<Item = &'a str> + Clone, a: Admission) {
        if let Ok(mut m) = self.admitted.write() {
            for t in tokens.clone().into_iter().filter_map(Token::parse) {
                m.entry(t).or_insert(a);
            }
        }
        self.remove(tokens);
    }

    fn expire(&self, now_secs: u64) {
        if let Ok(mut m) = self.admitted.write() {
            m.retain(|_, a| a.expires_at > now_secs);
        }
    }

    fn add(&self, entries: impl IntoIterator<Item = (Token, u64)>) {
        if let Ok(mut m) = self.seqs.write() {
            m.extend(entries);
        }
    }

    fn remove<'a>(&self, tokens: impl IntoIterator<Item = &'a str>) {
        if let Ok(mut m) = self.seqs.write() {
            for t in tokens.into_iter().filter_map(Token::parse) {
                m.remove(&t);
            }
        }
    }
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
        conn.execute_batch(SCHEMA)?;
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
        let (tx, rx) = mpsc::channel();
        let writer_line = line.clone();
        std::thread::Builder::new()
            .name("beekeeper-store".into())
            .spawn(move || writer_loop(conn, rx, &writer_line))
            .map_err(|_| StoreError::WriterGone)?;
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

    fn send<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T>>) -> Cmd,
    ) -> oneshot::Receiver<Result<T>> {
        let (ack, rx) = oneshot::channel();
        let sent = self
            .inner
            .writer
            .lock()
            .map(|w| w.send(make(ack)).is_ok())
            .unwrap_or(false);
        if !sent {
            tracing::error!("room database writer is gone");
        }
        rx
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<Result<T>>) -> Cmd) -> Result<T> {
        self.send(make).await.map_err(|_| StoreError::WriterGone)?
    }

    /// Puts a new visitor in line; returns once the arrival is on disk.
    pub async fn enqueue(&self, token: Token, now_ms: u64) -> Result<u64> {
        self.ask(|ack| Cmd::Enqueue { token, now_ms, ack }).await
    }

    /// Moves up to `max` visitors from the head of the line to the admitted
    /// table in one transaction; returns how many were admitted.
    pub async fn admit(&self, max: u32, now_ms: u64, expires_at: u64) -> Result<u32> {
        self.ask(|ack| Cmd::Admit {
            max,
            now_ms,
            expires_at,
            ack,
        })
        .await
    }

    /// Admits one queued visitor at once (the room is off). False when the
    /// token was not in line.
    pub async fn release(&self, token: Token, now_ms: u64, expires_at: u64) -> Result<bool> {
        self.ask(|ack| Cmd::Release {
            token,
            now_ms,
            expires_at,
            ack,
        })
        .await
    }

    /// Drops expired admissions and places in line whose cookie has expired.
    pub async fn sweep(&self, now_ms: u64, queue_ms: u64) -> Result<()> {
        self.ask(|ack| Cmd::Sweep {
            now_ms,
            queue_ms,
            ack,
        })
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
        let conn = self.inner.readers[start % n]
            .lock()
            .map_err(|_| StoreError::WriterGone)?;
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

fn queue_head(conn: &Connection) -> Result<u64> {
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

fn writer_loop(mut conn: Connection, rx: mpsc::Receiver<Cmd>, line: &Line) {
    let mut pending = Vec::with_capacity(GROUP_MAX);
    while let Ok(first) = rx.recv() {
        pending.push(first);
        while pending.len() < GROUP_MAX {
            match rx.try_recv() {
                Ok(cmd) => pending.push(cmd),
                Err(_) => break,
            }
        }
        let (arrivals, others): (Vec<Cmd>, Vec<Cmd>) = pending
            .drain(..)
            .partition(|c| matches!(c, Cmd::Enqueue { .. }));
        enqueue_group(&mut conn, arrivals, line);
        for cmd in others {
            run_one(&mut conn, cmd, line);
        }
    }
}

fn enqueue_group(conn: &mut Connection, arrivals: Vec<Cmd>, line: &Line) {
    if arrivals.is_empty() {
        return;
    }
    let result = (|| -> Result<Vec<u64>> {
        let tx = conn.transaction()?;
        let mut seqs = Vec::with_capacity(arrivals.len());
        {
            let mut stmt =
                tx.prepare_cached("INSERT INTO queue (token, enqueued_ms) VALUES (?1, ?2)")?;
            for cmd in &arrivals {
                if let Cmd::Enqueue { token, now_ms, .. } = cmd {
                    stmt.execute(params![token.as_str(), *now_ms as i64])?;
                    seqs.push(tx.last_insert_rowid() as u64);
                }
            }
        }
        tx.commit()?;
        Ok(seqs)
    })();
    match result {
        Ok(seqs) => {
            line.add(
                arrivals
                    .iter()
                    .zip(&seqs)
                    .filter_map(|(cmd, &seq)| match cmd {
                        Cmd::Enqueue { token, .. } => Some((*token, seq)),
                        _ => None,
                    }),
            );
            for (cmd, seq) in arrivals.into_iter().zip(seqs) {
                if let Cmd::Enqueue { ack, .. } = cmd {
                    let _ = ack.send(Ok(seq));
                }
            }
        }
        Err(e) => {
            tracing::error!("enqueue failed: {e}");
            for cmd in arrivals {
                if let Cmd::Enqueue { ack, .. } = cmd {
                    let _ = ack.send(Err(StoreError::WriterGone));
                }
            }
        }
    }
}

/// Runs one command; the line in memory is updated after the commit and
/// before the caller hears back, so a position or standing read after an
/// admission is never stale.
fn run_one(conn: &mut Connection, cmd: Cmd, line: &Line) {
    let head = |conn: &Connection| {
        if let Ok(h) = queue_head(conn) {
            line.head.store(h, Ordering::Relaxed);
        }
    };
    match cmd {
        Cmd::Enqueue { .. } => {}
        Cmd::Admit {
            max,
            now_ms,
            expires_at,
            ack,
        } => {
            let r = admit(conn, max, now_ms, expires_at);
            if let Ok((_, removed)) = &r {
                line.admit(
                    removed.iter().map(String::as_str),
                    Admission {
                        admitted_at: now_ms / 1000,
                        expires_at,
                    },
                );
                head(conn);
            }
            let _ = ack.send(r.map(|(n, _)| n));
        }
        Cmd::Release {
            token,
            now_ms,
            expires_at,
            ack,
        } => {
            let r = match line.seq(&token) {
                Some(seq) => release(conn, seq, &token, now_ms, expires_at),
                None => Ok(false),
            };
            if let Ok(true) = r {
                line.admit(
                    [token.as_str()],
                    Admission {
                        admitted_at: now_ms / 1000,
                        expires_at,
                    },
                );
                head(conn);
            }
            let _ = ack.send(r);
        }
        Cmd::Sweep {
            now_ms,
            queue_ms,
            ack,
        } => {
            let r = sweep(conn, now_ms, queue_ms);
            if let Ok(removed) = &r {
                line.expire(now_ms / 1000);
                line.remove(removed.iter().map(String::as_str));
                head(conn);
            }
            let _ = ack.send(r.map(|_| ()));
        }
    }
}

/// Head of the line to the admitted table in one transaction: a crash
/// either keeps both the queue row and no admission, or neither. Returns
/// how many were admitted and the tokens that left the line.
fn admit(
    conn: &mut Connection,
    max: u32,
    now_ms: u64,
    expires_at: u64,
) -> Result<(u32, Vec<String>)> {
    if max == 0 {
        return Ok((0, Vec::new()));
    }
    let tx = conn.transaction()?;
    let tokens: Vec<String> = tx
        .prepare_cached(
            "DELETE FROM queue WHERE seq IN (SELECT seq FROM queue ORDER BY seq LIMIT ?1)
             RETURNING token",
        )?
        .query_map([i64::from(max)], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut admitted = 0;
    {
        let mut insert = tx.prepare_cached(
            "INSERT OR IGNORE INTO admitted (token, admitted_ms, expires_at) VALUES (?1, ?2, ?3)",
        )?;
        for t in &tokens {
            admitted += insert.execute(params![t, now_ms as i64, expires_at as i64])? as u32;
        }
    }
    tx.commit()?;
    Ok((admitted, tokens))
}

fn release(
    conn: &mut Connection,
    seq: u64,
    token: &Token,
    now_ms: u64,
    expires_at: u64,
) -> Result<bool> {
    let tx = conn.transaction()?;
    let removed = tx.execute(
        "DELETE FROM queue WHERE seq = ?1 AND token = ?2",
        params![seq as i64, token.as_str()],
    )?;
    if removed > 0 {
        tx.execute(
            "INSERT OR IGNORE INTO admitted (token, admitted_ms, expires_at) VALUES (?1, ?2, ?3)",
            params![token.as_str(), now_ms as i64, expires_at as i64],
        )?;
    }
    tx.commit()?;
    Ok(removed > 0)
}

/// Drops expired admissions and expired places in line; returns the tokens
/// that left the line.
fn sweep(conn: &mut Connection, now_ms: u64, queue_ms: u64) -> Result<Vec<String>> {
    let tx = conn.transaction()?;
    tx.execute(
        "DELETE FROM admitted WHERE expires_at <= ?1",
        [(now_ms / 1000) as i64],
    )?;
    let gone: Vec<String> = tx
        .prepare("DELETE FROM queue WHERE enqueued_ms < ?1 RETURNING token")?
        .query_map([now_ms.saturating_sub(queue_ms) as i64], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    tx.commit()?;
    Ok(gone)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> RoomConfig {
        RoomConfig {
            enabled: true,
            rate_limit: 100,
            rate_current: 100,
            destination: "https://shop.example/".into(),
            name: "Sale".into(),
            session_secs: 60,
            queue_secs: 3600,
            dynamic_throttle: false,
            probe_url: None,
        }
    }

    fn tok(i: u8) -> Token {
        Token::from_random([i; 16])
    }

    #[tokio::test]
    async fn line_order_admission_and_expiry() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|_| StoreError::WriterGone)?;
        let s = Store::open(dir.path(), &cfg())?;
        for i in 0..5 {
            s.enqueue(tok(i), 1000).await?;
        }
        assert_eq!(s.standing(&tok(3))?, Standing::Queued(4));
        assert_eq!(s.position(4), 4);
        assert_eq!(s.admit(2, 5000, 100).await?, 2);
        assert_eq!(s.position(4), 2);
        assert_eq!(
            s.standing(&tok(0))?,
            Standing::Admitted(Admission {
                admitted_at: 5,
                expires_at: 100
            })
        );
        assert_eq!(s.standing(&tok(2))?, Standing::Queued(3));
        assert!(s.release(tok(4), 6000, 100).await?);
        assert!(!s.release(tok(4), 6000, 100).await?);
        assert_eq!(s.stats(6000)?.queue_depth, 2);
        assert_eq!(s.stats(6000)?.admitted_total, 3);
        s.sweep(100_000, 3_600_000).await?;
        assert_eq!(s.standing(&tok(0))?, Standing::Unknown);
        assert_eq!(s.admit(10, 7000, 100).await?, 2);
        assert_eq!(s.admit(10, 7000, 100).await?, 0);
        Ok(())
    }

    #[tokio::test]
    async fn reopening_keeps_the_line_and_the_switches() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|_| StoreError::WriterGone)?;
        {
            let s = Store::open(dir.path(), &cfg())?;
            s.enqueue(tok(1), 1).await?;
            s.enqueue(tok(2), 1).await?;
            s.admit(1, 2, 100).await?;
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
        s.admit(5, 3, 100).await?;
        let seq = s.enqueue(tok(3), 4).await?;
        assert_eq!((seq, s.position(seq)), (3, 1));
        Ok(())
    }
}
