//! The README's quotes are the project's code, not copies of it: a fenced block whose info
//! string names a file after its language (```` ```html examples/math/index.html ````) must
//! appear in that file, line for line (indentation aside). HTML and JavaScript blocks must name
//! one. (Its Rust blocks are doctests of this crate: src/lib.rs.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

/// A fenced block: its language, the file it names (if any), its lines, its line in the README.
struct Block {
    lang: String,
    file: Option<String>,
    lines: Vec<String>,
    at: usize,
}

fn blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    for (n, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        match open.take() {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    let mut words = info.split_whitespace();
                    open = Some(Block {
                        lang: words.next().unwrap_or("").to_owned(),
                        file: words.next().map(str::to_owned),
                        lines: Vec::new(),
                        at: n + 1,
                    });
                }
            }
            Some(mut block) => {
                if trimmed.starts_with("```") {
                    blocks.push(block);
                } else {
                    block.lines.push(line.to_owned());
                    open = Some(block);
                }
            }
        }
    }
    assert!(open.is_none(), "the README ends inside a code block");
    blocks
}

/// Whether `needle`'s lines are a run of `haystack`'s, each compared without its indentation.
fn quoted(needle: &[String], haystack: &str) -> bool {
    let hay: Vec<&str> = haystack.lines().map(str::trim).collect();
    let needle: Vec<&str> = needle.iter().map(|l| l.trim()).collect();
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle.as_slice())
}

#[test]
fn readme_quotes_are_in_the_files_they_name() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let mut checked = 0;
    for block in blocks(&readme) {
        let must_name = matches!(block.lang.as_str(), "html" | "js" | "javascript");
        let Some(file) = &block.file else {
            assert!(
                !must_name,
                "README.md line {}: a {} block must name the file it quotes",
                block.at, block.lang
            );
            continue;
        };
        let text = std::fs::read_to_string(root.join(file))
            .unwrap_or_else(|e| panic!("README.md line {}: {file}: {e}", block.at));
        assert!(
            quoted(&block.lines, &text),
            "README.md line {}: this block is not in {file}:\n{}",
            block.at,
            block.lines.join("\n")
        );
        checked += 1;
    }
    assert!(
        checked > 0,
        "the README quotes no file: is this test still needed?"
    );
}

#[test]
fn quotes_are_found_line_for_line() {
    let file = "a\n  b\n  c\nd\n";
    let lines = |s: &[&str]| s.iter().map(|l| l.to_string()).collect::<Vec<_>>();
    assert!(quoted(&lines(&["b", "c"]), file));
    assert!(quoted(&lines(&["    b", "    c"]), file));
    assert!(!quoted(&lines(&["b", "d"]), file));
    assert!(!quoted(&lines(&[]), file));
    let md = "x\n```html a/b.html\n<p>\n```\n```sh\nls\n```\n";
    let found = blocks(md);
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].file.as_deref(), Some("a/b.html"));
    assert_eq!(found[0].lines, ["<p>"]);
    assert_eq!(found[1].lang, "sh");
}
