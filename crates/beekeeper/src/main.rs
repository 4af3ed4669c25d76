//! The `beekeeper` command.

mod aws;
mod cli;
mod control;
mod error;
mod files;
mod init;
mod output;
mod serve;

use clap::{CommandFactory, Parser};

use crate::cli::{Cli, Command};
use crate::control::Switch;
use crate::error::CliError;
use crate::files::Files;
use crate::output::Format;

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
    let format = Format::new(cli.json);
    let opts = aws::AwsOpts {
        aws_profile: cli.aws_profile,
        endpoint_url: cli.endpoint_url,
    };
    // One runtime for whatever the command does.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Internal(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async {
        match cli.command {
            Command::Init(args) => {
                let created = init::run(&files, args)?;
                let out = output::Initialized {
                    settings: output::Settings::from(&created.profile),
                    profile: created.profile_name,
                    profiles_file: files.profiles_path.clone(),
                };
                output::emit(&out, format)
            }
            Command::Serve(args) => serve::run(&files, args, format).await,
            Command::Deploy(args) => aws::deploy(&files, args, &opts, format).await,
            Command::Destroy(args) => aws::destroy(&files, args, &opts, format).await,
            Command::Off(p) => {
                control::switch(&files, &p.profile, Switch::Off, format, &opts).await
            }
            Command::On(p) => control::switch(&files, &p.profile, Switch::On, format, &opts).await,
            Command::SetRate { profile, rate } => {
                control::set_rate(&files, &profile, &rate, format, &opts).await
            }
            Command::Status(p) => control::status(&files, &p.profile, format, &opts).await,
            Command::RotateKey(p) => control::rotate_key(&files, &p.profile, format, &opts).await,
            Command::Config { profile } => control::config(&files, profile.as_deref(), format),
            // Answered above, before the profiles file is looked for.
            Command::Completions { .. } => Ok(()),
        }
    })
}
