//! `off`, `on`, `set-rate`, `status` and `config`.

use beekeeper_core::{profile, RoomConfig};
use beekeeper_local::{Control, Stats};
use serde_json::json;

use beekeeper_deploy::control::Status as AwsStatus;
use beekeeper_deploy::Deployed;

use crate::aws::{self, AwsOpts};
use crate::error::CliError;
use crate::files::{Files, Served};
use crate::serve::DEMO_PROFILE;

fn served(files: &Files, name: &str) -> Result<Served, CliError> {
    if name != DEMO_PROFILE {
        files.profile(name)?;
    }
    files
        .state()?
        .serve
        .get(name)
        .cloned()
        .ok_or_else(|| CliError::NotServed(name.to_string()))
}

fn control(files: &Files, name: &str) -> Result<Control, CliError> {
    let s = served(files, name)?;
    Control::open(&s.data_dir).map_err(|e| match e {
        beekeeper_local::StoreError::NoRoom(_) => CliError::NotServed(name.to_string()),
        e => e.into(),
    })
}

fn print_switch(name: &str, cfg: &RoomConfig, json: bool) {
    if json {
        println!(
            "{}",
            json!({ "profile": name, "enabled": cfg.enabled, "rateLimit": cfg.rate_limit })
        );
    } else if cfg.enabled {
        println!(
            "{name}: on, new visitors queue at {} per minute",
            cfg.effective_rate()
        );
    } else {
        println!(
            "{name}: off, every visitor goes straight to {}",
            cfg.destination
        );
    }
}

pub fn switch(
    files: &Files,
    name: &str,
    enabled: bool,
    json: bool,
    opts: &AwsOpts,
) -> Result<(), CliError> {
    let cfg = match aws::update(files, name, aws::Change::Enabled(enabled), opts)? {
        Some(cfg) => cfg,
        None => control(files, name)?.update(|c| c.enabled = enabled)?,
    };
    print_switch(name, &cfg, json);
    Ok(())
}

pub fn set_rate(
    files: &Files,
    name: &str,
    rate: &str,
    json: bool,
    opts: &AwsOpts,
) -> Result<(), CliError> {
    let rate = profile::validate_rate(rate).map_err(|e| CliError::InvalidAnswer {
        flag: "RATE",
        reason: e.to_string(),
    })?;
    let cfg = match aws::update(files, name, aws::Change::Rate(rate), opts)? {
        Some(cfg) => cfg,
        None => control(files, name)?.update(|c| {
            c.rate_limit = rate;
            c.rate_current = rate;
        })?,
    };
    // The profile keeps the new rate too, so a restart or a redeploy uses it.
    if name != DEMO_PROFILE {
        let mut file = files.profiles()?;
        if let Some(p) = file.profiles.get_mut(name) {
            p.rate = rate;
        }
        files.save_profiles(&file)?;
    }
    if json {
        println!(
            "{}",
            json!({ "profile": name, "rateLimit": cfg.rate_limit, "rateCurrent": cfg.rate_current })
        );
    } else {
        println!("{name}: admit rate set to {rate} per minute");
    }
    Ok(())
}

fn aws_status(name: &str, d: &Deployed, s: &AwsStatus, json: bool) {
    let cfg = &s.config;
    if json {
        println!(
            "{}",
            json!({
                "profile": name,
                "backend": "aws",
                "url": d.url,
                "clientCheck": d.client_check,
                "enabled": cfg.enabled,
                "rateLimit": cfg.rate_limit,
                "rateCurrent": cfg.effective_rate(),
                "queueDepth": s.queue_depth,
                "admittedLastMinute": s.admitted_last_minute,
                "waitSecondsForNewArrival": s.wait_seconds_for_new_arrival,
                "dynamicThrottle": cfg.dynamic_throttle,
            })
        );
        return;
    }
    print_room(
        &format!("{name} (on AWS, {} at {})", d.region, d.url),
        cfg,
        s.queue_depth,
        s.admitted_last_minute,
        s.wait_seconds_for_new_arrival,
    );
    println!(
        "throttle:              {}",
        if cfg.dynamic_throttle { "on" } else { "off" }
    );
}

