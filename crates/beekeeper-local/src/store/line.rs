//! Who is in line and who is admitted, in memory.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{PoisonError, RwLock};

use beekeeper_core::answer::Admission;
use beekeeper_core::Token;
use rusqlite::Connection;

use super::schema::queue_head;
use super::Result;

/// The line and the admitted in memory: the mirror of the queue and
/// admitted tables, changed by the writer only after its transaction
/// committed, so that a poll never touches the database. Each change is
/// one map operation per token, so a thread that panicked mid-change left
/// the maps whole: a poisoned lock is cleared, never skipped (skipping
/// would lose an admission or leave a visitor in line forever).
pub(super) struct Line {
    /// Lowest sequence number still queued (for position estimates).
    pub(super) head: AtomicU64,
    seqs: RwLock<HashMap<Token, u64>>,
    admitted: RwLock<HashMap<Token, Admission>>,
}

impl Line {
    pub(super) fn load(conn: &Connection) -> Result<Line> {
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
        let mut st = conn.prepare("SELECT token, admitted_ms, expires_ms FROM admitted")?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        for row in rows {
            let (token, admitted_ms, expires_ms) = row?;
            if let Some(t) = Token::parse(&token) {
                admitted.insert(
                    t,
                    Admission {
                        admitted_at: admitted_ms as u64 / 1000,
                        expires_at: expires_ms as u64 / 1000,
                    },
                );
            }
        }
        Ok(Line {
            head: AtomicU64::new(queue_head(conn)?),
            seqs: RwLock::new(seqs),
            admitted: RwLock::new(admitted),
        })
    }

    pub(super) fn len(&self) -> u64 {
        self.seqs
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len() as u64
    }

    pub(super) fn seq(&self, token: &Token) -> Option<u64> {
        self.seqs
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(token)
            .copied()
    }

    pub(super) fn admission(&self, token: &Token) -> Option<Admission> {
        self.admitted
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(token)
            .copied()
    }

    /// Records committed admissions (`INSERT OR IGNORE`: an earlier one
    /// stays), then takes the visitors out of the line, in that order, so
    /// that a reader looking at the line first never misses them.
    pub(super) fn admit<'a>(
        &self,
        tokens: impl IntoIterator<Item = &'a str> + Clone,
        a: Admission,
    ) {
        {
            let mut m = self
                .admitted
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            for t in tokens.clone().into_iter().filter_map(Token::parse) {
                m.entry(t).or_insert(a);
            }
        }
        self.remove(tokens);
    }

    /// Records a committed release: the admission replaces an earlier one,
    /// then the visitor leaves the line if they were in it.
    pub(super) fn release(&self, token: Token, a: Admission) {
        self.admitted
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(token, a);
        self.remove([token.as_str()]);
    }

    pub(super) fn expire(&self, now_secs: u64) {
        {
            let mut m = self
                .admitted
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            m.retain(|_, a| a.expires_at > now_secs);
        }
    }

    pub(super) fn add(&self, entries: impl IntoIterator<Item = (Token, u64)>) {
        {
            let mut m = self.seqs.write().unwrap_or_else(PoisonError::into_inner);
            m.extend(entries);
        }
    }

    pub(super) fn remove<'a>(&self, tokens: impl IntoIterator<Item = &'a str>) {
        {
            let mut m = self.seqs.write().unwrap_or_else(PoisonError::into_inner);
            for t in tokens.into_iter().filter_map(Token::parse) {
                m.remove(&t);
            }
        }
    }
}
