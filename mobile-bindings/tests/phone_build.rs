//! The phone library's dependency tree, checked as a shipping team would before a release:
//! one TLS stack (rustls with `ring`; no aws-lc, no OpenSSL, no native-tls), one async
//! runtime (tokio, one version). It reads what `cargo tree -p mobile-bindings -e normal`
//! resolves for this workspace's lock file, so a dependency bump or a feature switched on
//! by accident (reqwest's defaults bring aws-lc-rs) fails here instead of in an APK.

use std::collections::BTreeMap;
use std::process::Command;

/// Crates that must never reach the phone build, and why.
const FORBIDDEN: &[(&str, &str)] = &[
    (
        "aws-lc-rs",
        "a second crypto provider (rustls must use ring)",
    ),
    (
        "aws-lc-sys",
        "a second crypto provider (C, cmake, NDK trouble)",
    ),
    ("aws-lc-fips-sys", "a second crypto provider"),
    (
        "openssl",
        "OpenSSL (a system library Android does not ship)",
    ),
    (
        "openssl-sys",
        "OpenSSL (a system library Android does not ship)",
    ),
    ("native-tls", "the platform TLS stack beside rustls"),
    ("hyper-tls", "native-tls through hyper"),
    ("async-std", "a second async runtime"),
    ("smol", "a second async runtime"),
    ("async-executor", "a second async runtime"),
    ("async-global-executor", "a second async runtime"),
    ("glommio", "a second async runtime"),
    ("actix-rt", "a second async runtime"),
];

/// Every crate in the phone library's normal dependency tree, with its versions.
fn phone_tree() -> BTreeMap<String, Vec<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "tree",
            "-p",
            "mobile-bindings",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--locked",
            "--offline",
        ])
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut crates: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let mut words = line.split_whitespace();
        let (Some(name), Some(version)) = (words.next(), words.next()) else {
            continue;
        };
        let versions = crates.entry(name.to_owned()).or_default();
        if !versions.iter().any(|v| v == version) {
            versions.push(version.to_owned());
        }
    }
    crates
}

/// The forbidden crates present in `crates`, each with why it is forbidden.
fn offenders(crates: &BTreeMap<String, Vec<String>>, forbidden: &[(&str, &str)]) -> Vec<String> {
    forbidden
        .iter()
        .filter(|(name, _)| crates.contains_key(*name))
        .map(|(name, why)| format!("{name} {:?}: {why}", crates[*name]))
        .collect()
}

#[test]
fn one_tls_stack_and_one_runtime() {
    let crates = phone_tree();
    assert!(
        crates.contains_key("mobile-bindings") && crates.contains_key("sync-core"),
        "cargo tree did not list the phone library: {crates:?}"
    );
    let found = offenders(&crates, FORBIDDEN);
    assert!(
        found.is_empty(),
        "the phone build pulls in:\n{}",
        found.join("\n")
    );
    assert_eq!(
        crates.get("tokio").map(Vec::len),
        Some(1),
        "exactly one tokio in the phone build: {:?}",
        crates.get("tokio")
    );
    assert!(crates.contains_key("ring"), "rustls' provider is ring");
    assert_eq!(
        crates.get("rustls").map(Vec::len),
        Some(1),
        "one rustls: {:?}",
        crates.get("rustls")
    );
}

/// The check itself must be able to fail: a crate deep in the tree (rustls → rustls-webpki →
/// untrusted) is seen, and put on the forbidden list it is reported. (aws-lc-rs itself is
/// not in Cargo.lock, so switching reqwest's defaults on cannot be tried offline.)
#[test]
fn a_forbidden_crate_deep_in_the_tree_is_reported() {
    let crates = phone_tree();
    for deep in ["untrusted", "rustls-webpki", "automerge"] {
        assert!(crates.contains_key(deep), "{deep} missing from {crates:?}");
    }
    let found = offenders(
        &crates,
        &[("untrusted", "stand-in"), ("no-such-crate", "absent")],
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("untrusted "), "{found:?}");
}
