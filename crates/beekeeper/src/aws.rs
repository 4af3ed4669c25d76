//! `deploy`, `destroy`, and the room commands of a deployed profile.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use beekeeper_core::Profile;
use beekeeper_deploy::control::{self, Status};
use beekeeper_deploy::destroy::Destroy;
use beekeeper_deploy::{CallLog, Clients, Deploy, Deployed, Outcome, Patience, Plan, Progress};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::cli::{DeployArgs, DestroyArgs};
use crate::error::CliError;
use crate::files::Files;

/// Where AWS calls go and with which credentials.
#[derive(Debug, Clone, Default)]
pub struct AwsOpts {
    pub aws_profile: Option<String>,
    pub endpoint_url: Option<String>,
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Internal(format!("cannot start the runtime: {e}")))
}

/// The identity check, with the AWS profile named when it gave nothing.
async fn account(c: &Clients, opts: &AwsOpts) -> Result<String, CliError> {
    beekeeper_deploy::account(c)
        .await
        .map_err(|e| match (&opts.aws_profile, &e) {
            (Some(p), beekeeper_deploy::DeployError::Aws { detail, .. })
                if detail == "no credentials found" =>
            {
                CliError::AwsProfile(p.clone())
            }
            _ => e.into(),
        })
}

async fn clients(profile: &Profile, opts: &AwsOpts) -> Clients {
    let sdk = beekeeper_deploy::clients::sdk_config(
        &profile.region,
        opts.aws_profile.as_deref(),
        opts.endpoint_url.as_deref(),
    )
    .await;
    Clients::new(&sdk, CallLog::new())
}

/// A spinner per step on a terminal, one plain line per step otherwise.
struct Steps {
    bar: Option<Mutex<Option<ProgressBar>>>,
}

impl Steps {
    fn new() -> Steps {
        Steps {
            bar: std::io::stderr().is_terminal().then(|| Mutex::new(None)),
        }
    }
}

impl Progress for Steps {
    fn start(&self, resource: &str) {
        if let Some(bar) = &self.bar {
            let pb = ProgressBar::new_spinner().with_message(resource.to_string());
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
                pb.set_style(style);
            }
            pb.enable_steady_tick(Duration::from_millis(100));
            if let Ok(mut slot) = bar.lock() {
                *slot = Some(pb);
            }
        }
    }

    fn finish(&self, resource: &str, outcome: &Outcome) {
        let line = format!("{resource}: {outcome}");
        match &self.bar {
            Some(bar) => match bar.lock().ok().and_then(|mut b| b.take()) {
                Some(pb) => pb.finish_with_message(line),
                None => eprintln!("{line}"),
            },
            None => eprintln!("{line}"),
        }
    }
}

fn artifacts_dir(given: Option<PathBuf>) -> PathBuf {
    given.unwrap_or_else(|| {
        std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| PathBuf::from("target"), PathBuf::from)
            .join("lambda")
    })
}

pub fn deploy(files: &Files, args: DeployArgs, opts: &AwsOpts, json: bool) -> Result<(), CliError> {
    let profile = files.profile(&args.profile)?;
    if args.dry_run {
        // No account, no call: ARNs show the account as a placeholder.
        let plan = Plan::new(&args.profile, &profile, None);
        if json {
            println!(
                "{}",
                serde_json::to_string_pretty(&plan)
                    .map_err(|e| CliError::Internal(e.to_string()))?
            );
        } else {
            print!("{}", plan.describe());
            println!("dry run: nothing was called or changed");
        }
        return Ok(());
    }
    let started = Instant::now();
    let steps = Steps::new();
    let (deployed, calls) = runtime()?.block_on(async {
        let c = clients(&profile, opts).await;
        let account = account(&c, opts).await?;
        let plan = Plan::new(&args.profile, &profile, Some(&account));
        let deployed = Deploy {
            c: &c,
            plan,
            artifacts: artifacts_dir(args.artifacts),
            progress: &steps,
            patience: Patience::default(),
        }
        .run()
        .await?;
        Ok::<_, CliError>((deployed, c.log.calls()))
    })?;
    let mut state = files.state()?;
    state.deploy.insert(args.profile.clone(), deployed.clone());
    files.save_state(&state)?;
    let changes = calls.iter().filter(|c| c.mutating).count();
    let secs = started.elapsed().as_secs_f64();
    if json {
        println!(
            "{}",
            json!({
                "profile": args.profile,
                "url": deployed.url,
                "clientCheck": deployed.client_check,
                "deployment": deployed,
                "awsCalls": calls.len(),
                "changes": changes,
                "seconds": secs,
            })
        );
    } else {
        println!(
            "deployed {} in {secs:.1} s ({} AWS calls, {changes} changes)",
            args.profile,
            calls.len()
        );
        println!("waiting room:  {}", deployed.url);
        println!("client check:  {}{{token}}", deployed.client_check);
    }
    Ok(())
}

