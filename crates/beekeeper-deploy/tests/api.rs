//! The deployed API, end to end. moto stores an API definition but does
//! not serve it, so this harness reads the definition back from moto
//! (resources, methods, integrations, templates, stage variables) and
//! serves it the way API Gateway would: Lambda proxy integrations invoke
//! the real Lambda binaries under `cargo lambda watch`, DynamoDB
//! integrations render the stored templates with airspeed and call moto's
//! DynamoDB, S3 integrations read moto's bucket. It also answers Lambda's
//! invoke API for the deployed function names, so the trigger's consumers
//! are started the way Lambda starts them (Event: accepted, run apart).
//! A crowd of visitors with cookie jars then goes through the room.
#![allow(clippy::unwrap_used)] // helpers outside #[test] functions

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use beekeeper_deploy::{control, CallLog, Plan};
use beekeeper_test_support::census::*;
use beekeeper_test_support::fixtures::*;
use beekeeper_test_support::vtl::{dynamodb_in, Renderer};
use beekeeper_test_support::watch::{rfc3339, Watch};
use beekeeper_test_support::*;
use serde_json::{json, Value};

/// An integration response: selection pattern, templates, header mappings.
type Answer = (
    Option<String>,
    HashMap<String, String>,
    HashMap<String, String>,
);

/// One integration as moto holds it.
#[derive(Debug, Clone)]
struct Integration {
    kind: String,
    uri: String,
    request_params: HashMap<String, String>,
    request_templates: HashMap<String, String>,
    /// status → (selection pattern, templates, header mappings)
    responses: BTreeMap<String, Answer>,
}

struct Api {
    stage: String,
    api_id: String,
    region: String,
    stage_variables: Value,
    /// (method, resource path, integration).
    routes: Vec<(String, String, Integration)>,
    /// Deployed function name → binary under `cargo lambda watch`.
    functions: HashMap<String, String>,
    watch: String,
    moto: Moto,
    s3: aws_sdk_s3::Client,
    renderer: Mutex<Renderer>,
    http: reqwest::Client,
    invocations: Mutex<Vec<String>>,
}

