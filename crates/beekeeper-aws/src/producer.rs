//! The producer Lambda: `GET /beekeeper` through API Gateway's Lambda proxy.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use aws_lambda_events::encodings::Body;
use aws_sdk_sqs::types::QueueAttributeName;
use beekeeper_core::answer::Admission;
use beekeeper_core::entry::{self, QueueMessage, Reply, Standing, Step};
use beekeeper_core::pass::Signer;
use beekeeper_core::{RoomConfig, Token};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use tokio::sync::Mutex;

use crate::keys::Keys;
use crate::{now_ms, room, AwsError, Env, Result};

/// How long the room config and the queue depth are trusted in a
/// container: `off`/`on`/`set-rate` reach the producer within this, and the
/// producer never makes a config or depth call per arrival.
pub const CACHE_TTL: Duration = Duration::from_secs(5);

/// A value refreshed at most once per `ttl`.
pub struct Cached<T> {
    ttl: Duration,
    slot: Mutex<Option<(Instant, T)>>,
}

impl<T: Clone> Cached<T> {
    pub fn new(ttl: Duration) -> Cached<T> {
        Cached {
            ttl,
            slot: Mutex::new(None),
        }
    }

    /// The cached value, or a fresh one from `load` when stale. A failed
    /// refresh keeps serving the stale value if there is one.
    pub async fn get<F: Future<Output = Result<T>>>(
        &self,
        load: impl FnOnce() -> F,
    ) -> Result<(T, bool)> {
        let mut slot = self.slot.lock().await;
        if let Some((at, v)) = slot.as_ref() {
            if at.elapsed() < self.ttl {
                return Ok((v.clone(), false));
            }
        }
        match load().await {
            Ok(v) => {
                *slot = Some((Instant::now(), v.clone()));
                Ok((v, true))
            }
            Err(e) => match slot.as_ref() {
                Some((_, v)) => {
                    tracing::warn!("serving a stale value: {e}");
                    Ok((v.clone(), false))
                }
                None => Err(e),
            },
        }
    }
}

pub struct Producer {
    sqs: aws_sdk_sqs::Client,
    ddb: aws_sdk_dynamodb::Client,
    env: Env,
    config: Cached<RoomConfig>,
    depth: Cached<u64>,
    /// Read only when a visitor is sent on (admitted, or the room is off).
    keys: Keys,
    /// Arrivals enqueued by this container since the depth was read.
    since_depth: AtomicU64,
}

impl Producer {
    pub fn new(sdk: &aws_config::SdkConfig, env: Env) -> Producer {
        Producer {
            keys: Keys::new(aws_sdk_ssm::Client::new(sdk), env.pass_keys.clone()),
            sqs: aws_sdk_sqs::Client::new(sdk),
            ddb: aws_sdk_dynamodb::Client::new(sdk),
            env,
            config: Cached::new(CACHE_TTL),
            depth: Cached::new(CACHE_TTL),
            since_depth: AtomicU64::new(0),
        }
    }

