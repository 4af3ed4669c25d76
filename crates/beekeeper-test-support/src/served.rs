//! A real `beekeeper serve` process with its own config and data
//! directory, cookie-jar visitors over HTTP from loopback addresses of
//! their own, and crowds of them: the end-to-end tests' room.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// The `beekeeper` binary of this build: cargo builds it before the
/// integration tests of its crate, beside their `deps` directory.
pub fn bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    dir.join(format!("beekeeper{}", std::env::consts::EXE_SUFFIX))
}

/// The binary with `config` as its profiles file, no colour, no stdin.
pub fn command(config: &Path) -> Command {
    let mut c = Command::new(bin());
    c.env("BEEKEEPER_CONFIG", config)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    c
}

/// A profile's config directory plus a running room.
pub struct Room {
    pub dir: tempfile::TempDir,
    pub profile: String,
    pub base: String,
    child: Option<Child>,
    minute_ms: u64,
    demo: bool,
}

impl Room {
    pub fn config(&self) -> PathBuf {
        self.dir.path().join("profiles.toml")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Creates a profile with `rate` admits per minute and starts serving
    /// it with the room's minute shortened to `minute_ms`.
    pub fn start(rate: u32, minute_ms: u64) -> Room {
        Room::start_in(tempfile::tempdir().unwrap(), rate, minute_ms)
    }

    /// As [`Room::start`], with the data directory in memory (`/dev/shm`
    /// where there is one): for tests that time the room to a few tens
    /// of milliseconds, which a slow fsync of a busy disk would exceed.
    pub fn start_in_memory(rate: u32, minute_ms: u64) -> Room {
        let shm = Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm).unwrap()
        } else {
            tempfile::tempdir().unwrap()
        };
        Room::start_in(dir, rate, minute_ms)
    }

    fn start_in(dir: tempfile::TempDir, rate: u32, minute_ms: u64) -> Room {
        let mut room = Room {
            dir,
            profile: "shop".into(),
            base: String::new(),
            child: None,
            minute_ms,
            demo: false,
        };
        let out = room.cli(&[
            "init",
            "shop",
            "--name",
            "Test Sale",
            "--destination",
            "https://shop.example/sale",
            "--rate",
            &rate.to_string(),
            "--no-dynamic-throttle",
            "--region",
            "eu-west-1",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        room.serve();
        room
    }

    /// Writes `profile_toml` (the body of `[profiles.shop]`) as the profiles
    /// file and starts serving it.
    pub fn with_profile(profile_toml: &str, minute_ms: u64) -> Room {
        let mut room = Room {
            dir: tempfile::tempdir().unwrap(),
            profile: "shop".into(),
            base: String::new(),
            child: None,
            minute_ms,
            demo: false,
        };
        std::fs::write(room.config(), format!("[profiles.shop]\n{profile_toml}")).unwrap();
        room.serve();
        room
    }

    /// Starts `beekeeper serve --demo` (no profile needed).
    pub fn demo() -> Room {
        let mut room = Room {
            dir: tempfile::tempdir().unwrap(),
            profile: "demo".into(),
            base: String::new(),
            child: None,
            minute_ms: 60_000,
            demo: true,
        };
        room.serve();
        room
    }

    /// (Re)starts `beekeeper serve` on a free port and waits for its URL.
    pub fn serve(&mut self) {
        let target = if self.demo {
            "--demo"
        } else {
            self.profile.as_str()
        };
        let mut child = Command::new(bin())
            .args(["serve", target, "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(self.data_dir())
            .env("BEEKEEPER_CONFIG", self.config())
            .env("BEEKEEPER_MINUTE_MS", self.minute_ms.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let url = first
            .trim()
            .strip_prefix("waiting room:")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .trim();
        self.base = url.trim_end_matches("/beekeeper").to_string();
        self.child = Some(child);
    }

    /// Runs the CLI against this room's profiles file.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(bin())
            .args(args)
            .env("BEEKEEPER_CONFIG", self.config())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// The serving process's id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap()
    }

    /// SIGTERM, then how long the room took to exit (`None`: still running
    /// after `within`, and killed).
    pub fn terminate(&mut self, within: Duration) -> Option<Duration> {
        let mut child = self.child.take()?;
        let started = std::time::Instant::now();
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        while started.elapsed() < within {
            if child.try_wait().unwrap().is_some() {
                return Some(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        None
    }

    /// `kill -9`: no chance to flush or clean up.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// A read-only look at the room's database, as another process.
    pub fn db(&self) -> rusqlite::Connection {
        let c = rusqlite::Connection::open_with_flags(
            self.data_dir().join("room.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE,
        )
        .unwrap();
        c.busy_timeout(Duration::from_secs(5)).unwrap();
        c
    }

    pub fn count(&self, sql: &str) -> u64 {
        self.db()
            .query_row(sql, [], |r| r.get::<_, i64>(0))
            .unwrap() as u64
    }

    /// Admission times (epoch ms), oldest first.
    pub fn admission_times(&self) -> Vec<u64> {
        let db = self.db();
        let mut st = db
            .prepare("SELECT admitted_ms FROM admitted ORDER BY admitted_ms")
            .unwrap();
        st.query_map([], |r| r.get::<_, i64>(0))
            .unwrap()
            .map(|r| r.unwrap() as u64)
            .collect()
    }

    pub fn visitor(&self) -> Visitor {
        Visitor::new(&self.base)
    }
}

impl Drop for Room {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// One browser-like visitor with a cookie jar of its own.
#[derive(Clone)]
pub struct Visitor {
    base: String,
    client: reqwest::Client,
    pub cookie: Option<String>,
}

pub struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub set_cookie: Option<String>,
    pub retry_after: Option<String>,
    pub content_type: Option<String>,
    pub body: String,
}

impl Visitor {
    pub fn new(base: &str) -> Visitor {
        Visitor::from_address(base, std::net::Ipv4Addr::LOCALHOST)
    }

    /// A visitor whose requests leave from `addr` (a loopback address:
    /// the whole of 127.0.0.0/8 reaches the room), so the room sees a
    /// client of its own.
    pub fn from_address(base: &str, addr: std::net::Ipv4Addr) -> Visitor {
        Visitor {
            base: base.to_string(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .local_address(std::net::IpAddr::V4(addr))
                .build()
                .unwrap(),
            cookie: None,
        }
    }

    pub async fn get(&mut self, path: &str) -> Answer {
        self.get_with(path, &[]).await
    }

    /// As [`Visitor::get`], with these headers too (a browser's
    /// `Sec-Fetch-*`, a proxy's `X-Forwarded-For`).
    pub async fn get_with(&mut self, path: &str, headers: &[(&str, &str)]) -> Answer {
        let mut req = self.client.get(format!("{}{path}", self.base));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if let Some(c) = &self.cookie {
            req = req.header("cookie", format!("bk_token={c}"));
        }
        let resp = req.send().await.unwrap();
        let header = |n: &str| {
            resp.headers()
                .get(n)
                .map(|v| v.to_str().unwrap().to_string())
        };
        let (location, set_cookie) = (header("location"), header("set-cookie"));
        let (retry_after, content_type) = (header("retry-after"), header("content-type"));
        if let Some(sc) = &set_cookie {
            let value = sc
                .split(';')
                .next()
                .unwrap()
                .trim_start_matches("bk_token=");
            self.cookie = Some(value.to_string());
        }
        Answer {
            status: resp.status().as_u16(),
            location,
            set_cookie,
            retry_after,
            content_type,
            body: resp.text().await.unwrap(),
        }
    }

    /// Arrives through the entry URL; returns the answer.
    pub async fn arrive(&mut self) -> Answer {
        self.get("/beekeeper").await
    }

    pub async fn poll(&mut self) -> serde_json::Value {
        let a = self.get("/polling").await;
        assert_eq!(a.status, 200, "{}", a.body);
        serde_json::from_str(&a.body).unwrap()
    }

    pub async fn client_check(&mut self, token: &str) -> serde_json::Value {
        let a = self.get(&format!("/client-check/{token}")).await;
        assert_eq!(a.status, 200, "{}", a.body);
        serde_json::from_str(&a.body).unwrap()
    }

    pub fn token(&self) -> &str {
        self.cookie.as_deref().unwrap()
    }
}

/// `destination` is the test shop with `token` and a pass (tests/origin.rs
/// verifies passes as origins do).
pub fn assert_sent_on(destination: Option<&str>, token: &str) {
    let prefix = format!("https://shop.example/sale?bk_token={token}&bk_pass=");
    assert!(
        destination.is_some_and(|d| d.starts_with(&prefix) && d.len() > prefix.len()),
        "{destination:?} is not the shop with {token} and a pass"
    );
}

/// The loopback address of the `i`-th client of a crowd: 127.0.x.y, with
/// x from 1 and y from 1 to 250.
pub fn client_address(i: usize) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::new(127, 0, 1 + (i / 250) as u8, 1 + (i % 250) as u8)
}

/// Brings `n` visitors through the entry, `parallel` at a time, each from
/// a loopback address of its own.
pub async fn crowd(base: &str, n: usize, parallel: usize) -> Vec<Visitor> {
    assert!(n <= 250 * 254, "more visitors than client addresses");
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(parallel));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let sem = sem.clone();
            let mut v = Visitor::from_address(base, client_address(i));
            tokio::spawn(async move {
                let _permit = sem.acquire().await.unwrap();
                let a = v.arrive().await;
                assert_eq!(a.status, 302, "{}", a.body);
                assert!(a.set_cookie.is_some());
                v
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

pub fn workspace_root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// A directory for a test's leftovers worth a look (screenshots): `name`
/// under the target directory's `tmp`, where cargo puts test files.
pub fn leftovers_dir(name: &str) -> PathBuf {
    let dir = bin()
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("tmp")
        .join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Fails unless every key of the JSON document is camelCase, except the
/// keys inside the subtrees named by `data` (maps whose keys are data,
/// such as environment variables or policy documents).
pub fn assert_camel_case(doc: &serde_json::Value, data: &[&str]) {
    fn walk(v: &serde_json::Value, path: &str, data: &[&str]) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    let camel = k.starts_with(|c: char| c.is_ascii_lowercase())
                        && k.chars().all(|c| c.is_ascii_alphanumeric());
                    assert!(camel, "key {k:?} at {path} is not camelCase");
                    if !data.contains(&k.as_str()) {
                        walk(v, &format!("{path}.{k}"), data);
                    }
                }
            }
            serde_json::Value::Array(a) => {
                a.iter().for_each(|v| walk(v, &format!("{path}[]"), data))
            }
            _ => {}
        }
    }
    walk(doc, "", data);
}
