//! The routes of the room, over HTTP.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use beekeeper_core::answer::{Admission, ClientCheck, Poll};
use beekeeper_core::entry::{self, Reply, Step};
use beekeeper_core::pass::{KeyRing, Passes, Signer};
use beekeeper_core::{names, RoomConfig, Token};
use tokio::sync::watch;

use crate::lock::DataDir;
use crate::store::{Standing, Store};
use crate::{admission, assets, now_ms, LocalError, ServeConfig};

struct App {
    store: Store,
    config: watch::Receiver<Arc<RoomConfig>>,
    keys: watch::Receiver<Arc<Keys>>,
    demo: bool,
    /// Whether the place-in-line cookie is `Secure`, decided at start.
    secure: bool,
    /// The room page with the room name filled in (cheap to clone).
    index: axum::body::Bytes,
    /// `arrivals_per_client`.
    limiter: crate::limit::Limiter,
    trusted_proxies: Vec<ipnet::IpNet>,
}

/// The address a connection comes from, put on each of its requests to
/// the entry (the one route that counts clients).
#[derive(Debug, Clone, Copy)]
struct Peer(std::net::IpAddr);

type Shared = State<Arc<App>>;

/// The ring, the signer of its current key, and the passes it signed.
struct Keys {
    ring: KeyRing,
    signer: Signer,
    /// A pass is a function of the admission and the key: signed once per
    /// admission, not at every poll (a signature costs more than the rest
    /// of a poll). A new key starts a new memo.
    passes: std::sync::Mutex<std::collections::HashMap<(Token, u64, u64), Arc<str>>>,
}

/// Passes kept at most; beyond, the memo starts over (a session's
/// admissions at a high rate, about 40 MB).
const PASSES_KEPT: usize = 200_000;

impl Passes for Keys {
    fn pass_for(&self, token: &Token, a: &Admission) -> String {
        let key = (*token, a.admitted_at, a.expires_at);
        let lock = || {
            self.passes
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if let Some(p) = lock().get(&key) {
            return p.to_string();
        }
        let pass = self.signer.pass(token, a);
        let mut memo = lock();
        if memo.len() >= PASSES_KEPT {
            memo.clear();
        }
        memo.insert(key, pass.as_str().into());
        pass
    }
}

impl Keys {
    fn new(ring: KeyRing) -> Result<Keys, LocalError> {
        let signer = ring
            .signer()
            .map_err(|source| crate::keys::KeysError::Unusable {
                path: crate::keys::KEYS_FILE.into(),
                source,
            })?;
        Ok(Keys {
            ring,
            signer,
            passes: Default::default(),
        })
    }
}

/// A started room: the address it listens on, ready to [`Serving::run`].
pub struct Serving {
    pub addr: SocketAddr,
    listener: tokio::net::TcpListener,
    router: Router,
    /// Held for as long as the room is served.
    _lock: DataDir,
}

/// How long a client may take to send a request's headers, and how long a
/// kept-alive connection may sit idle before its next request: then the
/// connection is closed (a slow or silent client holds nothing for long).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections one client address may hold at once; beyond, new ones are
/// closed at once. A browser opens at most six; a carrier's shared address
/// many more, so this only stops one machine from holding the room.
pub const CONNECTIONS_PER_CLIENT: usize = 256;
/// Connections the room holds at most (fewer when the process may open
/// fewer files); beyond, new ones are closed at once instead of leaving
/// the room unable to accept anybody.
pub const MAX_CONNECTIONS: usize = 16_384;
/// File descriptors kept for the database, the logs and the probes.
const RESERVED_FILES: usize = 64;
/// After Ctrl-C or SIGTERM, how long requests in flight may take to finish
/// before the room exits anyway.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(5);

impl Serving {
    /// Serves until Ctrl-C (or SIGTERM), then stops accepting, lets the
    /// requests in flight finish for at most [`SHUTDOWN_DEADLINE`], and
    /// returns. Connections are shed, not queued, beyond [`MAX_CONNECTIONS`]
    /// (or what the file limit allows) and [`CONNECTIONS_PER_CLIENT`].
    pub async fn run(self) -> Result<(), LocalError> {
        let limit = connection_limit();
        tracing::info!(limit, "connections at most");
        let total = Arc::new(tokio::sync::Semaphore::new(limit));
        let per_client: Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>> =
            Arc::default();
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT);
        let stop = shutdown();
        tokio::pin!(stop);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of files or a connection reset before it was
                        // taken: wait a moment rather than spin.
                        tracing::warn!("accept: {e}");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                },
                _ = &mut stop => break,
            };
            let Ok(permit) = total.clone().try_acquire_owned() else {
                continue;
            };
            let Some(slot) = ClientSlot::take(&per_client, peer.ip()) else {
                continue;
            };
            let service = hyper_util::service::TowerToHyperService::new(
                tower::ServiceBuilder::new()
                    .map_request(move |mut r: axum::http::Request<hyper::body::Incoming>| {
                        // Only the entry counts clients: other requests
                        // skip the allocation an extension costs.
                        if r.uri().path() == names::ROUTE_ENTRY {
                            r.extensions_mut().insert(Peer(peer.ip()));
                        }
                        r
                    })
                    .service(self.router.clone()),
            );
            let conn = graceful
                .watch(http.serve_connection(hyper_util::rt::TokioIo::new(stream), service));
            tokio::spawn(async move {
                let _ = conn.await;
                drop((permit, slot));
            });
        }
        drop(self.listener);
        if tokio::time::timeout(SHUTDOWN_DEADLINE, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("requests still in flight after {SHUTDOWN_DEADLINE:?}: exiting anyway");
        }
        Ok(())
    }
}

