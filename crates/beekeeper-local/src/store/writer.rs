//! The writer thread: the one write connection, arrivals committed in
//! groups, admissions, releases and sweeps; and the checkpoint thread.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::mpsc;

use beekeeper_core::answer::{Admission, Redeemed};
use beekeeper_core::Token;
use rusqlite::{params, Connection};
use tokio::sync::oneshot;

use super::line::Line;
use super::schema::queue_head;
use super::{connect, Result, StoreError};

/// Most arrivals committed in one transaction.
const GROUP_MAX: usize = 1024;

pub(super) enum Cmd {
    Enqueue {
        token: Token,
        now_ms: u64,
        max_line: u64,
        ack: oneshot::Sender<Result<Option<u64>>>,
    },
    Admit {
        max: u32,
        now_ms: u64,
        expires_ms: u64,
        ack: oneshot::Sender<Result<u32>>,
    },
    Release {
        token: Token,
        now_ms: u64,
        expires_ms: u64,
        ack: oneshot::Sender<Result<()>>,
    },
    Sweep {
        now_ms: u64,
        queue_ms: u64,
        ack: oneshot::Sender<Result<()>>,
    },
    Redeem {
        token: Token,
        now_ms: u64,
        ack: oneshot::Sender<Result<Redeemed>>,
    },
}

/// Starts the thread that checkpoints the WAL every second, on a
/// connection of its own, until the returned sender is dropped.
pub(super) fn checkpointer(path: &Path) -> Result<mpsc::Sender<()>> {
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
        .map_err(|e| StoreError::Thread("checkpoint", e))?;
    Ok(tx)
}

pub(super) fn writer_loop(mut conn: Connection, rx: mpsc::Receiver<Cmd>, line: &Line) {
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
    // The line's length as the group started, and what the group adds:
    // an arrival beyond its `max_line` gets no place.
    let mut len = line.len();
    let result = (|| -> Result<Vec<Option<u64>>> {
        let tx = conn.transaction()?;
        let mut seqs = Vec::with_capacity(arrivals.len());
        {
            let mut stmt =
                tx.prepare_cached("INSERT INTO queue (token, enqueued_ms) VALUES (?1, ?2)")?;
            for cmd in &arrivals {
                if let Cmd::Enqueue {
                    token,
                    now_ms,
                    max_line,
                    ..
                } = cmd
                {
                    if beekeeper_core::entry::line_is_full(*max_line, len) {
                        seqs.push(None);
                        continue;
                    }
                    stmt.execute(params![token.as_str(), *now_ms as i64])?;
                    seqs.push(Some(tx.last_insert_rowid() as u64));
                    len += 1;
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
                    .filter_map(|(cmd, &seq)| match (cmd, seq) {
                        (Cmd::Enqueue { token, .. }, Some(seq)) => Some((*token, seq)),
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
            let cause = e.to_string();
            for cmd in arrivals {
                if let Cmd::Enqueue { ack, .. } = cmd {
                    let _ = ack.send(Err(StoreError::Commit(cause.clone())));
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
            expires_ms,
            ack,
        } => {
            let r = admit(conn, max, now_ms, expires_ms);
            if let Ok((_, removed)) = &r {
                line.admit(
                    removed.iter().map(String::as_str),
                    Admission {
                        admitted_at: now_ms / 1000,
                        expires_at: expires_ms / 1000,
                    },
                );
                head(conn);
            }
            let _ = ack.send(r.map(|(n, _)| n));
        }
        Cmd::Release {
            token,
            now_ms,
            expires_ms,
            ack,
        } => {
            let seq = line.seq(&token);
            let r = release(conn, seq, &token, now_ms, expires_ms);
            if r.is_ok() {
                line.release(
                    token,
                    Admission {
                        admitted_at: now_ms / 1000,
                        expires_at: expires_ms / 1000,
                    },
                );
                if seq.is_some() {
                    head(conn);
                }
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
        Cmd::Redeem { token, now_ms, ack } => {
            let _ = ack.send(redeem(conn, &token, now_ms));
        }
    }
}

/// Uses `token`'s admission if it is valid and unused. The writer runs one
/// command at a time, so of concurrent redemptions exactly one is first.
fn redeem(conn: &mut Connection, token: &Token, now_ms: u64) -> Result<Redeemed> {
    let used = conn
        .prepare_cached(
            "UPDATE admitted SET redeemed_ms = ?2
             WHERE token = ?1 AND expires_ms > ?2 AND redeemed_ms IS NULL
             RETURNING admitted_ms, expires_ms",
        )?
        .query_map(params![token.as_str(), now_ms as i64], |r| {
            Ok(Admission {
                admitted_at: r.get::<_, i64>(0)? as u64 / 1000,
                expires_at: r.get::<_, i64>(1)? as u64 / 1000,
            })
        })?
        .next()
        .transpose()?;
    if let Some(a) = used {
        return Ok(Redeemed::First(a));
    }
    let valid = conn
        .prepare_cached("SELECT 1 FROM admitted WHERE token = ?1 AND expires_ms > ?2")?
        .exists(params![token.as_str(), now_ms as i64])?;
    Ok(if valid {
        Redeemed::Used
    } else {
        Redeemed::Refused
    })
}

/// Head of the line to the admitted table in one transaction: a crash
/// either keeps both the queue row and no admission, or neither. Returns
/// how many were admitted and the tokens that left the line.
fn admit(
    conn: &mut Connection,
    max: u32,
    now_ms: u64,
    expires_ms: u64,
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
            "INSERT OR IGNORE INTO admitted (token, admitted_ms, expires_ms) VALUES (?1, ?2, ?3)",
        )?;
        for t in &tokens {
            admitted += insert.execute(params![t, now_ms as i64, expires_ms as i64])? as u32;
        }
    }
    tx.commit()?;
    Ok((admitted, tokens))
}

/// Admits `token` for a session, out of the line if it is in it (`seq`),
/// replacing an earlier admission of the token: one transaction.
fn release(
    conn: &mut Connection,
    seq: Option<u64>,
    token: &Token,
    now_ms: u64,
    expires_ms: u64,
) -> Result<()> {
    let tx = conn.transaction()?;
    if let Some(seq) = seq {
        tx.execute(
            "DELETE FROM queue WHERE seq = ?1 AND token = ?2",
            params![seq as i64, token.as_str()],
        )?;
    }
    tx.execute(
        "INSERT OR REPLACE INTO admitted (token, admitted_ms, expires_ms) VALUES (?1, ?2, ?3)",
        params![token.as_str(), now_ms as i64, expires_ms as i64],
    )?;
    tx.commit()?;
    Ok(())
}

/// Drops expired admissions and expired places in line; returns the tokens
/// that left the line.
fn sweep(conn: &mut Connection, now_ms: u64, queue_ms: u64) -> Result<Vec<String>> {
    let tx = conn.transaction()?;
    tx.execute(
        "DELETE FROM admitted WHERE expires_ms <= ?1",
        [now_ms as i64],
    )?;
    let gone: Vec<String> = tx
        .prepare("DELETE FROM queue WHERE enqueued_ms < ?1 RETURNING token")?
        .query_map([now_ms.saturating_sub(queue_ms) as i64], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    tx.commit()?;
    Ok(gone)
}
