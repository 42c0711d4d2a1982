//! The fuzz targets of `fuzz/`, replayed on stable without libFuzzer: each seed of
//! `fuzz/seeds/` and each input that once made a target fail (`fuzz/regressions/<target>/`)
//! goes through the very function the target runs (`tests/fuzz_logic/`).
//!
//! `cargo test -p jrpc-proto --test fuzz_regressions -- --ignored` also replays the corpus a
//! local campaign left in `fuzz/corpus/<target>/`, if any.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fuzz_logic;

use std::path::{Path, PathBuf};

/// What a target runs on one input.
type Target = fn(&[u8]);

const TARGETS: [(&str, Target, &[&str]); 3] = [
    (
        "frame",
        fuzz_logic::frame,
        &["seeds/frames", "regressions/frame"],
    ),
    ("ops", fuzz_logic::ops, &["seeds/ops", "regressions/ops"]),
    (
        "bind",
        fuzz_logic::bind,
        &["seeds/frames", "regressions/bind"],
    ),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files of `dir`, sorted; none if it does not exist.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            // Not README.md, .gitkeep and the like.
            p.is_file() && !name.starts_with('.') && !name.ends_with(".md")
        })
        .collect();
    files.sort();
    files
}

/// Runs `target` on every file of `dirs` (under `fuzz/`); returns how many there were.
fn replay(name: &str, target: Target, dirs: &[&str]) -> usize {
    let mut n = 0;
    for dir in dirs {
        for path in files(&fuzz_dir().join(dir)) {
            let data = std::fs::read(&path).expect("readable");
            // Shown only when the target panics.
            eprintln!("{name}: {}", path.display());
            target(&data);
            n += 1;
        }
    }
    n
}

fn replay_target(name: &str) -> usize {
    let (_, target, dirs) = TARGETS
        .iter()
        .find(|(n, _, _)| *n == name)
        .expect("a target");
    replay(name, *target, dirs)
}

#[test]
fn frame_seeds_and_regressions() {
    let n = replay_target("frame");
    assert!(n >= 20, "only {n} seed frames: is fuzz/seeds/frames there?");
}

#[test]
fn ops_seeds_and_regressions() {
    let n = replay_target("ops");
    assert!(n >= 20, "only {n} seeds: is fuzz/seeds/ops there?");
}

#[test]
fn bind_seeds_and_regressions() {
    assert!(replay_target("bind") > 0);
}

/// A few inputs of every kind, so the targets themselves are exercised even without files.
#[test]
fn targets_run_on_small_inputs() {
    for (_, target, _) in TARGETS {
        for data in [
            &b""[..],
            b"{",
            br#"{"method": "Add", "args": [5, 10], "kwargs": {}, "id": 1}"#,
            br#"{"id": 1, "result": 15, "error": null}"#,
            &[0u8; 64],
            &[0xffu8; 64],
            &(0..=255).collect::<Vec<u8>>(),
        ] {
            target(data);
        }
    }
}

/// The corpus a local campaign left in `fuzz/corpus/<target>/`.
#[test]
#[ignore = "replays the local campaign's corpus, if any: run with --ignored"]
fn campaign_corpus() {
    for (name, target, _) in TARGETS {
        let dir = format!("corpus/{name}");
        let n = replay(name, target, &[&dir]);
        println!("{name}: {n} inputs of fuzz/{dir} replayed");
    }
}

/// Found while writing the `frame` target's oracle for messages serde_json will not decode
/// (a lone surrogate escape, a number out of range): such a message is told apart by its keys,
/// read the way serde reads a struct, so a repeated key (which RFC 8259 allows and which the
/// core takes as "last one wins" in any other message) or an unknown key that is itself
/// undecodable makes it malformed, and a request with an id goes unanswered: its caller waits
/// for its timeout. "With an id the sender wants an answer: the receiver sends exactly one
/// response."
#[test]
fn undecodable_requests_with_odd_keys_are_answered() {
    use jrpc_proto::Endpoint;
    use serde_json::{Value, json};

    for frame in [
        r#"{"method": "a", "method": "b", "args": ["\ud800"], "id": 1}"#,
        r#"{"method": "a", "args": [1e400], "id": 1, "id": 1}"#,
    ] {
        let mut ep = Endpoint::default();
        ep.handle_frame(frame.as_bytes()).expect("under the limit");
        let answer = ep
            .poll_transmit()
            .unwrap_or_else(|| panic!("no answer to {frame}"));
        let answer: Value = serde_json::from_str(&answer).expect("JSON");
        assert_eq!(answer["id"], json!(1), "{frame}");
        assert_eq!(answer["error"], json!("InvalidRequest"), "{frame}");
    }
}
