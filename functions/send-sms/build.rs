//! The API's contract is written by hand in docs/openapi.yaml, where it is reviewed; send-sms
//! serves it as JSON (`GET /v1/openapi.json`). Converting it here, once, means the function
//! carries the finished text and no YAML parser, and a document that is not valid YAML fails
//! the build rather than a request.

use std::{env, fs, path::PathBuf};

fn main() {
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.yaml");
    println!("cargo:rerun-if-changed={}", source.display());
    let text = fs::read_to_string(&source)
        .unwrap_or_else(|e| panic!("{} could not be read: {e}", source.display()));
    let yaml: yaml_serde::Value = yaml_serde::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", source.display()));
    // serde_json writes YAML's numeric keys (a response's `200:`) as JSON's string keys.
    let json = serde_json::to_string(&yaml)
        .unwrap_or_else(|e| panic!("{} has no JSON form: {e}", source.display()));
    let out =
        PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("openapi.json");
    fs::write(&out, json).unwrap_or_else(|e| panic!("{} could not be written: {e}", out.display()));
}
