//! Passes verified as an origin verifies them: README's Python snippet
//! (PyJWT) and Node snippet (`jose`), from `docs/origin/`, run against a
//! room's published keys.

use std::process::{Command, Output};

use crate::moto::tools_bin;
use crate::served::workspace_root;

/// The text of `docs/origin/{name}`, checked to be in README.md as it is.
pub fn snippet(name: &str) -> String {
    let text = std::fs::read_to_string(workspace_root().join("docs/origin").join(name)).unwrap();
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    assert!(
        readme.contains(text.trim_end()),
        "README.md does not hold docs/origin/{name} as it is"
    );
    text
}

fn verdicts(what: &str, out: &Output) -> Vec<bool> {
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// PyJWT's verdict on each (token, pass) for the room at `room` (its base
/// URL), through `docs/origin/verify.py`.
pub fn pyjwt(room: &str, cases: &[(&str, &str)]) -> Vec<bool> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("verify.py"), snippet("verify.py")).unwrap();
    let out = Command::new(tools_bin().join("python"))
        .current_dir(dir.path())
        .env("BEEKEEPER_ROOM", room)
        .args([
            "-c",
            "import json, sys, verify\nprint(json.dumps([verify.admitted(t, p) for t, p in json.loads(sys.argv[1])]))",
            &serde_json::to_string(cases).unwrap(),
        ])
        .output()
        .unwrap();
    verdicts("PyJWT", &out)
}

/// jose's verdict on each (token, pass), through `docs/origin/verify.mjs`.
pub fn jose(room: &str, cases: &[(&str, &str)]) -> Vec<bool> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("verify.mjs"), snippet("verify.mjs")).unwrap();
    let modules = tools_bin().join("../node/node_modules");
    assert!(
        modules.join("jose").is_dir(),
        "jose is not installed: run scripts/aws-tools"
    );
    std::os::unix::fs::symlink(&modules, dir.path().join("node_modules")).unwrap();
    let main = "import { admitted } from './verify.mjs';\nconst out = [];\nfor (const [t, p] of JSON.parse(process.argv[2])) out.push(await admitted(t, p));\nconsole.log(JSON.stringify(out));\n";
    std::fs::write(dir.path().join("main.mjs"), main).unwrap();
    let out = Command::new("node")
        .current_dir(dir.path())
        .env("BEEKEEPER_ROOM", room)
        .args(["main.mjs", &serde_json::to_string(cases).unwrap()])
        .output()
        .unwrap();
    verdicts("jose", &out)
}

/// PyJWT's verdict on `pass` for `token`, with the keys fetched from
/// `jwks_url` and `issuer` required: for a room whose keys are reached
/// elsewhere than at its issuer (the deployed API behind the test harness).
pub fn pyjwt_at(jwks_url: &str, issuer: &str, token: &str, pass: &str) -> bool {
    let code = "import sys, jwt\nurl, iss, tok, p = sys.argv[1:]\ntry:\n    key = jwt.PyJWKClient(url).get_signing_key_from_jwt(p)\n    c = jwt.decode(p, key, algorithms=['EdDSA'], issuer=iss, options={'require': ['iss', 'sub', 'iat', 'exp']})\n    print('true' if c['sub'] == tok else 'false')\nexcept jwt.PyJWTError as e:\n    print('false')\n";
    let out = Command::new(tools_bin().join("python"))
        .args(["-c", code, jwks_url, issuer, token, pass])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "PyJWT: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout.trim_ascii() == b"true"
}
