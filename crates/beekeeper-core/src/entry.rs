//! The producer's decision for `GET /beekeeper`, shared by `serve` and the
//! producer Lambda. The backend looks up the cookie's token, asks
//! [`decide`], enqueues when told to, and sends the [`Reply`] as is.

use serde::{Deserialize, Serialize};

use crate::answer::{room_location, Admission, Arrival};
use crate::pass::Passes;
use crate::wait::{estimated_wait_secs, poll_interval_secs};
use crate::{token, RoomConfig, Token};

/// Seconds a visitor is asked to wait before retrying when the line could
/// not take them.
pub const RETRY_AFTER_SECS: u32 = 5;

/// Where the cookie's token stands, as far as the backend can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// No such token (or none sent).
    Unknown,
    /// In line; the position when the backend knows it.
    Queued(Option<u64>),
    Admitted(Admission),
}

/// A transport-neutral HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reply {
    pub status: u16,
    pub location: Option<String>,
    pub set_cookie: Option<String>,
    /// A JSON body (`Content-Type: application/json`).
    pub json: Option<String>,
    pub retry_after: Option<u32>,
}

impl Reply {
    pub fn redirect(location: String) -> Reply {
        Reply {
            status: 302,
            location: Some(location),
            ..Reply::default()
        }
    }

    /// The line could not take the visitor: no cookie, come back shortly.
    pub fn busy() -> Reply {
        Reply {
            status: 503,
            retry_after: Some(RETRY_AFTER_SECS),
            ..Reply::default()
        }
    }
}

/// What the backend does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Reply(Reply),
    /// A new visitor: enqueue a fresh token (durably), then [`arrived`].
    Enqueue,
    /// An admitted visitor: send them on with their pass ([`admitted`];
    /// the backend signs, so that only this answer needs its key).
    Admitted(Token, Admission),
    /// The room is off: record the token as admitted for a session
    /// (durably; the cookie's token, or a fresh one when `None`), then
    /// [`released`]. The origin's client check then agrees with the
    /// visitor's token, and whoever was in line leaves it now.
    Release(Option<Token>),
}

/// What the request asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// `Accept: application/json`: answer with [`Arrival`] instead of a redirect.
    pub json: bool,
    /// Whether the cookie may be `Secure` (see [`secure_cookie`]).
    pub secure: bool,
}

/// What `GET /beekeeper` does for a visitor whose cookie carries `cookie`
/// (standing as the backend found it) at `now_secs`: send them on with
/// their pass ([`Step::Admitted`]: admitted, and still may enter), let them through with a token
/// ([`Step::Release`]: the room is off), show them their place again
/// (already in line: never a second place), or put them in line
/// ([`Step::Enqueue`]: the backend queues a fresh token durably, then
/// answers with [`arrived`]). Both rooms call it for every arrival.
pub fn decide(
    cfg: &RoomConfig,
    cookie: Option<Token>,
    standing: Standing,
    now_secs: u64,
    req: Request,
) -> Step {
    if let (Some(token), Standing::Admitted(a)) = (cookie, standing) {
        if a.is_valid(now_secs) {
            return Step::Admitted(token, a);
        }
    }
    if !cfg.enabled {
        return Step::Release(cookie);
    }
    match (cookie, standing) {
        // Already in line: the same place, never a second one.
        (Some(token), Standing::Queued(position)) => {
            Step::Reply(place(cfg, &token, position, req, None))
        }
        _ => Step::Enqueue,
    }
}

/// The answer to an admitted visitor ([`Step::Admitted`]): the
/// destination with the token and its pass.
pub fn admitted(cfg: &RoomConfig, signer: &dyn Passes, token: &Token, a: &Admission) -> Reply {
    Reply::redirect(signer.destination(cfg, token, a))
}

/// The answer to a visitor let through while the room is off (after the
/// backend recorded `token` as admitted, as `a`): the destination with the
/// token and its pass, and the cookie, so that coming back finds the same
/// admission.
pub fn released(
    cfg: &RoomConfig,
    signer: &dyn Passes,
    token: &Token,
    a: &Admission,
    req: Request,
) -> Reply {
    Reply {
        set_cookie: Some(token::set_cookie(token, cfg.queue_secs, req.secure)),
        ..Reply::redirect(signer.destination(cfg, token, a))
    }
}

/// The answer to a visitor who is in line at `position` (when known).
/// `cookie_max_age` is set for a new arrival.
pub fn arrived(cfg: &RoomConfig, token: &Token, position: u64, req: Request) -> Reply {
    let cookie = token::set_cookie(token, cfg.queue_secs, req.secure);
    place(cfg, token, Some(position), req, Some(cookie))
}

fn place(
    cfg: &RoomConfig,
    token: &Token,
    position: Option<u64>,
    req: Request,
    set_cookie: Option<String>,
) -> Reply {
    let wait = position.map(|p| estimated_wait_secs(p, cfg.effective_rate()));
    let location = match (position, wait) {
        (Some(p), Some(w)) => room_location(p, w),
        // Unknown position: the room page keeps the estimate it was given.
        _ => crate::names::ROOM_PAGE.to_string(),
    };
    if req.json {
        let body = Arrival {
            token: token.to_string(),
            position,
            wait_seconds: wait,
            poll_seconds: poll_interval_secs(wait.unwrap_or(0), 0),
            room: location,
        };
        return Reply {
            status: 200,
            json: serde_json::to_string(&body).ok(),
            set_cookie,
            ..Reply::default()
        };
    }
    Reply {
        set_cookie,
        ..Reply::redirect(location)
    }
}

