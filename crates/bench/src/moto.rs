//! A moto server of the bench's own on 127.0.0.1, and what the benches
//! against it share: the SDK configuration and the Lambda zips to deploy.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The region the benches deploy to; moto's account is 123456789012.
pub const REGION: &str = "eu-west-1";
pub const ACCOUNT: &str = "123456789012";

pub struct Moto(std::process::Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tools_bin() -> Result<PathBuf, String> {
    let out = Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/aws-tools"))
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run scripts/aws-tools: {e}"))?;
    if !out.status.success() {
        return Err("scripts/aws-tools failed".into());
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

pub fn start() -> Result<(Moto, String), String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let child = Command::new(tools_bin()?.join("moto_server"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start moto: {e}"))?;
    let moto = Moto(child);
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if start.elapsed() > Duration::from_secs(30) {
            return Err("moto did not start".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((moto, format!("http://127.0.0.1:{port}")))
}

/// The release zips if they were built, else 22-byte stand-ins (moto
/// stores code, it never runs it).
pub fn artifacts(
    given: Option<PathBuf>,
    scratch: &Path,
) -> Result<(PathBuf, &'static str), String> {
    let names = ["producer", "trigger", "consumer", "dynamic-rate-throttle"];
    let built = given.clone().unwrap_or_else(|| {
        PathBuf::from(std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into()))
            .join("lambda")
    });
    if names
        .iter()
        .all(|n| built.join(n).join("bootstrap.zip").exists())
    {
        return Ok((built, "the built zips"));
    }
    if given.is_some() {
        return Err(format!("no Lambda zips in {}", built.display()));
    }
    for n in names {
        let d = scratch.join(n);
        std::fs::create_dir_all(&d).map_err(|e| e.to_string())?;
        let mut zip = b"PK\x05\x06".to_vec();
        zip.extend([0u8; 18]);
        std::fs::write(d.join("bootstrap.zip"), zip).map_err(|e| e.to_string())?;
    }
    Ok((scratch.to_path_buf(), "22-byte stand-ins"))
}

/// The SDK configuration for the moto at `url`.
pub async fn sdk(url: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(url)
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_sdk_sts::config::Credentials::new(
            "test", "test", None, None, "moto",
        ))
        .load()
        .await
}