/// One of a client address's connections, given back when dropped.
struct ClientSlot {
    map: Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>,
    ip: std::net::IpAddr,
}

impl ClientSlot {
    fn take(
        map: &Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>,
        ip: std::net::IpAddr,
    ) -> Option<ClientSlot> {
        let mut m = map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = m.entry(ip).or_default();
        if *n >= CONNECTIONS_PER_CLIENT {
            return None;
        }
        *n += 1;
        Some(ClientSlot {
            map: map.clone(),
            ip,
        })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut m = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = m.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

/// [`MAX_CONNECTIONS`], or fewer when the process may not open that many
/// files. The soft file limit is first raised to the hard one, as servers
/// do; what is left after [`RESERVED_FILES`] is the limit.
fn connection_limit() -> usize {
    #[cfg(unix)]
    {
        use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
        let mut lim = getrlimit(Resource::Nofile);
        if lim.current < lim.maximum {
            let raised = Rlimit {
                current: lim.maximum,
                maximum: lim.maximum,
            };
            if setrlimit(Resource::Nofile, raised).is_ok() {
                lim.current = lim.maximum;
            }
        }
        // None is unlimited.
        let files = lim
            .current
            .map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
        files
            .saturating_sub(RESERVED_FILES)
            .clamp(1, MAX_CONNECTIONS)
    }
    #[cfg(not(unix))]
    MAX_CONNECTIONS
}

async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

pub(crate) fn start(
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    store: Store,
    ring: KeyRing,
    lock: DataDir,
    cfg: ServeConfig,
) -> Result<Serving, LocalError> {
    let (initial, version) = store.config()?;
    let (tx, rx) = watch::channel(Arc::new(initial.clone()));
    tokio::spawn(watch_config(store.clone(), tx, version));
    let (keys_tx, keys) = watch::channel(Arc::new(Keys::new(ring)?));
    tokio::spawn(watch_keys(cfg.data_dir.clone(), keys_tx));
    tokio::spawn(admission::run(store.clone(), rx.clone(), cfg.minute));
    tokio::spawn(sweep(store.clone(), rx.clone()));
    tokio::spawn(crate::throttle::run(
        cfg.data_dir.clone(),
        rx.clone(),
        cfg.minute,
    ));
    let app = Arc::new(App {
        index: beekeeper_core::page::render(beekeeper_core::page::INDEX_TEMPLATE, &initial.name)
            .into(),
        store,
        config: rx,
        keys,
        demo: cfg.demo,
        secure: entry::secure_cookie(cfg.secure_cookie, addr.ip().is_loopback()),
        limiter: crate::limit::Limiter::new(cfg.arrivals_per_client, LIMIT_MINUTE_MS),
        trusted_proxies: cfg.trusted_proxies.clone(),
    });
    let router = Router::new()
        .route("/", get(|| async { redirect("beekeeper") }))
        .route(names::ROUTE_ENTRY, get(entry))
        .route(names::ROUTE_ROOM, get(|| async { redirect("room/") }))
        .route("/room/", get(room_index))
        .route("/room/{file}", get(room_asset))
        .route(names::ROUTE_POLL, get(poll))
        .route("/client-check/{token}", get(client_check).post(redeem))
        .route(beekeeper_core::pass::JWKS_PATH, get(jwks))
        .route("/demo/", get(demo))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(app);
    Ok(Serving {
        addr,
        listener,
        router,
        _lock: lock,
    })
}

/// `off`, `on` and `set-rate` from another process land in the database;
/// the server notices within a quarter of a second.
async fn watch_config(store: Store, tx: watch::Sender<Arc<RoomConfig>>, mut version: u64) {
    let mut every = tokio::time::interval(Duration::from_millis(250));
    loop {
        every.tick().await;
        match store.config_version() {
            Ok(v) if v != version => match store.config() {
                Ok((cfg, v)) => {
                    tracing::info!(
                        enabled = cfg.enabled,
                        rate = cfg.effective_rate(),
                        "room config changed"
                    );
                    version = v;
                    let _ = tx.send(Arc::new(cfg));
                }
                Err(e) => tracing::warn!("cannot read the room config: {e}"),
            },
            Ok(_) => {}
            Err(e) => tracing::warn!("cannot read the room config: {e}"),
        }
    }
}

/// `beekeeper rotate-key` from another process rewrites the key file; the
/// server signs with the new key within a quarter of a second.
async fn watch_keys(data_dir: std::path::PathBuf, tx: watch::Sender<Arc<Keys>>) {
    let mut every = tokio::time::interval(Duration::from_millis(250));
    let mut seen = crate::keys::stamp(&data_dir);
    loop {
        every.tick().await;
        let now = crate::keys::stamp(&data_dir);
        if now == seen {
            continue;
        }
        match crate::keys::reload(&data_dir)
            .map_err(LocalError::from)
            .and_then(Keys::new)
        {
            Ok(keys) => {
                tracing::info!(kid = keys.signer.kid(), "pass key changed");
                seen = now;
                let _ = tx.send(Arc::new(keys));
            }
            // Half written by hand, or mid-copy: the old key keeps signing.
            Err(e) => tracing::warn!("cannot read the changed pass keys: {e}"),
        }
    }
}

async fn sweep(store: Store, config: watch::Receiver<Arc<RoomConfig>>) {
    let mut every = tokio::time::interval(Duration::from_secs(30));
    loop {
        every.tick().await;
        let queue_ms = config.borrow().queue_secs * 1000;
        if let Err(e) = store.sweep(now_ms(), queue_ms).await {
            tracing::warn!("sweep failed: {e}");
        }
    }
}

fn redirect(location: &str) -> Response {
    let mut r = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    no_store(r)
}

fn no_store(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn cookie_token(headers: &HeaderMap) -> Option<Token> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(Token::from_cookie_header)
}

/// The per-client limit counts real minutes, whatever the room's minute
/// is set to in tests.
const LIMIT_MINUTE_MS: u64 = 60_000;

/// Turns the core's transport-neutral reply into an HTTP response.
fn send(reply: Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = match (reply.json, reply.html, reply.text) {
        (Some(body), _, _) => {
            (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        (None, Some(page), _) => (
            status,
            [(
                header::CONTENT_TYPE,
                beekeeper_core::page::INDEX_CONTENT_TYPE,
            )],
            page,
        )
            .into_response(),
        (None, None, Some(text)) => (status, text).into_response(),
        (None, None, None) => status.into_response(),
    };
    let h = r.headers_mut();
    let mut set = |name, value: Option<String>| {
        if let Some(v) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
            h.insert(name, v);
        }
    };
    set(header::LOCATION, reply.location);
    set(header::SET_COOKIE, reply.set_cookie);
    set(
        header::RETRY_AFTER,
        reply.retry_after.map(|s| s.to_string()),
    );
    if r.status().is_redirection() && !r.headers().contains_key(header::LOCATION) {
        // A redirect nowhere strands the visitor: never sent.
        tracing::error!("a redirect without a valid Location");
        return unavailable();
    }
    no_store(r)
}

fn unavailable() -> Response {
    send(Reply::busy())
}

/// `GET /beekeeper`: the producer.
async fn entry(
    State(app): Shared,
    axum::Extension(Peer(peer)): axum::Extension<Peer>,
    headers: HeaderMap,
) -> Response {
    let cfg = app.config.borrow().clone();
    let header = |name: &'static str| headers.get(name).and_then(|v| v.to_str().ok());
    let req = entry::Request::from_headers(header, app.secure);
    let cookie = cookie_token(&headers);
    let standing = match cookie.map(|t| app.store.standing(&t)).transpose() {
        Ok(Some(Standing::Queued(seq))) => entry::Standing::Queued(Some(app.store.position(seq))),
        Ok(Some(Standing::Admitted(a))) => entry::Standing::Admitted(a),
        Ok(_) => entry::Standing::Unknown,
        Err(e) => {
            tracing::warn!("cannot look up a token: {e}");
            return unavailable();
        }
    };
    let keys = app.keys.borrow().clone();
    let line = app.store.line_len();
    let release = match entry::decide(&cfg, cookie, standing, line, now_ms() / 1000, req) {
        Step::Reply(reply) => return send(reply),
        Step::Admitted(token, a) => return send(entry::admitted(&cfg, keys.as_ref(), &token, &a)),
        Step::Enqueue => None,
        Step::Release(token) => Some(token),
    };
    // A new place (or a fresh token while off) counts against the client.
    if !matches!(release, Some(Some(_))) {
        // Every `X-Forwarded-For` line, in order: one list, read from the right.
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        let client =
            beekeeper_core::gate::client_address(peer, Some(&forwarded), &app.trusted_proxies);
        match app.limiter.take(client, now_ms()) {
            crate::limit::Verdict::Take => {}
            crate::limit::Verdict::Limited(secs) => return send(Reply::too_many(req, secs)),
            crate::limit::Verdict::Busy => return unavailable(),
        }
    }
    let token = match release.flatten() {
        Some(t) => t,
        None => {
            let mut bytes = [0u8; 16];
            if getrandom::fill(&mut bytes).is_err() {
                return unavailable();
            }
            Token::from_random(bytes)
        }
    };
    let now = now_ms();
    if release.is_some() {
        let expires = now + cfg.session_secs * 1000;
        let admission = Admission {
            admitted_at: now / 1000,
            expires_at: expires / 1000,
        };
        return match app.store.release(token, now, expires).await {
            Ok(()) => send(entry::released(
                &cfg,
                keys.as_ref(),
                &token,
                &admission,
                req,
            )),
            Err(e) => {
                tracing::warn!("cannot let a visitor through: {e}");
                unavailable()
            }
        };
    }
    match app.store.enqueue(token, now, cfg.max_line).await {
        Ok(Some(seq)) => send(entry::arrived(&cfg, &token, app.store.position(seq), req)),
        Ok(None) => send(Reply::full(req)),
        Err(e) => {
            tracing::warn!("enqueue failed: {e}");
            unavailable()
        }
    }
}

async fn room_index(State(app): Shared) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                beekeeper_core::page::INDEX_CONTENT_TYPE,
            ),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            // The room's URLs never leak to where its links lead.
            (
                header::REFERRER_POLICY,
                beekeeper_core::page::REFERRER_POLICY,
            ),
        ],
        app.index.clone(),
    )
        .into_response()
}

