//! `beekeeper serve`: the room on this machine.

use std::io::Write;
use std::path::PathBuf;

use beekeeper_core::Profile;
use beekeeper_local::{ServeConfig, Serving};

use crate::cli::ServeArgs;
use crate::error::CliError;
use crate::files::{Files, Served};
use crate::output::{self, Format};

pub use beekeeper_core::profile::DEMO_PROFILE;

fn demo_profile() -> Profile {
    Profile {
        name: "Beekeeper demo sale".into(),
        region: beekeeper_core::profile::DEFAULT_REGION.into(),
        // Replaced by the server's own /demo/ page once the address is bound.
        destination: "http://127.0.0.1/demo/".into(),
        rate: 10,
        dynamic_throttle: false,
        session_minutes: 30,
        queue_hours: 1,
        probe_url: None,
        secure_cookie: None,
        arrivals_per_client: None,
        trusted_proxies: Vec::new(),
        max_line: None,
    }
}

pub fn default_data_dir(profile: &str) -> Result<PathBuf, CliError> {
    Ok(dirs::data_dir()
        .ok_or(CliError::NoDataDir)?
        .join("beekeeper")
        .join(profile))
}

pub async fn run(files: &Files, args: ServeArgs, format: Format) -> Result<(), CliError> {
    // The demo's line lives in a directory removed when the demo stops,
    // unless the user chose where to keep it.
    let mut demo_dir = None;
    let (profile_name, profile, data_dir) = if args.demo {
        let dir = match args.data_dir {
            Some(d) => d,
            None => {
                let tmp = tempfile::Builder::new()
                    .prefix("beekeeper-demo-")
                    .tempdir()
                    .map_err(|e| {
                        CliError::Internal(format!("cannot create a demo directory: {e}"))
                    })?;
                let path = tmp.path().to_path_buf();
                demo_dir = Some(tmp);
                path
            }
        };
        (DEMO_PROFILE.to_string(), demo_profile(), dir)
    } else {
        let name = args.profile.unwrap_or_default();
        let profile = files.profile(&name)?;
        let dir = match args.data_dir {
            Some(d) => d,
            None => default_data_dir(&name)?,
        };
        (name, profile, dir)
    };
    let serving: Serving = beekeeper_local::start(ServeConfig {
        profile: profile_name.clone(),
        room: profile.room_config(),
        listen: args.listen,
        data_dir: data_dir.clone(),
        demo: args.demo,
        minute: beekeeper_local::minute_from_env(),
        secure_cookie: profile.secure_cookie,
        arrivals_per_client: profile.arrivals_per_client(),
        // Checked when the profile was read (`Profile::validated`).
        trusted_proxies: profile
            .trusted_networks()
            .map_err(|e| CliError::Internal(e.to_string()))?,
    })
    .await?;
    let base = format!("http://{}", serving.addr);
    let served = Served {
        data_dir: std::path::absolute(&data_dir).unwrap_or(data_dir),
        url: format!("{base}/beekeeper"),
    };
    files.update_state(|s| {
        s.serve.insert(profile_name.clone(), served.clone());
    })?;
    let out = output::Serving {
        profile: profile_name.clone(),
        urls: served.urls(),
        demo_shop: args.demo.then(|| format!("{base}/demo/")),
        data_dir: served.data_dir.clone(),
    };
    // A closed stdout (`beekeeper serve | head -1`) must not stop the room.
    let _ = output::emit(&out, format);
    let _ = std::io::stdout().flush();
    if format == Format::Text {
        let kept = if demo_dir.is_some() {
            "the demo's line is thrown away"
        } else {
            "the line is kept on disk"
        };
        let _ = writeln!(
            std::io::stderr(),
            "serving {profile_name:?} at {} admits per minute; Ctrl-C stops ({kept})",
            profile.rate
        );
    }
    serving.run().await?;
    Ok(())
}