pub fn destroy(
    files: &Files,
    args: DestroyArgs,
    opts: &AwsOpts,
    json: bool,
) -> Result<(), CliError> {
    let profile = files.profile(&args.profile)?;
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            return Err(CliError::NeedsConfirmation);
        }
        let ok = dialoguer::Confirm::new()
            .with_prompt(format!(
                "Delete every AWS resource of profile {:?} in {} (its line and admissions too)?",
                args.profile, profile.region
            ))
            .default(false)
            .interact()
            .map_err(|e| CliError::Internal(e.to_string()))?;
        if !ok {
            return Err(CliError::Cancelled);
        }
    }
    let started = Instant::now();
    let steps = Steps::new();
    let (done, calls) = runtime()?.block_on(async {
        let c = clients(&profile, opts).await;
        let account = account(&c, opts).await?;
        let plan = Plan::new(&args.profile, &profile, Some(&account));
        let done = Destroy {
            c: &c,
            plan: &plan,
            progress: &steps,
        }
        .run()
        .await?;
        Ok::<_, CliError>((done, c.log.calls()))
    })?;
    let mut state = files.state()?;
    state.deploy.remove(&args.profile);
    files.save_state(&state)?;
    let deleted = done.iter().filter(|(_, o)| *o == Outcome::Deleted).count();
    let kept: Vec<_> = done
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Kept(_)))
        .map(|(r, o)| format!("{r} ({o})"))
        .collect();
    let secs = started.elapsed().as_secs_f64();
    if json {
        println!(
            "{}",
            json!({ "profile": args.profile, "deleted": deleted, "kept": kept, "awsCalls": calls.len(), "seconds": secs })
        );
    } else {
        println!(
            "destroyed {}: {deleted} resources deleted in {secs:.1} s ({} AWS calls)",
            args.profile,
            calls.len()
        );
        for k in &kept {
            println!("left in place: {k}");
        }
    }
    Ok(())
}

fn deployed_plan(files: &Files, name: &str) -> Result<Option<(Profile, Deployed, Plan)>, CliError> {
    let Some(d) = files.state()?.deploy.get(name).cloned() else {
        return Ok(None);
    };
    let profile = files.profile(name)?;
    let plan = Plan::new(name, &profile, Some(&d.account));
    Ok(Some((profile, d, plan)))
}

/// A change the room commands make to a deployed room.
pub enum Change {
    Enabled(bool),
    Rate(u32),
}

/// Applies `change` to the deployed room; `None` if the profile is not deployed.
pub fn update(
    files: &Files,
    name: &str,
    change: Change,
    opts: &AwsOpts,
) -> Result<Option<beekeeper_core::RoomConfig>, CliError> {
    let Some((profile, _, plan)) = deployed_plan(files, name)? else {
        return Ok(None);
    };
    let cfg = runtime()?.block_on(async {
        let c = clients(&profile, opts).await;
        match change {
            Change::Enabled(on) => control::switch(&c, &plan, on).await,
            Change::Rate(rate) => control::set_rate(&c, &plan, rate).await,
        }
    })?;
    Ok(Some(cfg))
}

pub fn status(
    files: &Files,
    name: &str,
    opts: &AwsOpts,
) -> Result<Option<(Deployed, Status)>, CliError> {
    let Some((profile, deployed, plan)) = deployed_plan(files, name)? else {
        return Ok(None);
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let status = runtime()?.block_on(async {
        let c = clients(&profile, opts).await;
        control::status(&c, &plan, now).await
    })?;
    Ok(Some((deployed, status)))
}
