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
