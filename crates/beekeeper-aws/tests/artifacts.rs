//! The Lambda artifacts as scripts/build-lambdas makes them: one
//! bootstrap.zip per Lambda holding an executable `bootstrap` for x86_64
//! Linux that needs no glibc symbol newer than 2.34 (provided.al2023).

use std::path::Path;
use std::process::Command;

const FUNCTIONS: [&str; 4] = ["producer", "trigger", "consumer", "dynamic-rate-throttle"];

#[test]
fn each_lambda_is_a_bootstrap_zip_for_provided_al2023() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    // scripts/test built them before the run: this finds them built.
    let out = beekeeper_test_support::cargo_tool("bash")
        .arg(root.join("scripts/build-lambdas"))
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = String::from_utf8(out.stdout).unwrap();
    for f in FUNCTIONS {
        let zip = listed
            .lines()
            .find(|l| l.ends_with(&format!("/{f}/bootstrap.zip")))
            .unwrap_or_else(|| panic!("no zip for {f}: {listed}"));
        let dir = tempfile::tempdir().unwrap();
        // The zip holds exactly one entry, `bootstrap`, executable.
        let check = Command::new(beekeeper_test_support::tools_bin().join("python"))
            .args([
                "-c",
                "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\ni = z.infolist()\nassert [x.filename for x in i] == ['bootstrap'], [x.filename for x in i]\nassert (i[0].external_attr >> 16) & 0o111, 'not executable'\nz.extractall(sys.argv[2])\nprint(i[0].file_size, sum(x.compress_size for x in i))",
                zip,
            ])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{f}: {}",
            String::from_utf8_lossy(&check.stderr)
        );
        let bin = dir.path().join("bootstrap");
        let header = std::fs::read(&bin).unwrap();
        assert_eq!(&header[..4], b"\x7fELF", "{f}: not ELF");
        assert_eq!(header[4], 2, "{f}: not 64-bit");
        assert_eq!(
            u16::from_le_bytes([header[18], header[19]]),
            0x3e,
            "{f}: not x86_64"
        );
        let symbols = Command::new("objdump")
            .arg("-T")
            .arg(&bin)
            .output()
            .unwrap();
        assert!(symbols.status.success());
        let newest = String::from_utf8_lossy(&symbols.stdout)
            .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
            .filter_map(|w| w.strip_prefix("GLIBC_"))
            .filter_map(|v| {
                let mut p = v.split('.').map(|n| n.parse::<u32>().ok());
                Some((p.next()??, p.next().flatten().unwrap_or(0)))
            })
            .max()
            .unwrap_or((0, 0));
        println!(
            "{f}: {} (zip {} bytes), newest glibc symbol {}.{}",
            String::from_utf8_lossy(&check.stdout).trim(),
            std::fs::metadata(zip).unwrap().len(),
            newest.0,
            newest.1
        );
        assert!(
            newest <= (2, 34),
            "{f} needs GLIBC_{}.{}",
            newest.0,
            newest.1
        );
    }
}