    /// `GET /beekeeper` through API Gateway's Lambda proxy: looks up the
    /// cookie's token, asks [`beekeeper_core::entry::decide`], and for a new
    /// visitor sends the token to SQS (awaited) before the cookie goes out.
    /// Never fails: what cannot be done is a `503` with `Retry-After`.
    pub async fn handle(&self, req: &ApiGatewayProxyRequest) -> ApiGatewayProxyResponse {
        let cfg = match self
            .config
            .get(|| room::load_config(&self.ddb, &self.env.config_table))
            .await
        {
            Ok((cfg, _)) => cfg,
            Err(e) => {
                tracing::error!("{e}");
                return respond(Reply::busy());
            }
        };
        let Incoming { request, cookie } = incoming(req);
        let standing = match cookie {
            None => Standing::Unknown,
            Some(token) => match room::admission(&self.ddb, &self.env.tokens_table, &token).await {
                Ok(Some(a)) => Standing::Admitted(a),
                // No admission: in line (or a forged token, which only
                // keeps its owner in the room). Its position is unknown here.
                Ok(None) => Standing::Queued(None),
                Err(e) => {
                    tracing::warn!("{e}");
                    Standing::Queued(None)
                }
            },
        };
        let line = self.line().await;
        let release = match entry::decide(&cfg, cookie, standing, line, now_ms() / 1000, request) {
            Step::Reply(reply) => return respond(reply),
            Step::Admitted(token, a) => {
                return respond(match self.keys.signer().await {
                    Ok(signer) => entry::admitted(&cfg, signer.as_ref(), &token, &a),
                    Err(e) => {
                        tracing::error!("{e}");
                        Reply::busy()
                    }
                })
            }
            Step::Enqueue => None,
            Step::Release(token) => Some(token),
        };
        let answer = match release {
            Some(token) => self.release(&cfg, token).await.map(|(token, signer, a)| {
                entry::released(&cfg, signer.as_ref(), &token, &a, request)
            }),
            None => self
                .enqueue()
                .await
                .map(|token| entry::arrived(&cfg, &token, line + 1, request)),
        };
        respond(answer.unwrap_or_else(|e| {
            tracing::error!("{e}");
            Reply::busy()
        }))
    }

    /// The room is off: writes the token (the cookie's, or a fresh one) as
    /// admitted for a session, replacing an expired admission. A place it
    /// held in the queue is recognised later as already admitted and
    /// dropped without using the rate.
    async fn release(
        &self,
        cfg: &RoomConfig,
        token: Option<Token>,
    ) -> Result<(Token, Arc<Signer>, Admission)> {
        let signer = self.keys.signer().await?;
        let token = match token {
            Some(t) => t,
            None => fresh_token()?,
        };
        let item = room::admission_item(cfg, &signer, &token, now_ms() / 1000);
        let admission = room::admission_from_item(&item)
            .ok_or_else(|| AwsError::BadConfig("an admission without its times".into()))?;
        self.ddb
            .put_item()
            .table_name(&self.env.tokens_table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| AwsError::sdk("let a visitor through", e))?;
        Ok((token, signer, admission))
    }

    /// Everybody in line as far as this container knows: the queue's depth
    /// (read at most every [`CACHE_TTL`]; SQS reports it approximately),
    /// topped up with this container's arrivals since the read. With it
    /// `max_line` holds to within a few seconds of arrivals.
    async fn line(&self) -> u64 {
        let depth = self
            .depth
            .get(|| queue_depth(&self.sqs, &self.env.queue_url))
            .await;
        match depth {
            Ok((depth, true)) => {
                self.since_depth.store(0, Ordering::Relaxed);
                depth
            }
            Ok((depth, false)) => depth + self.since_depth.load(Ordering::Relaxed),
            Err(e) => {
                tracing::warn!("{e}");
                0
            }
        }
    }

    /// Queues a new token (awaited: no cookie for a token that is not
    /// queued).
    async fn enqueue(&self) -> Result<Token> {
        let token = fresh_token()?;
        let body = serde_json::to_string(&QueueMessage {
            token,
            at: now_ms(),
        })
        .map_err(|e| AwsError::sdk("encode a queue message", e))?;
        self.sqs
            .send_message()
            .queue_url(&self.env.queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| AwsError::sdk("enqueue an arrival", e))?;
        self.since_depth.fetch_add(1, Ordering::Relaxed);
        Ok(token)
    }
}

fn fresh_token() -> Result<Token> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| AwsError::Random(e.to_string()))?;
    Ok(Token::from_random(bytes))
}

/// What the producer reads from the API Gateway event.
pub struct Incoming {
    pub request: entry::Request,
    pub cookie: Option<Token>,
}

pub fn incoming(req: &ApiGatewayProxyRequest) -> Incoming {
    let headers = Headers(&req.headers, &req.multi_value_headers);
    Incoming {
        // API Gateway answers on HTTPS only.
        request: entry::Request::from_headers(
            |name| headers.all(name).next(),
            entry::secure_cookie(None, false),
        ),
        cookie: headers.all("cookie").find_map(Token::from_cookie_header),
    }
}