pub fn status(files: &Files, name: &str, json: bool, opts: &AwsOpts) -> Result<(), CliError> {
    if let Some((d, s)) = aws::status(files, name, opts)? {
        aws_status(name, &d, &s, json);
        return Ok(());
    }
    let s = served(files, name)?;
    let ctl = control(files, name)?;
    let cfg = ctl.config()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let Stats {
        queue_depth,
        admitted_last_minute,
        admitted_total,
    } = ctl.stats(now)?;
    let wait = cfg.wait_for_new_arrival(queue_depth);
    let (_, last) = ctl.throttle()?;
    let throttle = cfg.dynamic_throttle.then(|| {
        json!({
            "probeUrl": cfg.probe_target(),
            "lastVerdict": last.as_ref().map(|d| d.verdict),
            "lastMedianMs": last.as_ref().and_then(|d| d.median_ms),
            "lastFailed": last.as_ref().map(|d| d.failed),
            "lastProbes": last.as_ref().map(|d| d.probes),
            "baselineMs": last.as_ref().and_then(|d| d.state.baseline_ms).map(|b| b.round() as u64),
        })
    });
    if json {
        println!(
            "{}",
            json!({
                "profile": name,
                "backend": "serve",
                "url": s.url,
                "enabled": cfg.enabled,
                "rateLimit": cfg.rate_limit,
                "rateCurrent": cfg.effective_rate(),
                "queueDepth": queue_depth,
                "admittedLastMinute": admitted_last_minute,
                "admittedValid": admitted_total,
                "waitSecondsForNewArrival": wait,
                "throttle": throttle,
            })
        );
        return Ok(());
    }
    print_room(
        &format!("{name} (served at {})", s.url),
        &cfg,
        queue_depth,
        admitted_last_minute,
        wait,
    );
    match (cfg.dynamic_throttle, &last) {
        (false, _) => println!("throttle:              off"),
        (true, None) => println!("throttle:              on, probing {} (no decision yet)", cfg.probe_target()),
        (true, Some(d)) => println!(
            "throttle:              on, last minute {:?}: median {} ms, {}/{} probes failed, baseline {} ms",
            d.verdict,
            d.median_ms.map_or("-".into(), |m| m.to_string()),
            d.failed,
            d.probes,
            d.state.baseline_ms.map_or("-".into(), |b| format!("{b:.0}")),
        ),
    }
    Ok(())
}

/// The lines of `status` both backends share.
fn print_room(profile: &str, cfg: &RoomConfig, in_line: u64, admitted: u64, wait: u64) {
    println!("profile:               {profile}");
    println!(
        "room:                  {}",
        if cfg.enabled { "on" } else { "off" }
    );
    println!(
        "rate:                  {} per minute (limit {})",
        cfg.effective_rate(),
        cfg.rate_limit
    );
    println!("in line:               {in_line}");
    println!("admitted, last minute: {admitted}");
    println!("estimated wait now:    {}", human_secs(wait));
}

fn human_secs(s: u64) -> String {
    match s {
        0 => "none".into(),
        1..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

pub fn config(files: &Files, name: Option<&str>, json: bool) -> Result<(), CliError> {
    let state = files.state()?;
    if let Some(name) = name {
        let p = files.profile(name)?;
        let served = state.serve.get(name);
        if json {
            println!(
                "{}",
                json!({ "profile": name, "settings": p, "served": served })
            );
        } else {
            print!(
                "[profiles.{name}]\n{}",
                toml::to_string_pretty(&p).map_err(|e| CliError::Internal(e.to_string()))?
            );
            if let Some(s) = served {
                println!("# served at {} (data in {})", s.url, s.data_dir.display());
            }
        }
        return Ok(());
    }
    let file = files.profiles()?;
    if json {
        let list: Vec<_> = file
            .profiles
            .iter()
            .map(|(n, p)| json!({ "profile": n, "settings": p, "served": state.serve.get(n) }))
            .collect();
        println!(
            "{}",
            json!({ "file": files.profiles_path, "profiles": list })
        );
        return Ok(());
    }
    if file.profiles.is_empty() {
        println!(
            "no profiles in {} (create one with `beekeeper init`)",
            files.profiles_path.display()
        );
        return Ok(());
    }
    println!("profiles in {}:", files.profiles_path.display());
    for (n, p) in &file.profiles {
        let where_ = state.serve.get(n).map_or_else(
            || "not served yet".to_string(),
            |s| format!("served at {}", s.url),
        );
        println!("  {n:<20} {:>6}/min  {}  ({where_})", p.rate, p.destination);
    }
    Ok(())
}
