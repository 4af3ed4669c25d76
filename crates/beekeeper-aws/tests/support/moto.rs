//! A moto server of the test's own on 127.0.0.1, with the tools
//! scripts/aws-tools installed, and stand-in Lambda artifacts. Shared by
//! the tests of the AWS crates and of the CLI.
#![allow(dead_code, clippy::unwrap_used)]

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

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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