/// Reads the API back from moto.
async fn read_api(
    c: &beekeeper_deploy::Clients,
    name: &str,
) -> (String, Vec<(String, String, Integration)>, Value) {
    let apis = c.api.get_rest_apis().send().await.unwrap();
    let api = apis
        .items()
        .iter()
        .find(|a| a.name() == Some(name))
        .unwrap();
    let id = api.id().unwrap().to_string();
    let mut routes = Vec::new();
    for r in c
        .api
        .get_resources()
        .rest_api_id(&id)
        .send()
        .await
        .unwrap()
        .items()
    {
        for method in ["GET", "POST"] {
            let Ok(m) = c
                .api
                .get_method()
                .rest_api_id(&id)
                .resource_id(r.id().unwrap())
                .http_method(method)
                .send()
                .await
            else {
                continue;
            };
            let i = m.method_integration().unwrap();
            let responses = i
                .integration_responses()
                .map(|rs| {
                    rs.iter()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                (
                                    v.selection_pattern().map(str::to_string),
                                    v.response_templates().cloned().unwrap_or_default(),
                                    v.response_parameters().cloned().unwrap_or_default(),
                                ),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            routes.push((
                method.to_string(),
                r.path().unwrap().to_string(),
                Integration {
                    kind: i.r#type().unwrap().as_str().to_string(),
                    uri: i.uri().unwrap().to_string(),
                    request_params: i.request_parameters().cloned().unwrap_or_default(),
                    request_templates: i.request_templates().cloned().unwrap_or_default(),
                    responses,
                },
            ));
        }
    }
    let stage = c
        .api
        .get_stage()
        .rest_api_id(&id)
        .stage_name("live")
        .send()
        .await
        .unwrap();
    let vars = json!(stage.variables().cloned().unwrap_or_default());
    (id, routes, vars)
}

/// Matches a request path against a resource path with `{x}` and `{x+}`.
fn matches(pattern: &str, path: &str) -> Option<HashMap<String, String>> {
    let pat: Vec<&str> = pattern.trim_matches('/').split('/').collect();
    let got: Vec<&str> = path.trim_matches('/').split('/').collect();
    let mut params = HashMap::new();
    for (i, p) in pat.iter().enumerate() {
        if let Some(name) = p.strip_prefix('{').and_then(|p| p.strip_suffix("+}")) {
            let rest = got.get(i..)?.join("/");
            if rest.is_empty() {
                return None;
            }
            params.insert(name.to_string(), rest);
            return Some(params);
        }
        let seg = got.get(i)?;
        match p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(name) if !seg.is_empty() => {
                params.insert(name.to_string(), seg.to_string());
            }
            Some(_) => return None,
            None if p == seg => {}
            None => return None,
        }
    }
    (got.len() == pat.len()).then_some(params)
}

fn query_map(uri: &Uri) -> BTreeMap<String, String> {
    uri.query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn serve(
    State(api): State<Arc<Api>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    // Lambda's invoke API, for the trigger's consumers.
    if let Some(rest) = path.strip_prefix("/2015-03-31/functions/") {
        let name = rest.trim_end_matches("/invocations").to_string();
        let Some(binary) = api.functions.get(&name).cloned() else {
            return (StatusCode::NOT_FOUND, "ResourceNotFoundException").into_response();
        };
        api.invocations.lock().unwrap().push(name);
        let url = format!("{}/2015-03-31/functions/{binary}/invocations", api.watch);
        let http = api.http.clone();
        let send = async move { http.post(url).body(body).send().await };
        let event = headers
            .get("x-amz-invocation-type")
            .is_some_and(|v| v == "Event");
        if event {
            tokio::spawn(send);
            return StatusCode::ACCEPTED.into_response();
        }
        let r = send.await.unwrap();
        return (StatusCode::OK, r.bytes().await.unwrap()).into_response();
    }
    let Some(resource_path) = path.strip_prefix(&format!("/{}", api.stage)) else {
        return (
            StatusCode::FORBIDDEN,
            "{\"message\":\"Missing Authentication Token\"}",
        )
            .into_response();
    };
    let resource_path = if resource_path.len() > 1 {
        resource_path.trim_end_matches('/')
    } else {
        resource_path
    };
    // The most specific resource wins: literal, then {x}, then {x+}.
    let mut found: Vec<(&String, &Integration, HashMap<String, String>)> = api
        .routes
        .iter()
        .filter(|(m, _, _)| *m == method.as_str())
        .filter_map(|(_, p, i)| matches(p, resource_path).map(|m| (p, i, m)))
        .collect();
    found.sort_by_key(|(p, _, _)| (p.contains("+}"), p.matches('{').count()));
    let Some((resource, integration, params)) = found.into_iter().next() else {
        return (
            StatusCode::FORBIDDEN,
            "{\"message\":\"Missing Authentication Token\"}",
        )
            .into_response();
    };
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let header_map: BTreeMap<String, String> = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                v.to_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    match integration.kind.as_str() {
        "AWS_PROXY" => {
            let function = integration
                .uri
                .split(":function:")
                .nth(1)
                .unwrap()
                .trim_end_matches("/invocations");
            let binary = &api.functions[function];
            let query = query_map(&uri);
            let event = json!({
                "resource": resource,
                "path": resource_path,
                "httpMethod": "GET",
                "headers": header_map,
                "multiValueHeaders": header_map.iter().map(|(k, v)| (k.clone(), vec![v.clone()])).collect::<BTreeMap<_, _>>(),
                "queryStringParameters": if query.is_empty() { Value::Null } else { json!(query) },
                "multiValueQueryStringParameters": if query.is_empty() { Value::Null } else {
                    json!(query.iter().map(|(k, v)| (k.clone(), vec![v.clone()])).collect::<BTreeMap<_, _>>())
                },
                "pathParameters": if params.is_empty() { Value::Null } else { json!(params) },
                "stageVariables": api.stage_variables,
                "requestContext": {
                    "resourcePath": resource,
                    "httpMethod": "GET",
                    "path": path,
                    "stage": api.stage,
                    "requestTimeEpoch": now_ms,
                    "requestId": format!("req-{now_ms}"),
                    "identity": { "sourceIp": "127.0.0.1" },
                    "domainName": header_map.get("host"),
                    "apiId": api.api_id,
                },
                "body": null,
                "isBase64Encoded": false,
            });
            let r: Value = api
                .http
                .post(format!(
                    "{}/2015-03-31/functions/{binary}/invocations",
                    api.watch
                ))
                .json(&event)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let mut resp = Response::builder().status(r["statusCode"].as_u64().unwrap() as u16);
            for (k, v) in r["headers"].as_object().into_iter().flatten() {
                resp = resp.header(k, v.as_str().unwrap());
            }
            for (k, vs) in r["multiValueHeaders"].as_object().into_iter().flatten() {
                for v in vs.as_array().unwrap() {
                    resp = resp.header(k, v.as_str().unwrap());
                }
            }
            resp.body(r["body"].as_str().unwrap_or_default().to_string().into())
                .unwrap()
        }
        "AWS" if integration.uri.contains(":s3:path/") => {
            let mut key_path = integration
                .uri
                .split(":s3:path/")
                .nth(1)
                .unwrap()
                .to_string();
            for (to, from) in &integration.request_params {
                let name = to.trim_start_matches("integration.request.path.");
                let value = &params[from.trim_start_matches("method.request.path.")];
                key_path = key_path.replace(&format!("{{{name}}}"), value);
            }
            let (bucket, key) = key_path.split_once('/').unwrap();
            match api.s3.get_object().bucket(bucket).key(key).send().await {
                Ok(o) => {
                    let ct = o.content_type().map(str::to_string);
                    let body = o.body.collect().await.unwrap().into_bytes();
                    let (_, _, maps) = &integration.responses["200"];
                    let mut resp = Response::builder().status(200);
                    for (to, from) in maps {
                        let name = to.trim_start_matches("method.response.header.");
                        if from == "integration.response.header.Content-Type" {
                            resp = resp.header(name, ct.clone().unwrap());
                        } else if let Some(v) =
                            from.strip_prefix('\'').and_then(|v| v.strip_suffix('\''))
                        {
                            // Static values are quoted: 'no-referrer'.
                            resp = resp.header(name, v);
                        }
                    }
                    resp.body(body.to_vec().into()).unwrap()
                }
                Err(e) => {
                    let status = e
                        .raw_response()
                        .map_or(500, |r| r.status().as_u16())
                        .to_string();
                    let (code, (_, templates, _)) = select(&integration.responses, &status);
                    let body = templates
                        .get("application/json")
                        .cloned()
                        .unwrap_or_default();
                    (StatusCode::from_u16(code.parse().unwrap()).unwrap(), body).into_response()
                }
            }
        }
        "AWS" if integration.uri.contains(":dynamodb:action/") => {
            let action = integration.uri.rsplit('/').next().unwrap_or_default();
            let req_params = json!({
                "path": params,
                "querystring": query_map(&uri),
                "header": header_map,
            });
            let request = api.renderer.lock().unwrap().render(
                &integration.request_templates["application/json"],
                req_params.clone(),
                None,
                now_ms,
                &api.stage_variables,
            );
            let (status, answer) = dynamodb_in(&api.moto, &api.region, action, &request).await;
            let status = status.to_string();
            let (code, (_, templates, maps)) = select(&integration.responses, &status);
            let (out, set) = api.renderer.lock().unwrap().render_status(
                &templates["application/json"],
                req_params,
                Some(&answer),
                now_ms,
                &api.stage_variables,
            );
            let mut resp = Response::builder()
                .status(set.unwrap_or_else(|| code.parse::<u16>().unwrap()))
                .header("content-type", "application/json");
            for (to, from) in maps {
                // Static values are quoted: 'no-store'.
                if let Some(v) = from.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
                    resp = resp.header(to.trim_start_matches("method.response.header."), v);
                }
            }
            resp.body(out.trim().to_string().into()).unwrap()
        }
        other => panic!("integration {other} {} is not served", integration.uri),
    }
}

/// The integration response API Gateway picks for the service's `status`:
/// the one whose selection pattern matches it, else the default one.
fn select<'a>(responses: &'a BTreeMap<String, Answer>, status: &str) -> (&'a String, &'a Answer) {
    responses
        .iter()
        .find(|(_, (p, _, _))| {
            p.as_ref().is_some_and(|p| {
                regex::Regex::new(&format!("^{p}$"))
                    .unwrap()
                    .is_match(status)
            })
        })
        .or_else(|| responses.iter().find(|(_, (p, _, _))| p.is_none()))
        .unwrap()
}