/// Visible plus in-flight messages: everybody still in line.
pub async fn queue_depth(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Result<u64> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(|e| AwsError::call("read the queue depth", e))?;
    let attrs = out.attributes();
    let get = |k: &QueueAttributeName| {
        attrs
            .and_then(|a| a.get(k))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok(get(&QueueAttributeName::ApproximateNumberOfMessages)
        + get(&QueueAttributeName::ApproximateNumberOfMessagesNotVisible))
}

/// Header lookup over API Gateway's single- and multi-value header maps
/// (names are case-insensitive in both).
struct Headers<'a>(&'a HeaderMap, &'a HeaderMap);

impl<'a> Headers<'a> {
    fn all(&self, name: &'static str) -> impl Iterator<Item = &'a str> + 'a {
        let (single, multi) = (self.0, self.1);
        multi
            .get_all(name)
            .iter()
            .chain(if multi.contains_key(name) {
                None
            } else {
                single.get(name)
            })
            .filter_map(|v| v.to_str().ok())
    }
}

/// The core's reply as an API Gateway proxy response.
pub fn respond(reply: Reply) -> ApiGatewayProxyResponse {
    let mut headers = HeaderMap::new();
    let mut set = |name: HeaderName, value: Option<String>| {
        if let Some(v) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
            headers.insert(name, v);
        }
    };
    set(http::header::LOCATION, reply.location);
    set(http::header::SET_COOKIE, reply.set_cookie);
    set(
        http::header::RETRY_AFTER,
        reply.retry_after.map(|s| s.to_string()),
    );
    set(http::header::CACHE_CONTROL, Some("no-store".into()));
    let (content_type, body) = match (reply.json, reply.html, reply.text) {
        (Some(json), _, _) => ("application/json", Some(json)),
        (None, Some(page), _) => (beekeeper_core::page::INDEX_CONTENT_TYPE, Some(page)),
        (None, None, Some(text)) => ("text/plain; charset=utf-8", Some(text)),
        (None, None, None) => ("", None),
    };
    if body.is_some() {
        set(http::header::CONTENT_TYPE, Some(content_type.into()));
    }
    let body = body.map(Body::Text);
    if (300..400).contains(&reply.status) && !headers.contains_key(http::header::LOCATION) {
        // A redirect nowhere strands the visitor: never sent.
        tracing::error!("a redirect without a valid Location");
        return respond(Reply::busy());
    }
    let mut r = ApiGatewayProxyResponse::default();
    r.status_code = i64::from(reply.status);
    r.headers = headers;
    r.body = body;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_carry_their_page_or_text() {
        let html = entry::Request {
            json: false,
            secure: true,
            takes_place: true,
        };
        let full = respond(Reply::full(html));
        let header = |r: &ApiGatewayProxyResponse, n: &str| {
            r.headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        assert_eq!(full.status_code, 503);
        assert_eq!(header(&full, "retry-after").as_deref(), Some("60"));
        assert!(header(&full, "content-type").is_some_and(|c| c.starts_with("text/html")));
        assert!(
            matches!(&full.body, Some(Body::Text(t)) if t.contains("The waiting room is full"))
        );
        let forbidden = respond(Reply::forbidden());
        assert_eq!(forbidden.status_code, 403);
        assert!(header(&forbidden, "content-type").is_some_and(|c| c.starts_with("text/plain")));
        assert!(header(&forbidden, "set-cookie").is_none());
    }

    #[test]
    fn a_redirect_is_never_sent_without_its_location() {
        assert_eq!(
            respond(Reply::redirect("https://shop.example/sale".into())).status_code,
            302
        );
        for bad in ["https://shop.example/\nsale", "https://shop.example/\u{7f}"] {
            let r = respond(Reply::redirect(bad.into()));
            assert_eq!(r.status_code, 503, "{bad:?}");
            assert!(r.headers.contains_key(http::header::RETRY_AFTER));
        }
    }
}
