//! The layering of docs/architecture.md, checked on the sources: the domain knows no AWS, no
//! HTTP and no other layer, and only the HTTP edge knows `lambda_http`.

use std::path::{Path, PathBuf};

fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            out.push((path, text));
        }
    }
    out
}

fn src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn the_domain_depends_on_no_other_layer_and_no_aws_or_http() {
    let forbidden = [
        "aws_",
        "lambda_http",
        "lambda_runtime",
        "reqwest",
        "crate::http",
        "crate::plivo",
        "crate::store",
        "crate::queue",
        "crate::files",
        "crate::secrets",
        "crate::wiring",
    ];
    let files = sources(&src().join("domain"));
    assert!(files.len() >= 4, "the domain modules were not found");
    for (path, text) in files {
        for word in forbidden {
            assert!(
                !text.contains(word),
                "{} uses {word}: the domain must stay free of it",
                path.display()
            );
        }
    }
}

#[test]
fn only_the_http_edge_knows_lambda_http() {
    let edge = src().join("http");
    for (path, text) in sources(&src()) {
        if path.starts_with(&edge) || path.ends_with("telemetry.rs") {
            // telemetry names the crate only to cap its log level.
            continue;
        }
        assert!(
            !text.contains("lambda_http"),
            "{} uses lambda_http outside src/http/",
            path.display()
        );
    }
}

const TEST_ONLY: &str = r#"#[cfg(any(test, feature = "test-util"))]"#;

#[test]
fn the_in_memory_fakes_are_compiled_for_tests_only() {
    let fakes = [
        ("store/mod.rs", "mod memory;"),
        ("store/mod.rs", "pub use memory::MemoryStore;"),
        ("queue/mod.rs", "mod memory;"),
        ("queue/mod.rs", "pub use memory::MemoryQueue;"),
        ("files/mod.rs", "mod memory;"),
        ("files/mod.rs", "pub use memory::MemoryFiles;"),
        ("secrets.rs", "pub struct StaticSecret"),
        ("secrets.rs", "impl SecretSource for StaticSecret"),
    ];
    for (file, item) in fakes {
        let text = std::fs::read_to_string(src().join(file)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let at = lines
            .iter()
            .position(|l| l.trim_start().starts_with(item))
            .unwrap_or_else(|| panic!("{file}: `{item}` not found"));
        assert!(
            at > 0 && lines[at - 1].trim() == TEST_ONLY,
            "{file}: `{item}` must be behind {TEST_ONLY}"
        );
    }
}

#[test]
fn no_lambda_enables_the_fakes_outside_its_tests() {
    let functions = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut checked = 0;
    for entry in std::fs::read_dir(&functions).unwrap() {
        let manifest = entry.unwrap().path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        // Everything before `[dev-dependencies]` is what the Lambda's build sees; a dependency
        // that turns the feature on names it in quotes (sms-core's own `[features]` does not).
        let normal = text.split("[dev-dependencies]").next().unwrap_or_default();
        assert!(
            !normal.contains("\"test-util\""),
            "{}: test-util enabled outside [dev-dependencies]",
            manifest.display()
        );
        checked += 1;
    }
    assert!(checked >= 5, "the function crates were not found");
}
