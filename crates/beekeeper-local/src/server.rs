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
use beekeeper_core::answer::{ClientCheck, Poll};
use beekeeper_core::entry::{self, Reply, Step};
use beekeeper_core::{names, RoomConfig, Token};
use tokio::sync::watch;

use crate::lock::DataDir;
use crate::store::{Standing, Store};
use crate::{admission, assets, now_ms, LocalError, ServeConfig};

struct App {
    store: Store,
    config: watch::Receiver<Arc<RoomConfig>>,
    demo: bool,
    /// The room page with the room name filled in (cheap to clone).
    index: axum::body::Bytes,
}

type Shared = State<Arc<App>>;

/// A started room: the address it listens on, ready to [`Serving::run`].
pub struct Serving {
    pub addr: SocketAddr,
    listener: tokio::net::TcpListener,
    router: Router,
    /// Held for as long as the room is served.
    _lock: DataDir,
}

impl Serving {
    /// Serves until Ctrl-C (or SIGTERM), then stops accepting and returns.
    pub async fn run(self) -> Result<(), LocalError> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown())
            .await
            .map_err(LocalError::Serve)
    }
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
    lock: DataDir,
    cfg: ServeConfig,
) -> Result<Serving, LocalError> {
    let (initial, version) = store.config()?;
    let (tx, rx) = watch::channel(Arc::new(initial.clone()));
    tokio::spawn(watch_config(store.clone(), tx, version));
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
        demo: cfg.demo,
    });
    let router = Router::new()
        .route("/", get(|| async { redirect("beekeeper") }))
        .route(names::ROUTE_ENTRY, get(entry))
        .route(names::ROUTE_ROOM, get(|| async { redirect("room/") }))
        .route("/room/", get(room_index))
        .route("/room/{file}", get(room_asset))
        .route(names::ROUTE_POLL, get(poll))
        .route("/client-check/{token}", get(client_check))
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

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json"))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Turns the core's transport-neutral reply into an HTTP response.
fn send(reply: Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = match reply.json {
        Some(body) => (status, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        None if reply.status == 503 => {
            (status, "the waiting room is busy, retry in a few seconds\n").into_response()
        }
        None => status.into_response(),
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
    no_store(r)
}

fn unavailable() -> Response {
    send(Reply::busy())
}

/// `GET /beekeeper`: the producer.
async fn entry(State(app): Shared, headers: HeaderMap) -> Response {
    let cfg = app.config.borrow().clone();
    let req = entry::Request {
        json: wants_json(&headers),
        secure: entry::secure_cookie(
            header(&headers, "host"),
            header(&headers, "x-forwarded-proto"),
        ),
    };
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
    let release = match entry::decide(&cfg, cookie, standing, now_ms() / 1000, req) {
        Step::Reply(reply) => return send(reply),
        Step::Enqueue => None,
        Step::Release(token) => Some(token),
    };
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
        return match app
            .store
            .release(token, now, now + cfg.session_secs * 1000)
            .await
        {
            Ok(()) => send(entry::released(&cfg, &token, req)),
            Err(e) => {
                tracing::warn!("cannot let a visitor through: {e}");
                unavailable()
            }
        };
    }
    match app.store.enqueue(token, now).await {
        Ok(seq) => send(entry::arrived(&cfg, &token, app.store.position(seq), req)),
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
    let answer = Poll::new(&cfg, token.as_ref(), admission, now_ms() / 1000);
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
