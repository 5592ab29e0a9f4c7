//! The API's errors, RFC 9457 problem documents (docs/api.md, "Errors"), read and shown as
//! a person reads them: status and title, the detail, then each field that was wrong.

use std::fmt;

use serde_json::Value;

/// One entry of a problem's `errors`: the field that was wrong and what was wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// A refused or failed request, as the API answered it.
#[derive(Debug, Clone)]
pub struct Problem {
    pub status: u16,
    pub kind: Option<String>,
    pub title: Option<String>,
    pub detail: Option<String>,
    pub errors: Vec<FieldError>,
    /// The answer as it came, for `--output json` (a string when it was not JSON).
    pub document: Value,
}

/// How much of an answer that is not a problem document is shown: enough to recognise an
/// HTML error page or a proxy's message, not a whole page.
const SHOWN_TEXT: usize = 300;

impl Problem {
    /// Reads an error answer. Anything that is not a problem document (a proxy's HTML page,
    /// an emulator's own answer) still gives a problem: its status and the start of its text.
    pub fn from_answer(status: u16, body: Value) -> Self {
        let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_owned);
        let errors = body
            .get("errors")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|e| {
                Some(FieldError {
                    field: e.get("field")?.as_str()?.to_owned(),
                    message: e.get("message")?.as_str()?.to_owned(),
                })
            })
            .collect();
        let detail = match &body {
            Value::String(s) if !s.trim().is_empty() => Some(shorten(s.trim())),
            _ => text("detail"),
        };
        Self {
            status,
            kind: text("type"),
            title: text("title"),
            detail,
            errors,
            document: body,
        }
    }
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(SHOWN_TEXT) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.status)?;
        if let Some(title) = &self.title {
            write!(f, " {title}")?;
        }
        if let Some(detail) = &self.detail {
            write!(f, "\n  {detail}")?;
        }
        for e in &self.errors {
            write!(f, "\n  - {}: {}", e.field, e.message)?;
        }
        if let Some(kind) = &self.kind {
            write!(f, "\n  ({kind})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_problem_shows_status_title_detail_and_each_field() {
        let p = Problem::from_answer(
            400,
            json!({"type": "/problems/invalid-request", "title": "Invalid request", "status": 400,
                   "detail": "to must start with '+'",
                   "errors": [{"field": "to", "message": "must start with '+'"},
                              {"field": "text", "message": "is required"}]}),
        );
        assert_eq!(
            p.to_string(),
            "400 Invalid request\n  to must start with '+'\n  - to: must start with '+'\n  - text: is required\n  (/problems/invalid-request)"
        );
    }

    #[test]
    fn an_answer_that_is_no_problem_document_shows_its_status_and_the_start_of_its_text() {
        let p = Problem::from_answer(502, Value::String("<html>".repeat(100)));
        assert!(p.to_string().starts_with("502\n  <html>"));
        assert!(p.to_string().ends_with('…'));
    }
}