/// Whether the place-in-line cookie is `Secure`: as the profile says
/// (`secure_cookie`), and otherwise unless the room is reached on a
/// loopback address (`serve` listening on 127.0.0.1 or ::1), where a
/// browser on plain http would drop a `Secure` cookie and the visitor could
/// never queue. Never from a request header: a `Host` or
/// `X-Forwarded-Proto` is whatever the client sends. On AWS the room is
/// HTTPS only: always `Secure`.
pub fn secure_cookie(configured: Option<bool>, listens_on_loopback: bool) -> bool {
    configured.unwrap_or(!listens_on_loopback)
}

/// The body of a queue message: one visitor in line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueMessage {
    pub token: Token,
    /// Epoch milliseconds of the arrival.
    pub at: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(enabled: bool) -> RoomConfig {
        RoomConfig {
            enabled,
            ..RoomConfig::for_tests(60)
        }
    }

    const HTML: Request = Request {
        json: false,
        secure: true,
    };

    #[test]
    fn decisions() {
        let s = crate::pass::Signer::for_tests();
        let t = Token::from_random([7; 16]);
        let a = Admission {
            admitted_at: 10,
            expires_at: 100,
        };
        let admitted = |a: &Admission| admitted(&cfg(true), &s, &t, a).location.unwrap_or_default();
        // Off: whoever is not admitted is let through with a token, the
        // cookie's own when there is one; an admission is kept.
        for standing in [Standing::Queued(Some(3)), Standing::Unknown] {
            assert_eq!(
                decide(&cfg(false), Some(t), standing, 50, HTML),
                Step::Release(Some(t))
            );
        }
        assert_eq!(
            decide(&cfg(false), Some(t), Standing::Admitted(a), 100, HTML),
            Step::Release(Some(t))
        );
        assert_eq!(
            decide(&cfg(false), None, Standing::Unknown, 50, HTML),
            Step::Release(None)
        );
        assert_eq!(
            decide(&cfg(false), Some(t), Standing::Admitted(a), 50, HTML),
            Step::Admitted(t, a)
        );
        let now = Admission {
            admitted_at: 50,
            expires_at: 110,
        };
        let r = released(&cfg(false), &s, &t, &now, HTML);
        assert_eq!((r.status, r.location), (302, Some(admitted(&now))));
        assert_eq!(
            admitted(&now),
            format!(
                "https://shop.example/?bk_token={t}&bk_pass={}",
                s.pass(&t, &now)
            )
        );
        assert_eq!(
            r.set_cookie,
            Some(format!(
                "bk_token={t}; Max-Age=3600; Path=/; HttpOnly; SameSite=Lax; Secure"
            ))
        );
        assert_eq!(
            decide(&cfg(true), None, Standing::Unknown, 50, HTML),
            Step::Enqueue
        );
        assert_eq!(
            decide(&cfg(true), Some(t), Standing::Admitted(a), 50, HTML),
            Step::Admitted(t, a)
        );
        // An expired admission queues again.
        assert_eq!(
            decide(&cfg(true), Some(t), Standing::Admitted(a), 100, HTML),
            Step::Enqueue
        );
        assert_eq!(
            decide(&cfg(true), Some(t), Standing::Queued(Some(120)), 50, HTML),
            Step::Reply(Reply::redirect("room/index.html?p=120&w=120".into()))
        );
        assert_eq!(
            decide(&cfg(true), Some(t), Standing::Queued(None), 50, HTML),
            Step::Reply(Reply::redirect("room/index.html".into()))
        );
        let r = arrived(
            &cfg(true),
            &t,
            30,
            Request {
                json: true,
                secure: false,
            },
        );
        assert_eq!(r.status, 200);
        assert_eq!(
            r.json.as_deref(),
            Some(format!(r#"{{"token":"{t}","position":30,"waitSeconds":30,"pollSeconds":20,"room":"room/index.html?p=30&w=30"}}"#).as_str())
        );
        assert_eq!(
            r.set_cookie,
            Some(format!(
                "bk_token={t}; Max-Age=3600; Path=/; HttpOnly; SameSite=Lax"
            ))
        );
    }

    #[test]
    fn secure_unless_on_loopback_or_as_configured() {
        assert!(!secure_cookie(None, true));
        assert!(secure_cookie(None, false));
        assert!(secure_cookie(Some(true), true));
        assert!(!secure_cookie(Some(false), false));
    }

    #[test]
    fn queue_messages_refuse_bad_tokens() {
        let m = QueueMessage {
            token: Token::from_random([1; 16]),
            at: 5,
        };
        let s = serde_json::to_string(&m).unwrap_or_default();
        assert_eq!(s, format!(r#"{{"token":"{}","at":5}}"#, m.token));
        assert_eq!(serde_json::from_str::<QueueMessage>(&s).ok(), Some(m));
        assert!(serde_json::from_str::<QueueMessage>(r#"{"token":"nope","at":5}"#).is_err());
    }
}
