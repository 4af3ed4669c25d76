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
/// Seconds a visitor is asked to wait before trying again when the line is
/// full (`max_line`): places free up as the room admits.
pub const FULL_RETRY_SECS: u32 = 60;

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
    /// A plain-text body (`Content-Type: text/plain; charset=utf-8`).
    pub text: Option<String>,
    /// An HTML page (`Content-Type: text/html; charset=utf-8`).
    pub html: Option<String>,
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
            text: Some("the waiting room is busy, retry in a few seconds\n".into()),
            ..Reply::default()
        }
    }

    /// Not a request that takes a place (the entry gate): no cookie.
    pub fn forbidden() -> Reply {
        Reply {
            status: 403,
            text: Some(
                "a place in line is taken by opening this link, not by loading it from a page\n"
                    .into(),
            ),
            ..Reply::default()
        }
    }

    /// This client took its places for now (`arrivals_per_client`): no
    /// cookie, no place, try again in `retry_after` seconds.
    pub fn too_many(req: Request, retry_after: u32) -> Reply {
        Reply::refused(
            429,
            req,
            "too_many",
            retry_after,
            "Too many arrivals from your network",
            "This network has taken its places in line for the moment.",
        )
    }

    /// The line holds `max_line` visitors: no cookie, no place; nobody in
    /// line loses theirs.
    pub fn full(req: Request) -> Reply {
        Reply::refused(
            503,
            req,
            "full",
            FULL_RETRY_SECS,
            "The waiting room is full",
            "Every place in line is taken. Places free up as visitors go through.",
        )
    }

    fn refused(
        status: u16,
        req: Request,
        error: &str,
        retry_after: u32,
        title: &str,
        why: &str,
    ) -> Reply {
        let mut reply = Reply {
            status,
            retry_after: Some(retry_after),
            ..Reply::default()
        };
        if req.json {
            reply.json = Some(format!(
                r#"{{"error":"{error}","retryAfterSeconds":{retry_after}}}"#
            ));
        } else {
            reply.html = Some(crate::page::notice(title, why, retry_after));
        }
        reply
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
    /// The entry gate's verdict ([`crate::gate::takes_place`]).
    pub takes_place: bool,
}

impl Request {
    /// The request as its headers describe it; `header(name)` is the first
    /// value of the header `name` (given in lower case), if any.
    pub fn from_headers<'a>(
        header: impl Fn(&'static str) -> Option<&'a str>,
        secure: bool,
    ) -> Request {
        let json = header("accept").is_some_and(|a| a.contains("application/json"));
        let fetch = crate::gate::Fetch {
            dest: header("sec-fetch-dest"),
            mode: header("sec-fetch-mode"),
            site: header("sec-fetch-site"),
            json,
        };
        Request {
            json,
            secure,
            takes_place: crate::gate::takes_place(&fetch),
        }
    }
}

/// What `GET /beekeeper` does for a visitor whose cookie carries `cookie`
/// (standing as the backend found it) at `now_secs`, with `line` visitors
/// in line as far as the backend knows: refuse a request that takes no
/// place (`403`, [`crate::gate`]), send them on with
/// their pass ([`Step::Admitted`]: admitted, and still may enter), let them through with a token
/// ([`Step::Release`]: the room is off), show them their place again
/// (already in line: never a second place), or put them in line
/// ([`Step::Enqueue`]: the backend queues a fresh token durably, then
/// answers with [`arrived`]; `503` when the line holds `max_line`). Both
/// rooms call it for every arrival.
pub fn decide(
    cfg: &RoomConfig,
    cookie: Option<Token>,
    standing: Standing,
    line: u64,
    now_secs: u64,
    req: Request,
) -> Step {
    if !req.takes_place {
        return Step::Reply(Reply::forbidden());
    }
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
        _ if line_is_full(cfg.max_line, line) => Step::Reply(Reply::full(req)),
        _ => Step::Enqueue,
    }
}

