//! Command-line interface types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// A virtual waiting room for your biggest sale.
///
/// Run it on this machine with `beekeeper serve`, or try it at once with
/// `beekeeper serve --demo`.
#[derive(Debug, Parser)]
#[command(name = "beekeeper", version, max_term_width = 100)]
pub struct Cli {
    /// Profiles file [default: profiles.toml in your config directory]
    #[arg(
        long,
        global = true,
        env = "BEEKEEPER_CONFIG",
        hide_env_values = true,
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,

    /// AWS profile for deploy and the room commands [default: the standard credential chain]
    #[arg(long, global = true, value_name = "NAME")]
    pub aws_profile: Option<String>,

    /// Send AWS calls to this endpoint (an emulator); AWS_ENDPOINT_URL is honoured too
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,

    /// Print results as JSON on stdout
    #[arg(long, global = true)]
    pub json: bool,

    /// More log output on stderr (-v info, -vv debug)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or replace a profile: the six questions of a waiting room
    Init(InitArgs),
    /// Run the waiting room on this machine
    Serve(ServeArgs),
    /// Create or update the waiting room on your AWS account
    Deploy(DeployArgs),
    /// Delete everything a profile's deploy created on AWS
    Destroy(DestroyArgs),
    /// Send every visitor, new and waiting, straight to the destination
    Off(ProfileArg),
    /// Queue visitors again after `off`
    On(ProfileArg),
    /// Change the admit rate (visitors per minute), live
    SetRate {
        /// Profile name
        profile: String,
        /// Admits per minute (10-100000)
        rate: String,
    },
    /// Show on/off, rates, queue depth, recent admissions and the wait for a new arrival
    Status(ProfileArg),
    /// Sign passes with a new key from now on; passes already issued stay valid until they expire
    RotateKey(ProfileArg),
    /// List profiles, or show one
    Config {
        /// Profile name
        profile: Option<String>,
    },
    /// Print the shell completion script for beekeeper
    ///
    /// bash: `beekeeper completions bash > ~/.local/share/bash-completion/completions/beekeeper`;
    /// zsh: `beekeeper completions zsh > "${fpath[1]}/_beekeeper"`;
    /// fish: `beekeeper completions fish > ~/.config/fish/completions/beekeeper.fish`;
    /// PowerShell: `beekeeper completions powershell | Out-String | Invoke-Expression`.
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub struct ProfileArg {
    /// Profile name
    pub profile: String,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Profile name: lower-case letters, digits and hyphens (used in resource names)
    pub profile: Option<String>,
    /// Public name of the waiting room, shown to visitors
    #[arg(long)]
    pub name: Option<String>,
    /// AWS region for `deploy`
    #[arg(long)]
    pub region: Option<String>,
    /// Where admitted visitors go (absolute http or https URL)
    #[arg(long, value_name = "URL")]
    pub destination: Option<String>,
    /// Admits per minute (10-100000)
    #[arg(long, value_name = "N")]
    pub rate: Option<String>,
    /// Slow admission down when the destination slows down
    #[arg(long, overrides_with = "no_dynamic_throttle")]
    pub dynamic_throttle: bool,
    /// Keep the admit rate fixed
    #[arg(long)]
    pub no_dynamic_throttle: bool,
    /// Places a minute one client address may take; 0 for no limit [default: 60]
    #[arg(long, value_name = "N")]
    pub arrivals_per_client: Option<u32>,
    /// The most visitors in line; beyond, arrivals are told the room is full [default: 1000000]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_line: Option<u64>,
    /// Take the default for every question not given as a flag, and overwrite an existing profile
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Profile name (not needed with --demo)
    #[arg(required_unless_present = "demo")]
    pub profile: Option<String>,
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: String,
    /// Where the room keeps its line and admissions [default: your data directory]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// A demo room with its own demo shop as destination; needs no profile
    #[arg(long, conflicts_with = "profile")]
    pub demo: bool,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// Profile name
    pub profile: String,
    /// Print the plan (every resource, policy and setting) and call nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Where the Lambda zips are (`scripts/build-lambdas --release` writes them)
    /// [default: $CARGO_TARGET_DIR/lambda, or target/lambda]
    #[arg(
        long,
        env = "BEEKEEPER_ARTIFACTS",
        hide_env_values = true,
        value_name = "DIR"
    )]
    pub artifacts: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// Profile name
    pub profile: String,
    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    pub yes: bool,
}
