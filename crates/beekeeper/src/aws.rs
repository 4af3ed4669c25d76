//! `deploy`, `destroy`, and the room commands of a deployed profile.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use beekeeper_core::Profile;
use beekeeper_deploy::control;
use beekeeper_deploy::destroy::Destroy;
use beekeeper_deploy::{CallLog, Clients, Deploy, Deployed, Outcome, Patience, Plan, Progress};
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{DeployArgs, DestroyArgs};
use crate::error::CliError;
use crate::files::Files;
use crate::output::{self, Format};

/// Where AWS calls go and with which credentials.
#[derive(Debug, Clone, Default)]
pub struct AwsOpts {
    pub aws_profile: Option<String>,
    pub endpoint_url: Option<String>,
}

/// The identity check, with the AWS profile named when it gave nothing.
async fn account(c: &Clients, opts: &AwsOpts) -> Result<String, CliError> {
    beekeeper_deploy::account(c)
        .await
        .map_err(|e| match (&opts.aws_profile, &e) {
            (Some(p), beekeeper_deploy::DeployError::NoCredentials { .. }) => {
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

/// Where the Lambda zips are: `--artifacts`, else `lambda/` of the target
/// directory this binary was built in (`target/release/beekeeper` reads
/// `target/lambda/`, where `scripts/build-lambdas` writes them), never a
/// directory relative to wherever the command is run.
fn artifacts_dir(given: Option<PathBuf>) -> PathBuf {
    given.unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|exe| Some(exe.parent()?.parent()?.join("lambda")))
            .unwrap_or_else(|| PathBuf::from("/nonexistent/beekeeper-lambda"))
    })
}

pub async fn deploy(
    files: &Files,
    args: DeployArgs,
    opts: &AwsOpts,
    format: Format,
) -> Result<(), CliError> {
    let profile = files.profile(&args.profile)?;
    if args.dry_run {
        // No account, no call: ARNs show the account as a placeholder.
        let plan = Plan::new(&args.profile, &profile, None);
        return output::emit(&output::DryRun(plan), format);
    }
    let _lock = files.lock_profile(&args.profile)?;
    let started = Instant::now();
    let steps = Steps::new();
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
    let calls = c.log.calls();
    files.update_state(|s| {
        s.deploy.insert(args.profile.clone(), deployed.clone());
    })?;
    let out = output::Deployed {
        profile: args.profile,
        urls: output::deployed_urls(&deployed),
        deployment: output::Deployment::from(&deployed),
        aws_calls: calls.len(),
        changes: calls.iter().filter(|c| c.mutating).count(),
        seconds: started.elapsed().as_secs_f64(),
    };
    output::emit(&out, format)
}

pub async fn destroy(
    files: &Files,
    args: DestroyArgs,
    opts: &AwsOpts,
    format: Format,
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
    let _lock = files.lock_profile(&args.profile)?;
    let started = Instant::now();
    let steps = Steps::new();
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
    let calls = c.log.calls();
    files.update_state(|s| {
        s.deploy.remove(&args.profile);
    })?;
    let out = output::Destroyed {
        profile: args.profile,
        deleted: done.iter().filter(|(_, o)| *o == Outcome::Deleted).count(),
        kept: done
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Kept(_)))
            .map(|(r, o)| format!("{r} ({o})"))
            .collect(),
        aws_calls: calls.len(),
        seconds: started.elapsed().as_secs_f64(),
    };
    output::emit(&out, format)
}

/// A room the state file records as deployed, with the plan of its profile.
pub struct DeployedRoom {
    name: String,
    profile: Profile,
    deployed: Deployed,
    plan: Plan,
}

impl DeployedRoom {
    pub fn new(files: &Files, name: &str, deployed: &Deployed) -> Result<DeployedRoom, CliError> {
        let profile = files.profile(name)?;
        let plan = Plan::new(name, &profile, Some(&deployed.account));
        Ok(DeployedRoom {
            name: name.to_string(),
            profile,
            deployed: deployed.clone(),
            plan,
        })
    }

    /// Applies `change` to the room config item.
    pub async fn update(
        &self,
        change: crate::control::Change,
        opts: &AwsOpts,
    ) -> Result<beekeeper_core::RoomConfig, CliError> {
        use crate::control::{Change, Switch};
        let c = clients(&self.profile, opts).await;
        Ok(match change {
            Change::Switch(s) => control::switch(&c, &self.plan, s == Switch::On).await?,
            Change::Rate(rate) => control::set_rate(&c, &self.plan, rate).await?,
        })
    }

    pub async fn rotate_key(
        &self,
        opts: &AwsOpts,
    ) -> Result<beekeeper_core::pass::KeyRing, CliError> {
        let c = clients(&self.profile, opts).await;
        Ok(beekeeper_deploy::keys::rotate(&c, &self.plan).await?)
    }

    pub async fn status(&self, opts: &AwsOpts) -> Result<output::Status, CliError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let c = clients(&self.profile, opts).await;
        let s = control::status(&c, &self.plan, now).await?;
        let cfg = &s.config;
        Ok(output::Status {
            profile: self.name.clone(),
            room: output::Where::Aws,
            urls: output::deployed_urls(&self.deployed),
            deployment: Some(output::Deployment::from(&self.deployed)),
            enabled: cfg.enabled,
            rate_limit: cfg.rate_limit,
            rate_current: cfg.effective_rate(),
            queue_depth: s.queue_depth,
            admitted_last_minute: s.admitted_last_minute,
            wait_seconds_for_new_arrival: s.wait_seconds_for_new_arrival,
            throttle: output::Throttle::new(cfg, s.throttle.as_ref()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_artifacts_are_found_beside_the_build_not_the_working_directory() {
        let exe = std::env::current_exe().unwrap();
        let dir = artifacts_dir(None);
        assert!(dir.is_absolute(), "{}", dir.display());
        assert_eq!(
            Some(dir.as_path()),
            exe.parent()
                .and_then(|d| d.parent())
                .map(|t| t.join("lambda"))
                .as_deref()
        );
        std::env::set_current_dir(std::env::temp_dir()).unwrap();
        assert_eq!(artifacts_dir(None), dir);
        assert_eq!(artifacts_dir(Some("x".into())), PathBuf::from("x"));
    }
}