/// The page is the room's one file (its style and scripts are inside).
async fn room_asset(State(app): Shared, Path(file): Path<String>) -> Response {
    if file == "index.html" {
        return room_index(State(app)).await;
    }
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}

/// `GET /polling`: is it my turn yet?
async fn poll(State(app): Shared, headers: HeaderMap) -> Response {
    let cfg = app.config.borrow().clone();
    let token = cookie_token(&headers);
    let admission = match token.map(|t| app.store.standing(&t)).transpose() {
        Ok(Some(Standing::Admitted(a))) => Some(a),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!("cannot look up a token: {e}");
            return unavailable();
        }
    };
    let keys = app.keys.borrow().clone();
    let answer = Poll::new(
        &cfg,
        keys.as_ref(),
        token.as_ref(),
        admission,
        now_ms() / 1000,
    );
    no_store(Json(answer).into_response())
}

/// `GET /client-check/{token}`: the origin backend asks about a visitor.
async fn client_check(State(app): Shared, Path(raw): Path<String>) -> Response {
    let Some(token) = Token::parse(&raw) else {
        return no_store(Json(ClientCheck::deny()).into_response());
    };
    match app.store.standing(&token) {
        Ok(Standing::Admitted(a)) => {
            no_store(Json(ClientCheck::new(Some(a), now_ms() / 1000)).into_response())
        }
        Ok(_) => no_store(Json(ClientCheck::deny()).into_response()),
        Err(e) => {
            tracing::warn!("cannot look up a token: {e}");
            unavailable()
        }
    }
}