/// Whether a line of `line` visitors takes nobody else (`max_line`).
/// [`decide`] asks it with what the backend knows; `serve`'s writer asks it
/// again for each arrival it commits, so concurrent arrivals never
/// overfill the line.
pub fn line_is_full(max_line: u64, line: u64) -> bool {
    line >= max_line
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
        takes_place: true,
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
                decide(&cfg(false), Some(t), standing, 0, 50, HTML),
                Step::Release(Some(t))
            );
        }
        assert_eq!(
            decide(&cfg(false), Some(t), Standing::Admitted(a), 0, 100, HTML),
            Step::Release(Some(t))
        );
        assert_eq!(
            decide(&cfg(false), None, Standing::Unknown, 0, 50, HTML),
            Step::Release(None)
        );
        assert_eq!(
            decide(&cfg(false), Some(t), Standing::Admitted(a), 0, 50, HTML),
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
            decide(&cfg(true), None, Standing::Unknown, 0, 50, HTML),
            Step::Enqueue
        );
        assert_eq!(
            decide(&cfg(true), Some(t), Standing::Admitted(a), 0, 50, HTML),
            Step::Admitted(t, a)
        );
        // An expired admission queues again.
        assert_eq!(
            decide(&cfg(true), Some(t), Standing::Admitted(a), 0, 100, HTML),
            Step::Enqueue
        );
        assert_eq!(
            decide(
                &cfg(true),
                Some(t),
                Standing::Queued(Some(120)),
                0,
                50,
                HTML
            ),
            Step::Reply(Reply::redirect("room/index.html?p=120&w=120".into()))
        );
        assert_eq!(
            decide(&cfg(true), Some(t), Standing::Queued(None), 0, 50, HTML),
            Step::Reply(Reply::redirect("room/index.html".into()))
        );
        let r = arrived(
            &cfg(true),
            &t,
            30,
            Request {
                json: true,
                secure: false,
                takes_place: true,
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
    fn the_gate_and_the_line_refuse_before_anything_is_written() {
        let t = Token::from_random([7; 16]);
        let a = Admission {
            admitted_at: 10,
            expires_at: 100,
        };
        let img = Request {
            takes_place: false,
            ..HTML
        };
        // An <img> takes nothing, whoever it comes from and whatever the room.
        for (c, standing) in [(None, Standing::Unknown), (Some(t), Standing::Admitted(a))] {
            for on in [true, false] {
                let Step::Reply(r) = decide(&cfg(on), c, standing, 0, 50, img) else {
                    panic!("an image request was let in");
                };
                assert_eq!((r.status, r.set_cookie), (403, None));
            }
        }
        // A full line: a newcomer is refused with a page that retries;
        // somebody already in line keeps their place.
        let full = RoomConfig {
            max_line: 30,
            ..cfg(true)
        };
        let Step::Reply(r) = decide(&full, None, Standing::Unknown, 30, 50, HTML) else {
            panic!("a 31st place in a line of 30");
        };
        assert_eq!(
            (r.status, r.retry_after, r.set_cookie),
            (503, Some(60), None)
        );
        assert!(r.html.unwrap_or_default().contains("full"));
        assert_eq!(
            decide(&full, None, Standing::Unknown, 29, 50, HTML),
            Step::Enqueue
        );
        assert!(matches!(
            decide(&full, Some(t), Standing::Queued(Some(3)), 30, 50, HTML),
            Step::Reply(Reply { status: 302, .. })
        ));
        let json = Request { json: true, ..HTML };
        let Step::Reply(r) = decide(&full, None, Standing::Unknown, 31, 50, json) else {
            panic!("a place beyond the line");
        };
        assert_eq!(
            r.json.as_deref(),
            Some(r#"{"error":"full","retryAfterSeconds":60}"#)
        );
        // Off: no line to fill; a newcomer goes through.
        assert_eq!(
            decide(
                &RoomConfig {
                    enabled: false,
                    ..full
                },
                None,
                Standing::Unknown,
                30,
                50,
                HTML
            ),
            Step::Release(None)
        );
    }

    #[test]
    fn the_request_is_read_from_its_headers() {
        let headers = |pairs: &'static [(&'static str, &'static str)]| {
            Request::from_headers(
                |name| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v),
                true,
            )
        };
        let nav = headers(&[
            ("sec-fetch-dest", "document"),
            ("sec-fetch-mode", "navigate"),
        ]);
        assert!(nav.takes_place && !nav.json);
        let img = headers(&[("sec-fetch-dest", "image"), ("sec-fetch-mode", "no-cors")]);
        assert!(!img.takes_place);
        let app = headers(&[("accept", "application/json")]);
        assert!(app.takes_place && app.json);
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
