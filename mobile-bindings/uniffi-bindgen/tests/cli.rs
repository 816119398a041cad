//! The generator starts and knows its `generate` command. (Also makes `cargo test` build
//! the binary, which `tests/suites/bindings.sh` then reuses instead of building again.)

use std::process::Command;

#[test]
fn generate_help_runs() {
    let out = Command::new(env!("CARGO_BIN_EXE_uniffi-bindgen"))
        .args(["generate", "--help"])
        .output()
        .expect("the uniffi-bindgen binary runs");
    assert!(out.status.success(), "exit {:?}", out.status);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("--library"), "unexpected help: {text}");
}
