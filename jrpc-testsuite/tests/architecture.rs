//! The layering of ARCHITECTURE.md, checked on the workspace's manifests and sources: the core
//! does no IO, the driver names no runtime, the adapters hold runtime plumbing only, and every
//! case of the integration suite runs on every runtime. Cheap (reads files and `cargo
//! metadata`), so that a change that breaks a layer fails `cargo test`, not a review.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Async runtimes and what brings one in: none of them may reach the core or the driver.
const RUNTIMES: &[&str] = &[
    "tokio",
    "tokio-tungstenite",
    "async-std",
    "async-tungstenite",
    "async-io",
    "async-net",
    "smol",
    "mio",
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_owned()
}

/// `cargo metadata` of the workspace's own packages.
fn packages() -> Vec<Value> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(workspace())
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("metadata is JSON");
    metadata["packages"].as_array().expect("packages").clone()
}

/// The normal (not dev, not build) dependencies of `name`: `(dependency, optional)`.
fn dependencies(packages: &[Value], name: &str) -> Vec<(String, bool)> {
    let package = packages
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("package {name} is in the workspace"));
    package["dependencies"]
        .as_array()
        .expect("dependencies")
        .iter()
        .filter(|d| d["kind"].is_null())
        .map(|d| {
            let name = d["name"].as_str().expect("a name").to_owned();
            (name, d["optional"].as_bool().unwrap_or(false))
        })
        .collect()
}

/// Every `.rs` file under `dir`, except those under a folder named in `skip`.
fn sources(dir: &Path, skip: &[&str]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).expect("a source folder") {
            let path = entry.expect("an entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if path.is_dir() {
                if !skip.contains(&name) {
                    pending.push(path);
                }
            } else if name.ends_with(".rs") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// The lines of code of a file: comments and doc comments left out, and everything from a
/// `#[cfg(test)]` module on (unit tests may use what the code must not).
fn code_lines(path: &Path) -> Vec<(usize, String)> {
    let text = fs::read_to_string(path).expect("a readable source");
    text.lines()
        .enumerate()
        .take_while(|(_, line)| line.trim() != "#[cfg(test)]")
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
        .map(|(n, line)| (n + 1, line.to_owned()))
        .collect()
}

/// Panics listing every code line under `dir` that contains one of `forbidden`.
fn assert_not_used(dir: &Path, skip: &[&str], forbidden: &[&str], why: &str) {
    let mut hits = Vec::new();
    for file in sources(dir, skip) {
        for (n, line) in code_lines(&file) {
            if let Some(word) = forbidden.iter().find(|word| line.contains(*word)) {
                hits.push(format!(
                    "{}:{n}: `{word}` in: {}",
                    file.display(),
                    line.trim()
                ));
            }
        }
    }
    assert!(hits.is_empty(), "{why}:\n{}", hits.join("\n"));
}

/// The core does no IO: its dependencies are data crates only, and its code opens no socket or
/// file, starts no thread or task and reads no clock (time is handed in).
#[test]
fn the_core_does_no_io() {
    let packages = packages();
    // `itoa` writes integers as `str` for the core's writer (serde_json's own choice, already in
    // every build through it): measured, it earned its place (issue 15).
    let allowed = ["itoa", "serde", "serde_json", "slab", "thiserror"];
    for (dependency, _) in dependencies(&packages, "jrpc-proto") {
        assert!(
            allowed.contains(&dependency.as_str()),
            "jrpc-proto depends on {dependency}; the sans-IO core keeps to {allowed:?}"
        );
    }
    assert_not_used(
        &workspace().join("jrpc-proto/src"),
        &[],
        &[
            "std::net",
            "std::fs",
            "std::thread",
            "std::process",
            "std::io::",
            "Instant::now",
            "SystemTime",
            "async fn",
            ".await",
        ],
        "jrpc-proto must do no IO and read no clock",
    );
}

/// The driver is written once over the `Runtime` trait: no runtime among its dependencies or in
/// its code (its doc examples may run on one: they are comments here).
#[test]
fn the_driver_names_no_runtime() {
    let packages = packages();
    for (dependency, _) in dependencies(&packages, "jrpc-driver") {
        assert!(
            !RUNTIMES.contains(&dependency.as_str()),
            "jrpc-driver depends on {dependency}: runtime code belongs in an adapter"
        );
    }
    assert_not_used(
        &workspace().join("jrpc-driver/src"),
        &[],
        &["tokio::", "async_std::", "smol::", "async_io::"],
        "jrpc-driver must not name a runtime",
    );
}

/// The adapters hold runtime plumbing only: besides jrpc-driver they depend on their runtime
/// and its WebSocket crate (anything more is behind a feature), and their library code never
/// touches the protocol (no frame, no endpoint, no JSON): that is written once, below them.
#[test]
fn adapters_hold_runtime_plumbing_only() {
    let packages = packages();
    let adapters = [
        ("jrpc-tokio", ["tokio", "tokio-tungstenite"]),
        ("jrpc-async-std", ["async-std", "async-tungstenite"]),
    ];
    for (adapter, runtime) in adapters {
        for (dependency, optional) in dependencies(&packages, adapter) {
            assert!(
                optional || dependency == "jrpc-driver" || runtime.contains(&dependency.as_str()),
                "{adapter} depends on {dependency} unconditionally; an adapter needs only \
                 jrpc-driver and {runtime:?} (put the rest behind a feature, or in the driver)"
            );
        }
        assert_not_used(
            &workspace().join(adapter).join("src"),
            // The command-line client is a program of its own, not the adapter's library.
            &["bin"],
            &[
                "jrpc_proto",
                "serde_json",
                "Endpoint",
                "handle_frame",
                "poll_transmit",
            ],
            &format!("{adapter} must leave the protocol to jrpc-driver and jrpc-proto"),
        );
    }
}

/// Tests are written once: every case of the suite is listed in `instantiate!`, which each
/// adapter's `tests/suite.rs` expands on its runtime.
#[test]
fn every_suite_case_runs_on_every_runtime() {
    let root = workspace();
    let lib = fs::read_to_string(root.join("jrpc-testsuite/src/lib.rs")).expect("lib.rs");
    let start = lib
        .find("macro_rules! instantiate")
        .expect("the instantiate! macro");
    let listed = &lib[start..];
    let listed = &listed[..listed.find("(@cases $runtime:ty").expect("the case list")];
    let listed: BTreeSet<&str> = listed
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .collect();

    let mut missing = Vec::new();
    // autobahn.rs and flood.rs hold programs for scripts and examples, not cases.
    for file in sources(&root.join("jrpc-testsuite/src"), &[]) {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name == "autobahn.rs" || name == "flood.rs" {
            continue;
        }
        let text = fs::read_to_string(&file).expect("a source");
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("pub async fn ") else {
                continue;
            };
            if !rest.contains("<R: Runtime + Default>()") {
                continue;
            }
            let case = &rest[..rest.find('<').expect("generic")];
            if !listed.contains(case) {
                missing.push(format!("{case} ({})", file.display()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "cases not listed in instantiate!, so run on no runtime: {missing:?}"
    );

    for adapter in ["jrpc-tokio", "jrpc-async-std"] {
        let suite = fs::read_to_string(root.join(adapter).join("tests/suite.rs"))
            .unwrap_or_else(|e| panic!("{adapter}/tests/suite.rs: {e}"));
        assert!(
            suite.contains("jrpc_testsuite::instantiate!("),
            "{adapter}/tests/suite.rs does not run the suite"
        );
    }
}
