//! `beekeeper init`: the six questions of a waiting room.

use std::io::IsTerminal;

use beekeeper_core::profile::{
    self, ProfileError, DEFAULT_QUEUE_HOURS, DEFAULT_RATE, DEFAULT_REGION, DEFAULT_SESSION_MINUTES,
};
use beekeeper_core::Profile;
use dialoguer::{Confirm, Input};

use crate::cli::InitArgs;
use crate::error::CliError;
use crate::files::Files;

const DEFAULT_PROFILE: &str = "default";
const DEFAULT_NAME: &str = "Waiting room";

/// How a question gets its answer: a flag, a prompt, or the default.
struct Asker {
    interactive: bool,
    yes: bool,
}

impl Asker {
    /// Answers one free-text question. A flag wins; without one, the user is
    /// asked on a terminal, `--yes` takes the default, and otherwise the
    /// missing flag is named.
    fn text<T>(
        &self,
        flag: &'static str,
        given: Option<String>,
        prompt: &str,
        default: Option<&str>,
        check: impl Fn(&str) -> Result<T, ProfileError> + Clone,
    ) -> Result<T, CliError> {
        let invalid = |e: ProfileError| CliError::InvalidAnswer {
            flag,
            reason: e.to_string(),
        };
        if let Some(v) = given {
            return check(&v).map_err(invalid);
        }
        if self.interactive {
            let mut input = Input::<String>::new().with_prompt(prompt);
            if let Some(d) = default {
                input = input.default(d.to_string());
            }
            let validator = check.clone();
            let answer = input
                .validate_with(move |s: &String| {
                    validator(s).map(|_| ()).map_err(|e| e.to_string())
                })
                .interact_text()
                .map_err(|_| CliError::Cancelled)?;
            return check(&answer).map_err(invalid);
        }
        match (self.yes, default) {
            (true, Some(d)) => check(d).map_err(invalid),
            _ => Err(CliError::MissingAnswer { flag }),
        }
    }

    fn yes_no(&self, given: Option<bool>, prompt: &str, default: bool) -> Result<bool, CliError> {
        if let Some(v) = given {
            return Ok(v);
        }
        if self.interactive {
            return Confirm::new()
                .with_prompt(prompt)
                .default(default)
                .interact()
                .map_err(|_| CliError::Cancelled);
        }
        if self.yes {
            return Ok(default);
        }
        Err(CliError::MissingAnswer {
            flag: "--dynamic-throttle or --no-dynamic-throttle",
        })
    }
}

pub struct Created {
    pub profile_name: String,
    pub profile: Profile,
}

pub fn run(files: &Files, args: InitArgs) -> Result<Created, CliError> {
    let asker = Asker {
        interactive: std::io::stdin().is_terminal() && std::io::stderr().is_terminal() && !args.yes,
        yes: args.yes,
    };
    let profile_name = asker.text(
        "PROFILE",
        args.profile,
        "Profile name (lower-case letters, digits, hyphens)",
        Some(DEFAULT_PROFILE),
        |s| profile::validate_profile_name(s).map(|_| s.to_string()),
    )?;
    let mut file = files.profiles()?;
    if file.profiles.contains_key(&profile_name) && !args.yes {
        let overwrite = asker.interactive
            && Confirm::new()
                .with_prompt(format!("Profile {profile_name:?} exists. Overwrite it?"))
                .default(false)
                .interact()
                .map_err(|_| CliError::Cancelled)?;
        if !overwrite {
            return Err(if asker.interactive {
                CliError::Cancelled
            } else {
                CliError::ProfileExists(profile_name)
            });
        }
    }
    let name = asker.text(
        "--name",
        args.name,
        "Public name of the waiting room",
        Some(DEFAULT_NAME),
        |s| profile::validate_room_name(s).map(|_| s.trim().to_string()),
    )?;
    let region = asker.text(
        "--region",
        args.region,
        "AWS region",
        Some(DEFAULT_REGION),
        |s| profile::validate_region(s.trim()).map(|_| s.trim().to_string()),
    )?;
    let destination = asker.text(
        "--destination",
        args.destination,
        "Destination URL (where admitted visitors go)",
        None,
        profile::validate_destination,
    )?;
    let default_rate = DEFAULT_RATE.to_string();
    let rate = asker.text(
        "--rate",
        args.rate,
        "Admits per minute",
        Some(&default_rate),
        profile::validate_rate,
    )?;
    let throttle_flag = match (args.dynamic_throttle, args.no_dynamic_throttle) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    };
    let dynamic_throttle = asker.yes_no(
        throttle_flag,
        "Enable dynamic rate throttling (slow down when the destination slows down)?",
        false,
    )?;
    let profile = Profile {
        name,
        region,
        destination,
        rate,
        dynamic_throttle,
        session_minutes: DEFAULT_SESSION_MINUTES,
        queue_hours: DEFAULT_QUEUE_HOURS,
        probe_url: None,
        secure_cookie: None,
        arrivals_per_client: args.arrivals_per_client,
        trusted_proxies: Vec::new(),
        max_line: args.max_line,
    };
    file.profiles.insert(profile_name.clone(), profile.clone());
    files.save_profiles(&file)?;
    Ok(Created {
        profile_name,
        profile,
    })
}
