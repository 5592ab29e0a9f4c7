//! The API's contract, docs/openapi.yaml, as the drift tests read it: what each operation
//! documents, to compare with what the handlers and [`sms_core::ProblemKind`] really do. A
//! field, route or problem added to one side and not the other fails `make test`.

use std::collections::BTreeSet;

use serde_json::Value;

/// docs/openapi.yaml, with YAML's numeric keys (response codes) as JSON's strings.
pub fn document() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../docs/openapi.yaml");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let yaml: yaml_serde::Value =
        yaml_serde::from_str(&text).unwrap_or_else(|e| panic!("{path} is not YAML: {e}"));
    serde_json::to_value(yaml).unwrap_or_else(|e| panic!("{path} has no JSON form: {e}"))
}

/// The operation with this `operationId`.
pub fn operation<'a>(doc: &'a Value, operation_id: &str) -> &'a Value {
    doc["paths"]
        .as_object()
        .into_iter()
        .flat_map(|paths| paths.values())
        .filter_map(Value::as_object)
        .flat_map(|methods| methods.values())
        .find(|op| op["operationId"] == operation_id)
        .unwrap_or_else(|| panic!("docs/openapi.yaml has no operation {operation_id}"))
}

/// `value`, or what its `$ref` (`#/components/...`) points to.
pub fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("{reference}: only local references are used"));
            resolve(
                doc,
                doc.pointer(pointer)
                    .unwrap_or_else(|| panic!("{reference} names nothing")),
            )
        }
        None => value,
    }
}

/// Every property a schema documents, through `$ref`, `allOf`, `oneOf` and `anyOf`.
pub fn properties(doc: &Value, schema: &Value) -> BTreeSet<String> {
    let schema = resolve(doc, schema);
    let mut names: BTreeSet<String> = schema["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    for combinator in ["allOf", "oneOf", "anyOf"] {
        for part in schema[combinator].as_array().into_iter().flatten() {
            names.extend(properties(doc, part));
        }
    }
    names
}

/// The fields of an operation's JSON request body.
pub fn request_fields(doc: &Value, operation_id: &str) -> BTreeSet<String> {
    let body = resolve(doc, &operation(doc, operation_id)["requestBody"]);
    let schema = &body["content"]["application/json"]["schema"];
    assert!(
        !schema.is_null(),
        "{operation_id} documents no JSON request body"
    );
    properties(doc, schema)
}

/// The fields a handler accepts, read from its answer to a body with an unknown field: serde's
/// "unknown field `x`, expected one of `a`, `b`" (or "expected `a` or `b`").
pub fn accepted_fields(problem: &Value) -> BTreeSet<String> {
    let detail = problem["detail"].as_str().unwrap_or_default();
    let (_, expected) = detail
        .split_once("expected")
        .unwrap_or_else(|| panic!("not serde's unknown-field message: {problem}"));
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// Every `(type, status, title)` the document gives a problem: in the examples of problem
/// documents and in `const`/`enum`-free literal objects alike, wherever they are.
pub fn problem_kinds(doc: &Value) -> BTreeSet<(String, u16, String)> {
    let mut found = BTreeSet::new();
    collect_problems(doc, &mut found);
    found
}

fn collect_problems(value: &Value, found: &mut BTreeSet<(String, u16, String)>) {
    match value {
        Value::Object(map) => {
            if let (Some(Value::String(kind)), Some(status), Some(Value::String(title))) =
                (map.get("type"), map.get("status"), map.get("title"))
                && kind.starts_with("/problems/")
                && let Some(status) = status.as_u64()
            {
                found.insert((kind.clone(), status as u16, title.clone()));
            }
            map.values().for_each(|v| collect_problems(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_problems(v, found)),
        _ => {}
    }
}
