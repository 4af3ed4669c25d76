//! Deploy, redeploy and destroy against a moto server of the bench's own:
//! wall time and AWS calls of each, next to the time of one AWS read on the
//! same server (the baseline), so the report says how much of a deploy is
//! the emulator's per-call cost and how much is the deployer's.

use std::path::PathBuf;
use std::time::Instant;

use beekeeper_core::Profile;
use beekeeper_deploy::destroy::Destroy;
use beekeeper_deploy::progress::Quiet;
use beekeeper_deploy::{CallLog, Clients, Deploy, Patience, Plan};

use crate::moto;

#[derive(clap::Args)]
pub struct Args {
    /// Rounds of deploy, redeploy and destroy (each with a new profile)
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// The Lambda zips [default: $CARGO_TARGET_DIR/lambda if it holds them,
    /// else small stand-ins]
    #[arg(long)]
    artifacts: Option<PathBuf>,
}

struct Phase {
    secs: Vec<f64>,
    calls: Vec<usize>,
    changes: Vec<usize>,
}

impl Phase {
    fn new() -> Phase {
        Phase {
            secs: Vec::new(),
            calls: Vec::new(),
            changes: Vec::new(),
        }
    }

    fn row(&self, name: &str, read_ms: f64) -> String {
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        let secs = mean(&self.secs);
        let calls = self.calls.iter().sum::<usize>() as f64 / self.calls.len().max(1) as f64;
        let range = |v: &[usize]| {
            let (lo, hi) = (v.iter().min(), v.iter().max());
            match (lo, hi) {
                (Some(l), Some(h)) if l == h => l.to_string(),
                (Some(l), Some(h)) => format!("{l}–{h}"),
                _ => "-".into(),
            }
        };
        format!(
            "| {name} | {:.2} s ({:.2}–{:.2}) | {} | {} | {:.1}× |",
            secs,
            self.secs.iter().cloned().fold(f64::INFINITY, f64::min),
            self.secs.iter().cloned().fold(0.0, f64::max),
            range(&self.calls),
            range(&self.changes),
            secs * 1000.0 / (calls * read_ms),
        )
    }
}

pub fn run(args: Args) -> Result<(), String> {
    let (_moto, url) = moto::start()?;
    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (art, what) = moto::artifacts(args.artifacts, scratch.path())?;
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let sdk = moto::sdk(&url).await;
        // The baseline: one read, the identity call every deploy starts with.
        let baseline = Clients::new(&sdk, CallLog::new());
        let mut reads = Vec::new();
        for _ in 0..200 {
            let t = Instant::now();
            beekeeper_deploy::account(&baseline)
                .await
                .map_err(|e| e.to_string())?;
            reads.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        reads.sort_by(f64::total_cmp);
        let read_ms = reads[reads.len() / 2];

        let profile = Profile {
            name: "Bench Sale".into(),
            region: moto::REGION.into(),
            destination: "https://shop.example/".into(),
            rate: 600,
            dynamic_throttle: true,
            session_minutes: 30,
            queue_hours: 12,
            probe_url: None,
            secure_cookie: None,
            arrivals_per_client: None,
            trusted_proxies: Vec::new(),
            max_line: None,
        };
        let (mut first, mut again, mut gone) = (Phase::new(), Phase::new(), Phase::new());
        for round in 0..args.rounds {
            let name = format!("bench{round}");
            for (i, phase) in [&mut first, &mut again, &mut gone].into_iter().enumerate() {
                let log = CallLog::new();
                let c = Clients::new(&sdk, log.clone());
                let plan = Plan::new(&name, &profile, Some(moto::ACCOUNT));
                let t = Instant::now();
                if i == 2 {
                    Destroy {
                        c: &c,
                        plan: &plan,
                        progress: &Quiet,
                    }
                    .run()
                    .await
                    .map_err(|e| e.to_string())?;
                } else {
                    Deploy {
                        c: &c,
                        plan,
                        artifacts: art.clone(),
                        progress: &Quiet,
                        patience: Patience::default(),
                    }
                    .run()
                    .await
                    .map_err(|e| e.to_string())?;
                }
                phase.secs.push(t.elapsed().as_secs_f64());
                phase.calls.push(log.calls().len());
                phase.changes.push(log.changes().len());
            }
        }
        println!(
            "deploy bench: {} rounds against moto on 127.0.0.1, Lambda code: {what}",
            args.rounds
        );
        println!(
            "baseline: one AWS read (sts GetCallerIdentity) takes {read_ms:.2} ms (median of 200)"
        );
        println!();
        println!(
            "| phase | wall time, mean (min–max) | AWS calls | changes | vs calls × one read |"
        );
        println!("|---|---:|---:|---:|---:|");
        println!("{}", first.row("deploy (new profile)", read_ms));
        println!("{}", again.row("redeploy (nothing to do)", read_ms));
        println!("{}", gone.row("destroy", read_ms));
        Ok(())
    })
}