/// `destination` is the shop with the visitor's token and a pass PyJWT
/// verifies against the keys the deployed API publishes.
fn passes(destination: &str, token: &str, jwks: &str, issuer: &str) {
    let prefix = format!("https://shop.example/sale?bk_token={token}&bk_pass=");
    let pass = destination
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{destination}"));
    assert!(
        beekeeper_test_support::verifiers::pyjwt_at(jwks, issuer, token, pass),
        "the pass of {destination} does not verify"
    );
}

struct Visitor {
    cookie: Option<String>,
}

impl Visitor {
    async fn get(&mut self, http: &reqwest::Client, url: &str) -> reqwest::Response {
        let mut req = http.get(url);
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        let resp = req.send().await.unwrap();
        for c in resp.headers().get_all("set-cookie") {
            let c = c.to_str().unwrap();
            if let Some(pair) = c.split(';').next().filter(|p| p.starts_with("bk_token=")) {
                self.cookie = Some(pair.to_string());
            }
        }
        resp
    }

    fn token(&self) -> String {
        self.cookie.as_ref().unwrap()["bk_token=".len()..].to_string()
    }
}

/// GET `url`, as the origin's client check would, and its JSON answer.
async fn get_json(http: &reqwest::Client, url: &str) -> Value {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

fn scheduled(region: &str) -> Value {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    json!({
        "version": "0",
        "id": format!("tick-{secs}"),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": rfc3339(secs),
        "region": region,
        "resources": [format!("arn:aws:events:{region}:{ACCOUNT}:rule/beekeeper-sale-trigger-schedule")],
        "detail": {},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crowd_goes_through_the_deployed_api() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let art = artifacts(dir.path());
    let c = clients(&moto, CallLog::new()).await;
    let p = profile(false);
    let deployed = deploy(&c, "sale", &p, &art).await.unwrap();
    let plan = Plan::new("sale", &p, Some(ACCOUNT));

    // The functions' environment as deployed, for `cargo lambda watch`.
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    let mut functions = HashMap::new();
    for f in &plan.functions {
        let cfg = c
            .lambda
            .get_function_configuration()
            .function_name(&f.name)
            .send()
            .await
            .unwrap();
        for (k, v) in cfg.environment().unwrap().variables().unwrap() {
            if let Some(old) = vars.insert(k.clone(), v.clone()) {
                assert_eq!(&old, v, "the functions disagree on {k}");
            }
        }
        functions.insert(f.name.clone(), f.artifact.clone());
    }
    let (api_id, routes, stage_variables) = read_api(&c, &plan.api.name).await;
    assert_eq!(api_id, deployed.api_id);
    assert_eq!(routes.len(), 7);
    let issuer = deployed.url.trim_end_matches("/beekeeper").to_string();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let env: Vec<(&str, String)> = vars.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let watch = Watch::start(&moto, "eu-west-1", Some(&base), &env);
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk(&moto).await)
            .force_path_style(true)
            .build(),
    );
    let api = Arc::new(Api {
        stage: "live".into(),
        api_id,
        region: "eu-west-1".into(),
        stage_variables,
        routes,
        functions,
        watch: watch.url.clone(),
        moto,
        s3,
        renderer: Mutex::new(Renderer::start()),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(150))
            .build()
            .unwrap(),
        invocations: Mutex::new(Vec::new()),
    });
    let app = axum::Router::new().fallback(serve).with_state(api.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let entry = format!("{base}/live/beekeeper");

    // Before anyone is admitted: a crowd of 30 arrives.
    let mut crowd = Vec::new();
    for _ in 0..30 {
        let mut v = Visitor { cookie: None };
        let r = v.get(&http, &entry).await;
        assert_eq!(r.status(), 302, "{:?}", r.text().await);
        let location = r.headers()["location"].to_str().unwrap().to_string();
        assert!(location.starts_with("room/index.html?p="), "{location}");
        crowd.push((v, location));
    }
    let (first, location) = &mut crowd[0];
    // The room page, on the same origin, from the bucket.
    let page = first.get(&http, &format!("{base}/live/{location}")).await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    assert!(page.text().await.unwrap().contains("Big Sale"));
    let js = first.get(&http, &format!("{base}/live/room/room.js")).await;
    assert_eq!(js.status(), 404, "the scripts are inside the page");
    let missing = first
        .get(&http, &format!("{base}/live/room/nothing.js"))
        .await;
    assert_eq!(missing.status(), 404);
    // Nobody is admitted yet; no cache keeps the answer.
    let poll = first.get(&http, &format!("{base}/live/polling")).await;
    assert_eq!(poll.headers()["cache-control"], "no-store");
    assert_eq!(poll.json::<Value>().await.unwrap(), json!({"allow": false}));
    // Coming back keeps the place: no second place in line.
    let again = first.get(&http, &entry).await;
    assert_eq!(again.status(), 302);
    let back = again.headers()["location"].to_str().unwrap();
    assert!(back.starts_with("room/"), "{back}");
    let status = control::status(&c, &plan, 0).await.unwrap();
    assert_eq!(status.queue_depth, 30);

    // `off` while they wait: the next poll sends the first back to the
    // entry, which lets them through with their own token, as serve does
    // (the producer reads the config at most 5 seconds late). Nobody else
    // moves: no consumer runs while off.
    control::switch(&c, &plan, false).await.unwrap();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let poll = first.get(&http, &format!("{base}/live/polling")).await;
    assert_eq!(
        poll.json::<Value>().await.unwrap(),
        json!({"allow": true, "origin": "../beekeeper"})
    );
    let through = first.get(&http, &entry).await;
    let jwks = format!("{base}/live/.well-known/jwks.json");
    passes(
        through.headers()["location"].to_str().unwrap(),
        &first.token(),
        &jwks,
        &issuer,
    );
    let check = get_json(
        &http,
        &format!("{base}/live/client-check/{}", first.token()),
    )
    .await;
    assert_eq!(check["allow"], true, "{check}");
    control::switch(&c, &plan, true).await.unwrap();
    tokio::time::sleep(Duration::from_secs(6)).await;

    // The schedule: the trigger every minute (the first one now).
    let trigger = format!("{}/2015-03-31/functions/trigger/invocations", watch.url);
    let tick = {
        let http = api.http.clone();
        tokio::spawn(async move {
            loop {
                let r = http
                    .post(&trigger)
                    .json(&scheduled("eu-west-1"))
                    .send()
                    .await;
                assert!(r.is_ok_and(|r| r.status().is_success()));
                tokio::time::sleep(Duration::from_secs(60)).await;
            }
        })
    };

    // Each visitor polls until admitted, then the origin checks the token.
    let started = Instant::now();
    let mut admitted = Vec::new();
    for (v, _) in &mut crowd {
        loop {
            let poll: Value = v
                .get(&http, &format!("{base}/live/polling"))
                .await
                .json()
                .await
                .unwrap();
            if poll["allow"] == true {
                passes(poll["origin"].as_str().unwrap(), &v.token(), &jwks, &issuer);
                break;
            }
            assert_eq!(poll, json!({"allow": false}));
            assert!(
                started.elapsed() < Duration::from_secs(240),
                "not admitted in time"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let check = get_json(&http, &format!("{base}/live/client-check/{}", v.token())).await;
        assert_eq!(check["allow"], true, "{check}");
        admitted.push(check["admittedAt"].as_u64().unwrap());
    }
    let took = started.elapsed();
    // First come, first admitted.
    assert!(admitted.windows(2).all(|w| w[0] <= w[1]), "{admitted:?}");
    // Skipping the line gets nothing.
    let forged = format!("{base}/live/client-check/{}", "0".repeat(32));
    assert_eq!(get_json(&http, &forged).await, json!({"allow": false}));
    let junk = format!("{base}/live/client-check/'%20OR%201=1");
    assert_eq!(get_json(&http, &junk).await, json!({"allow": false}));

    // Redemption: of fifty at once, exactly one is allowed; a forged or
    // junk token is refused, and creates nothing.
    let url = format!("{base}/live/client-check/{}", crowd[0].0.token());
    let answers = futures::future::join_all((0..50).map(|_| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let r = http.post(&url).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    }))
    .await;
    let allowed: Vec<_> = answers.iter().filter(|a| a["allow"] == true).collect();
    let used = answers
        .iter()
        .filter(|a| **a == json!({"allow": false, "reason": "used"}));
    assert_eq!((allowed.len(), used.count()), (1, 49), "{answers:?}");
    assert_eq!(allowed[0]["admittedAt"], admitted[0]);
    for refused in [&forged, &junk] {
        let r = http.post(refused).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.json::<Value>().await.unwrap(), json!({"allow": false}));
    }
    // Looking after the redemption still says admitted: GET uses nothing.
    assert_eq!(get_json(&http, &url).await["allow"], true);
    // Exactly the crowd was admitted, each once; the trigger started the
    // consumer by its deployed name.
    let count = c
        .ddb
        .scan()
        .table_name(plan.tokens_table())
        .select(aws_sdk_dynamodb::types::Select::Count)
        .send()
        .await
        .unwrap()
        .count();
    assert_eq!(
        count, 30,
        "the one let through while off is not admitted twice"
    );
    assert!(api
        .invocations
        .lock()
        .unwrap()
        .contains(&"beekeeper-sale-consumer".to_string()));

    // `off`: the next arrival goes straight to the destination, with a
    // token the origin's check accepts.
    control::switch(&c, &plan, false).await.unwrap();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let mut late = Visitor { cookie: None };
    let r = late.get(&http, &entry).await;
    assert_eq!(r.status(), 302);
    passes(
        r.headers()["location"].to_str().unwrap(),
        &late.token(),
        &jwks,
        &issuer,
    );
    let check = get_json(&http, &format!("{base}/live/client-check/{}", late.token())).await;
    assert_eq!(check["allow"], true, "{check}");
    tick.abort();

    // The table fails (here: gone): the origin gets a 503 it can tell from
    // a refusal, never {"allow":false} for an admitted visitor.
    c.ddb
        .delete_table()
        .table_name(plan.tokens_table())
        .send()
        .await
        .unwrap();
    for path in [
        format!("client-check/{}", late.token()),
        "polling".to_string(),
    ] {
        let r = late.get(&http, &format!("{base}/live/{path}")).await;
        assert_eq!(r.status(), 503, "{path}");
        assert_eq!(r.headers()["retry-after"], "5");
        assert_eq!(
            r.json::<Value>().await.unwrap(),
            json!({"error": "unavailable"})
        );
    }
    eprintln!("30 visitors queued, admitted and checked {took:?} after the first trigger");
}
