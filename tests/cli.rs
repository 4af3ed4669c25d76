//! The `beekeeper` command line: help, `init` (flags, table of invalid
//! answers, interactive through a pseudo-terminal) and `config`.
#![allow(clippy::unwrap_used)] // helpers outside #[test] functions

use std::process::{Command, Output};

use beekeeper_test_support::served::{self as common, bin};

fn run(config: &std::path::Path, args: &[&str]) -> Output {
    common::command(config).args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn help_is_stable() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("p.toml");
    for (name, args) in [
        ("help", vec!["--help"]),
        ("init_help", vec!["init", "--help"]),
        ("serve_help", vec!["serve", "--help"]),
        ("set_rate_help", vec!["set-rate", "--help"]),
        ("deploy_help", vec!["deploy", "--help"]),
        ("destroy_help", vec!["destroy", "--help"]),
    ] {
        let out = run(&cfg, &args);
        assert!(out.status.success());
        insta::assert_snapshot!(name, text(&out.stdout));
    }
}

/// The bash script completes subcommands and flags in a real bash, and the
/// other shells get a script of their own; none needs a profiles file.
#[test]
fn completions_complete_in_bash() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("missing").join("p.toml");
    let out = run(&cfg, &["completions", "bash"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let script = dir.path().join("beekeeper.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    let complete = |words: &str| {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "source {}; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
                 _beekeeper beekeeper \"${{COMP_WORDS[-1]}}\" \"${{COMP_WORDS[-2]}}\"; \
                 printf '%s\\n' \"${{COMPREPLY[@]}}\"",
                script.display()
            ))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    assert_eq!(complete("beekeeper set").trim(), "set-rate");
    let flags = complete("beekeeper deploy --");
    assert!(flags.lines().any(|l| l == "--dry-run"), "{flags}");
    for shell in ["zsh", "fish", "powershell"] {
        let out = run(&cfg, &["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", text(&out.stderr));
        assert!(text(&out.stdout).contains("set-rate"), "{shell}");
    }
    assert!(!cfg.exists(), "no profiles file is made");
    let out = run(&cfg, &["completions", "tcsh"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}

#[test]
fn init_with_flags_writes_the_profile_and_names_the_next_step() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("nested").join("profiles.toml");
    let out = run(
        &cfg,
        &[
            "init",
            "black-friday",
            "--name",
            "Seal Brewing Co Black Friday",
            "--region",
            "eu-west-1",
            "--destination",
            "https://seal.example/sale",
            "--rate",
            "500",
            "--dynamic-throttle",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("next: beekeeper serve black-friday"));
    let written: toml::Value = toml::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    let p = &written["profiles"]["black-friday"];
    assert_eq!(p["name"].as_str(), Some("Seal Brewing Co Black Friday"));
    assert_eq!(p["region"].as_str(), Some("eu-west-1"));
    assert_eq!(p["destination"].as_str(), Some("https://seal.example/sale"));
    assert_eq!(p["rate"].as_integer(), Some(500));
    assert_eq!(p["dynamic_throttle"].as_bool(), Some(true));

    // Re-running on the same profile without --yes refuses and keeps it.
    let again = run(
        &cfg,
        &[
            "init",
            "black-friday",
            "--destination",
            "https://other.example",
            "--yes",
        ],
    );
    assert!(again.status.success());
    let refused = run(&cfg, &["init", "black-friday", "--name", "x"]);
    assert!(!refused.status.success());
    assert_eq!(
        text(&refused.stderr).trim(),
        "error: profile \"black-friday\" already exists (hint: pass --yes to overwrite it)"
    );

    // config lists it and shows it.
    let list = text(&run(&cfg, &["config"]).stdout);
    assert!(
        list.contains("black-friday") && list.contains("not served yet"),
        "{list}"
    );
    let one = run(&cfg, &["config", "black-friday", "--json"]);
    let one: serde_json::Value = serde_json::from_slice(&one.stdout).unwrap();
    assert_eq!(one["settings"]["destination"], "https://other.example/");
    assert_eq!(one["settings"]["rate"], 500, "--yes takes the default rate");
}

#[test]
fn invalid_answers_are_one_clear_line_each() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("profiles.toml");
    let base = ["--destination", "https://shop.example", "--yes"];
    let cases: &[(&[&str], &str)] = &[
        (&["init", "Bad_Name"], "invalid PROFILE: profile name \"Bad_Name\" is not usable: use 1-32 lower-case letters, digits and hyphens, starting with a letter"),
        (&["init", "abcdefghijklmnopqrstuvwxyz0123456"], "invalid PROFILE: profile name \"abcdefghijklmnopqrstuvwxyz0123456\" is not usable: use 1-32 lower-case letters, digits and hyphens, starting with a letter"),
        (&["init", "ok", "--rate", "9"], "invalid --rate: rate \"9\" is not a whole number between 10 and 100000 admits per minute"),
        (&["init", "ok", "--rate", "100001"], "invalid --rate: rate \"100001\" is not a whole number between 10 and 100000 admits per minute"),
        (&["init", "ok", "--rate", "fast"], "invalid --rate: rate \"fast\" is not a whole number between 10 and 100000 admits per minute"),
        (&["init", "ok", "--region", "us-east-9"], "invalid --region: region \"us-east-9\" is not a commercial AWS region (for example us-east-1, eu-west-1)"),
        (&["init", "ok", "--region", "cn-north-1"], "invalid --region: region \"cn-north-1\" is not a commercial AWS region (for example us-east-1, eu-west-1)"),
        (&["init", "ok", "--name", ""], "invalid --name: room name must be 1-100 printable characters"),
    ];
    for (args, message) in cases {
        let mut all = args.to_vec();
        all.extend(base);
        let out = run(&cfg, &all);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(
            text(&out.stderr).trim(),
            format!("error: {message}"),
            "{args:?}"
        );
    }
    let bad_dest = run(
        &cfg,
        &["init", "ok", "--destination", "shop.example", "--yes"],
    );
    assert_eq!(
        text(&bad_dest.stderr).trim(),
        "error: invalid --destination: destination \"shop.example\" is not an absolute http(s) URL (for example https://shop.example.com/sale)"
    );
    // Without a terminal and without --yes, a missing answer names its flag.
    let missing = run(
        &cfg,
        &["init", "ok", "--destination", "https://shop.example"],
    );
    assert_eq!(
        text(&missing.stderr).trim(),
        "error: missing --name (stdin is not a terminal, so beekeeper cannot ask; pass --name or --yes for the default)"
    );
    let no_dest = run(&cfg, &["init", "ok", "--yes"]);
    assert!(text(&no_dest.stderr).contains("missing --destination"));
    // Nothing was written by any of them.
    assert!(!cfg.exists());
}

#[test]
fn commands_on_unknown_or_unserved_profiles_explain_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("profiles.toml");
    let out = run(&cfg, &["off", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr).trim(),
        "error: unknown profile \"nope\" (known: ; hint: create it with `beekeeper init nope`)"
    );
    assert!(run(
        &cfg,
        &[
            "init",
            "shop",
            "--destination",
            "https://s.example",
            "--yes"
        ]
    )
    .status
    .success());
    let out = run(&cfg, &["status", "shop"]);
    assert_eq!(
        text(&out.stderr).trim(),
        "error: profile \"shop\" is neither served on this machine nor deployed (hint: `beekeeper serve shop` or `beekeeper deploy shop`)"
    );
    let out = run(&cfg, &["set-rate", "shop", "5"]);
    assert!(text(&out.stderr).contains("invalid RATE: rate \"5\""));
    std::fs::write(&cfg, "profiles = 3").unwrap();
    let out = run(&cfg, &["config"]);
    assert!(text(&out.stderr).starts_with(&format!(
        "error: {} is not a valid profiles file",
        cfg.display()
    )));
}

/// The six questions asked on a terminal, with a wrong answer on the way.
#[test]
fn init_asks_the_six_questions_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("profiles.toml");
    let mut cmd = Command::new(bin());
    cmd.arg("init")
        .env("BEEKEEPER_CONFIG", &cfg)
        .env("NO_COLOR", "1");
    let mut p = rexpect::session::spawn_command(cmd, Some(10_000)).unwrap();
    p.exp_string("Profile name").unwrap();
    p.send_line("Not Valid").unwrap();
    p.exp_string("is not usable").unwrap();
    // dialoguer keeps the rejected text in the field: clear it first.
    p.send("\x15").unwrap();
    p.send_line("tester").unwrap();
    p.exp_string("Public name of the waiting room").unwrap();
    p.send_line("Beekeeper Example").unwrap();
    p.exp_string("AWS region").unwrap();
    p.send_line("").unwrap();
    p.exp_string("Destination URL").unwrap();
    p.send_line("https://beekeeper.example").unwrap();
    p.exp_string("Admits per minute").unwrap();
    p.send_line("5").unwrap();
    p.exp_string("between 10 and 100000").unwrap();
    p.send("\x15").unwrap();
    p.send_line("500").unwrap();
    p.exp_string("dynamic rate throttling").unwrap();
    p.send_line("y").unwrap();
    p.exp_string("next: beekeeper serve tester").unwrap();
    p.exp_eof().unwrap();
    let before = std::fs::read_to_string(&cfg).unwrap();
    let written: toml::Value = toml::from_str(&before).unwrap();
    let t = &written["profiles"]["tester"];
    assert_eq!(t["name"].as_str(), Some("Beekeeper Example"));
    assert_eq!(t["region"].as_str(), Some("us-east-1"));
    assert_eq!(t["rate"].as_integer(), Some(500));
    assert_eq!(t["dynamic_throttle"].as_bool(), Some(true));

    // Re-running asks before overwriting; "no" keeps the profile.
    let mut cmd = Command::new(bin());
    cmd.args(["init", "tester"])
        .env("BEEKEEPER_CONFIG", &cfg)
        .env("NO_COLOR", "1");
    let mut p = rexpect::session::spawn_command(cmd, Some(10_000)).unwrap();
    p.exp_string("exists. Overwrite it?").unwrap();
    p.send_line("n").unwrap();
    p.exp_string("cancelled").unwrap();
    p.exp_eof().unwrap();
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), before);
}

/// profiles.example.toml is a valid profiles file that spells out every key.
#[test]
fn the_example_profile_documents_every_key() {
    let example = common::workspace_root().join("profiles.example.toml");
    let out = run(&example, &["config", "black-friday", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut every_key: Vec<_> = shown["settings"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let file: toml::Value = toml::from_str(&std::fs::read_to_string(&example).unwrap()).unwrap();
    // The file's keys are snake_case, the JSON's camelCase.
    let camel = |k: &String| {
        let mut parts = k.split('_');
        let first = parts.next().unwrap_or_default().to_string();
        parts.fold(first, |acc, p| {
            let mut c = p.chars();
            let head = c.next().map(|h| h.to_ascii_uppercase());
            format!(
                "{acc}{}{}",
                head.map(String::from).unwrap_or_default(),
                c.as_str()
            )
        })
    };
    let mut written: Vec<_> = file["profiles"]["black-friday"]
        .as_table()
        .unwrap()
        .keys()
        .map(camel)
        .collect();
    every_key.sort();
    written.sort();
    assert_eq!(written, every_key);
}
