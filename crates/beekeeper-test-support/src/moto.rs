//! A moto server of the test's own on 127.0.0.1 (nextest runs each test in
//! its own process, so every test starts from an empty emulator), with the
//! tools scripts/aws-tools installed, and stand-in Lambda artifacts.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where scripts/aws-tools installed moto, airspeed and cargo-lambda.
pub fn tools_bin() -> PathBuf {
    let dir = std::env::var_os("BEEKEEPER_TOOLS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/beekeeper/tools/bin")
        });
    assert!(
        dir.join("moto_server").exists(),
        "moto is not installed: run scripts/aws-tools ({})",
        dir.display()
    );
    dir
}

/// A command that runs cargo (scripts/build-lambdas, `cargo lambda watch`)
/// with the environment scripts/test gave the runner, not the one the
/// runner gives a test: the variables cargo and nextest set for a test
/// binary (`LD_LIBRARY_PATH` with the build scripts' output directories,
/// `CARGO_PKG_*`, `NEXTEST_*`...) are inputs to cargo's fingerprints, and
/// with them cargo would rebuild what scripts/test built before the run.
pub fn cargo_tool(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(program);
    for (k, _) in std::env::vars_os() {
        let Some(k) = k.to_str() else { continue };
        let from_the_runner = k == "CARGO"
            || k == "LD_LIBRARY_PATH"
            || k.starts_with("CARGO_PKG_")
            || k.starts_with("CARGO_MANIFEST_")
            || k.starts_with("CARGO_CRATE_")
            || k.starts_with("CARGO_BIN_")
            || k == "CARGO_PRIMARY_PACKAGE"
            || k == "CARGO_TARGET_TMPDIR"
            || k.starts_with("NEXTEST")
            || k.starts_with("__NEXTEST")
            || k == "RUST_TEST_THREADS";
        if from_the_runner {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// A free port for a server the test starts (moto, cargo lambda watch),
/// taken from below Linux's ephemeral range (32768-60999). A port from
/// `bind(0)` is an ephemeral one: between this check and the server's
/// own bind, one of the test's many outgoing connections (a deploy makes
/// hundreds, to moto) could take it as its source port, and the server
/// would then fail to listen. Outgoing connections never take ports from
/// this range.
pub fn free_port() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    loop {
        // A randomly seeded hasher: a random number without a crate.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        let port = 20_000 + (h.finish() % 12_000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

pub struct Moto {
    child: Child,
    pub url: String,
}

impl Moto {
    pub fn start() -> Moto {
        let port = free_port();
        let child = Command::new(tools_bin().join("moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "moto did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Moto { child, url }
    }
}

impl Moto {
    /// The SDK configuration for this moto in `region`, with test
    /// credentials; `retries: false` makes one attempt per call (an
    /// injected fault must not be retried away).
    pub async fn sdk(&self, region: &str, retries: bool) -> aws_config::SdkConfig {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.url)
            .region(aws_config::Region::new(region.to_string()))
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "test", "test", None, None, "moto",
            ));
        if !retries {
            loader = loader.retry_config(aws_config::retry::RetryConfig::disabled());
        }
        loader.load().await
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Small stand-ins for the Lambda zips (moto stores code, it never runs
/// it): an empty zip archive whose comment names the function.
pub fn artifacts(dir: &Path) -> PathBuf {
    for name in ["producer", "trigger", "consumer", "dynamic-rate-throttle"] {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        let mut zip = b"PK\x05\x06".to_vec();
        zip.extend([0u8; 16]);
        zip.extend((name.len() as u16).to_le_bytes());
        zip.extend(name.as_bytes());
        std::fs::write(d.join("bootstrap.zip"), zip).unwrap();
    }
    dir.to_path_buf()
}