/// `POST /client-check/{token}`: the origin uses the visitor's admission,
/// once.
async fn redeem(State(app): Shared, Path(raw): Path<String>) -> Response {
    let Some(token) = Token::parse(&raw) else {
        return no_store(Json(ClientCheck::deny()).into_response());
    };
    match app.store.redeem(token, now_ms()).await {
        Ok(r) => no_store(Json(ClientCheck::redeemed(r)).into_response()),
        Err(e) => {
            tracing::warn!("cannot redeem a token: {e}");
            unavailable()
        }
    }
}

/// `GET /.well-known/jwks.json`: the public keys passes verify with. An
/// origin may keep it for five minutes; a library that meets an unknown
/// `kid` fetches it again.
async fn jwks(State(app): Shared) -> Response {
    let keys = app.keys.borrow().clone();
    match keys.ring.jwks(now_ms() / 1000) {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "public, max-age=300"),
            ],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!("cannot publish the pass keys: {e}");
            unavailable()
        }
    }
}

async fn demo(State(app): Shared) -> Response {
    if !app.demo {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    }
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        assets::DEMO_PAGE,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redirect_is_never_sent_without_its_location() {
        let ok = send(Reply::redirect("https://shop.example/sale".into()));
        assert_eq!(ok.status(), StatusCode::FOUND);
        for bad in ["https://shop.example/\nsale", "https://shop.example/\u{7f}"] {
            let r = send(Reply::redirect(bad.into()));
            assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "{bad:?}");
            assert!(r.headers().contains_key(header::RETRY_AFTER));
        }
    }
}
