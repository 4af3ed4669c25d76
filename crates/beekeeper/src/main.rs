//! The `beekeeper` command.

mod aws;
mod cli;
mod control;
mod error;
mod files;
mod init;
mod serve;

use clap::{CommandFactory, Parser};

use crate::cli::{Cli, Command};
use crate::error::CliError;
use crate::files::Files;

fn main() {
    let cli = Cli::parse();
    let filter = match cli.verbose {
        0 => "warn",
        1 => "info,beekeeper=info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter)),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = run(cli) {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}

fn run(cli: Cli) -> Result<(), CliError> {
    if let Command::Completions { shell } = cli.command {
        // Needs no profiles file: it only describes the command line.
        clap_complete::generate(
            shell,
            &mut Cli::command(),
            "beekeeper",
            &mut std::io::stdout(),
        );
        return Ok(());
    }
    let files = Files::locate(cli.config)?;
    let json = cli.json;
    let opts = aws::AwsOpts {
        aws_profile: cli.aws_profile,
        endpoint_url: cli.endpoint_url,
    };
    match cli.command {
        Command::Init(args) => {
            let created = init::run(&files, args)?;
            let name = &created.profile_name;
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "profile": name, "settings": created.profile })
                );
            } else {
                println!(
                    "saved profile {name:?} in {}",
                    files.profiles_path.display()
                );
                println!("next: beekeeper serve {name}");
            }
            Ok(())
        }
        Command::Serve(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| CliError::Internal(format!("cannot start the runtime: {e}")))?
            .block_on(serve::run(&files, args, json)),
        Command::Deploy(args) => aws::deploy(&files, args, &opts, json),
        Command::Destroy(args) => aws::destroy(&files, args, &opts, json),
        Command::Off(p) => control::switch(&files, &p.profile, false, json, &opts),
        Command::On(p) => control::switch(&files, &p.profile, true, json, &opts),
        Command::SetRate { profile, rate } => {
            control::set_rate(&files, &profile, &rate, json, &opts)
        }
        Command::Status(p) => control::status(&files, &p.profile, json, &opts),
        Command::Config { profile } => control::config(&files, profile.as_deref(), json),
        // Answered above, before the profiles file is looked for.
        Command::Completions { .. } => Ok(()),
    }
}
