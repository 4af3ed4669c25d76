//! The real Lambda binaries under `cargo lambda watch`, which implements
//! the Lambda runtime API locally. Shared by the tests of the AWS crates.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::moto::{cargo_tool, free_port, tools_bin, Moto};

pub struct Watch {
    child: Child,
    pub url: String,
}

impl Watch {
    /// `cargo lambda watch` with the functions' environment: AWS calls go
    /// to moto in `region`, Lambda invokes to `lambda` (itself if `None`).
    pub fn start(
        moto: &Moto,
        region: &str,
        lambda: Option<&str>,
        vars: &[(&str, String)],
    ) -> Watch {
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut cmd = cargo_tool(tools_bin().join("cargo-lambda"));
        cmd.current_dir(root)
            .args([
                "lambda",
                "watch",
                "--ignore-changes",
                "-P",
                &port.to_string(),
            ])
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    tools_bin().display(),
                    std::env::var("PATH").unwrap()
                ),
            )
            .stdout(log(&format!("watch-{port}.out")))
            .stderr(log(&format!("watch-{port}.log")));
        let all = [
            ("AWS_ENDPOINT_URL", moto.url.clone()),
            (
                "AWS_ENDPOINT_URL_LAMBDA",
                lambda.unwrap_or(&url).to_string(),
            ),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", region.to_string()),
        ];
        for (k, v) in all.iter().chain(vars) {
            cmd.arg("--env-var").arg(format!("{k}={v}"));
        }
        let mut child = cmd.spawn().unwrap();
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = child.try_wait().unwrap() {
                let out = std::fs::read_to_string(log_dir().join(format!("watch-{port}.out")));
                let err = std::fs::read_to_string(log_dir().join(format!("watch-{port}.log")));
                panic!(
                    "cargo lambda watch exited ({status}) before listening on {port}:\n{}\n{}",
                    out.unwrap_or_default(),
                    err.unwrap_or_default()
                );
            }
            if start.elapsed() > Duration::from_secs(60) {
                let log = log_dir().join(format!("watch-{port}.log"));
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(20).collect();
                panic!(
                    "cargo lambda watch did not start in 60 s; the end of {}:\n{}",
                    log.display(),
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Watch { child, url }
    }
}

/// Where the logs go: the target directory's `tmp` (scripts/test sets
/// `CARGO_TARGET_DIR`), else the system's temporary directory.
fn log_dir() -> std::path::PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(|d| std::path::PathBuf::from(d).join("tmp"))
        .unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A log file under the log directory, named in the output.
pub fn log(name: &str) -> Stdio {
    let path = log_dir().join(name);
    println!("cargo lambda watch logs to {}", path.display());
    Stdio::from(std::fs::File::create(path).unwrap())
}

/// Invokes a function synchronously through the Lambda invoke API.
pub async fn try_invoke(url: &str, function: &str, payload: &Value) -> Result<Value, String> {
    let resp = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .map_err(|e| e.to_string())?
        .post(format!("{url}/2015-03-31/functions/{function}/invocations"))
        .json(payload)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("{function}: {}", resp.status()));
    }
    resp.json().await.map_err(|e| e.to_string())
}

pub async fn invoke(url: &str, function: &str, payload: &Value) -> Value {
    try_invoke(url, function, payload).await.unwrap()
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Epoch seconds as RFC 3339 (UTC), without a date library.
pub fn rfc3339(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil-from-days (proleptic Gregorian), for dates after 1970.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
