//! beekeeper's benchmarks. Each one prints a report; figures are ratios
//! against a baseline measured in the same run, because these machines are
//! shared and noisy.
//!
//! cargo run --release -p bench -- serve     # needs wrk (Debian: apt-get install wrk)
//! cargo run -p bench -- deploy               # against moto (scripts/aws-tools installs it)
//! cargo run -p bench -- cold-start           # after scripts/build-lambdas --release
//! cargo run -p bench -- capacity             # the capacity and cost model's figures
//! cargo run --release -p bench -- accuracy   # admitted per minute and smoothness: serve, AWS (moto), the original policy

mod accuracy;
mod capacity;
mod cold_start;
mod data_plane;
mod deploy;
mod moto;
mod serve;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "beekeeper's benchmarks")]
struct Cli {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// `serve` throughput: arrivals and polls per second next to a hello-world server
    Serve(serve::Args),
    /// Deploy, redeploy and destroy against moto: wall time and AWS calls
    Deploy(deploy::Args),
    /// Lambda cold start: exec to the first runtime-API request, next to exec of /bin/true
    ColdStart(cold_start::Args),
    /// The capacity and cost model: beekeeper next to the original design
    Capacity(capacity::Args),
    /// Admission accuracy and smoothness with a backlog (serve, AWS on moto), next to the original policy
    Accuracy(accuracy::Args),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.bench {
        Bench::Serve(args) => serve::run(args),
        Bench::Deploy(args) => deploy::run(args),
        Bench::ColdStart(args) => cold_start::run(args),
        Bench::Capacity(args) => capacity::run(args),
        Bench::Accuracy(args) => accuracy::run(args),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
