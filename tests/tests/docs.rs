//! The theory travels with the code: every `§N` / `§N.k` citation in the
//! sources and docs resolves to a section (or a numbered item of a section)
//! of `docs/THEORY.md`, and the repository's copy stays word for word in step
//! with the design's `../shared/THEORY.md` where that file exists.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Section and item labels present in THEORY.md: "8", "8.1" (a `###`
/// heading), and "9.1" (item 1 of a numbered list inside `## 9.`).
fn theory_labels(text: &str) -> BTreeSet<String> {
    let mut labels = BTreeSet::new();
    let mut section: Option<String> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("## ") {
            let num = rest.split('.').next().unwrap_or("").trim().to_string();
            if num.chars().all(|c| c.is_ascii_digit()) && !num.is_empty() {
                labels.insert(num.clone());
                section = Some(num);
            } else {
                section = None;
            }
        } else if let Some(rest) = line.strip_prefix("### ") {
            let num = rest.split(' ').next().unwrap_or("").to_string();
            labels.insert(num);
        } else if let Some(sec) = &section {
            let t = line.trim_start();
            if let Some((k, _)) = t.split_once(". ") {
                if !k.is_empty()
                    && k.chars().all(|c| c.is_ascii_digit())
                    && line.len() - t.len() <= 3
                {
                    labels.insert(format!("{sec}.{k}"));
                }
            }
        }
    }
    labels
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name();
        let name = name.to_string_lossy();
        if p.is_dir() {
            if name != "target" && !name.starts_with('.') {
                sources(&p, out);
            }
        } else if name.ends_with(".rs") || name.ends_with(".md") || name.ends_with(".py") {
            out.push(p);
        }
    }
}

/// Every `§` followed by digits (and an optional `.digits`) in `text`.
fn citations(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (i, _) in text.match_indices('§') {
        let rest = text[i + '§'.len_utf8()..].trim_start_matches(' ');
        let mut label = String::new();
        let mut dot = false;
        for c in rest.chars() {
            if c.is_ascii_digit() {
                label.push(c);
            } else if c == '.' && !dot && !label.is_empty() {
                dot = true;
                label.push(c);
            } else {
                break;
            }
        }
        let label = label.trim_end_matches('.').to_string();
        if !label.is_empty() {
            found.push(label);
        }
    }
    found
}

#[test]
fn every_theory_citation_resolves_inside_the_repository() {
    let root = repo();
    let theory = fs::read_to_string(root.join("docs/THEORY.md")).expect("docs/THEORY.md exists");
    let labels = theory_labels(&theory);
    assert!(labels.contains("8.1") && labels.contains("13") && labels.contains("9.4"));
    let mut files = Vec::new();
    for d in [
        "core", "host", "firmware", "tests", "bench", "python", "docs", "scripts",
    ] {
        sources(&root.join(d), &mut files);
    }
    for f in [
        "README.md",
        "ARCHITECTURE.md",
        "BENCHMARKS.md",
        "RELIABILITY.md",
    ] {
        files.push(root.join(f));
    }
    let mut unresolved = Vec::new();
    let mut count = 0usize;
    for f in &files {
        let Ok(text) = fs::read_to_string(f) else {
            continue;
        };
        for c in citations(&text) {
            count += 1;
            if !labels.contains(&c) {
                unresolved.push(format!("{}: §{c}", f.display()));
            }
        }
    }
    assert!(
        count > 100,
        "found only {count} citations: the scan is broken"
    );
    assert!(
        unresolved.is_empty(),
        "citations with no section in docs/THEORY.md:\n{}",
        unresolved.join("\n")
    );
}

#[test]
fn theory_copy_is_in_step_with_the_design() {
    let root = repo();
    let ours = fs::read_to_string(root.join("docs/THEORY.md")).expect("docs/THEORY.md exists");
    let body = |t: &str| t.find("\n## 1. Problem").map(|i| t[i..].to_string());
    let ours = body(&ours).expect("docs/THEORY.md has a '## 1. Problem' section");
    // The design's copy sits beside a checkout in the project's work tree;
    // a clone elsewhere has only the repository's copy, which is then the
    // reference.
    let shared = root.join("../../shared/THEORY.md");
    let shared = if shared.exists() {
        shared
    } else {
        root.join("../shared/THEORY.md")
    };
    if let Ok(theirs) = fs::read_to_string(&shared) {
        let theirs = body(&theirs).expect("shared THEORY.md has a '## 1. Problem' section");
        assert!(
            ours == theirs,
            "docs/THEORY.md differs from {} from '## 1. Problem' on: bring them in step",
            shared.display()
        );
    }
}
