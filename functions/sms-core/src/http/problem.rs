//! RFC 9457 problem details: the one error shape every route answers with.

use lambda_http::{Body, Response, http::StatusCode};
use serde::Serialize;

/// One problem with one field of the request, e.g. `recipients[3]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl ToString) -> Self {
        Self {
            field: field.into(),
            message: message.to_string(),
        }
    }
}

/// An error answer. `kind` picks the status, title and type URI, so one kind of problem
/// always looks the same to clients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Members of this kind of problem beside the standard ones (RFC 9457 §3.2), such as a
    /// refused job's `estimate`.
    /// Boxed: most problems have none, and a `Result<_, Problem>` stays small.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<Box<serde_json::Map<String, serde_json::Value>>>,
}

/// Declares the enum and `ALL` from one list, so no kind can be left out of `ALL`.
macro_rules! problem_kinds {
    ($($(#[$doc:meta])* $kind:ident,)*) => {
        /// The kinds of problem the API reports. Their slugs are stable: clients may branch on
        /// `type`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ProblemKind {
            $($(#[$doc])* $kind,)*
        }

        impl ProblemKind {
            /// Every kind: docs/openapi.yaml documents each, and send-sms's `tests/openapi.rs`
            /// checks that it documents these and no others.
            pub const ALL: &[ProblemKind] = &[$(ProblemKind::$kind,)*];
        }
    };
}

problem_kinds! {
    InvalidRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    IdempotencyConflict,
    /// The resource exists but cannot do this yet (a job still planning has no results).
    NotReady,
    /// The job's state does not allow the change (a cancelled job cannot be resumed).
    JobState,
    Suppressed,
    /// The recipient is a landline and the request asked to skip landlines.
    Landline,
    /// The job cannot hand its last batch to Plivo before its messages expire.
    ValidityTooShort,
    /// The job's estimate is over its `max_cost` or `max_segments`, or cannot be priced.
    OverBudget,
    PlivoRejected,
    PlivoUnavailable,
    /// A part of AWS the request needs did not answer; nothing the caller sent is lost.
    Unavailable,
    OutcomeUnknown,
    Internal,
}

impl ProblemKind {
    /// The `type`, `status` and `title` every problem of this kind carries.
    pub fn identity(self) -> (String, u16, &'static str) {
        let (status, slug, title) = self.parts();
        (format!("{PROBLEM_TYPE_BASE}{slug}"), status.as_u16(), title)
    }

    fn parts(self) -> (StatusCode, &'static str, &'static str) {
        use ProblemKind::*;
        match self {
            InvalidRequest => (
                StatusCode::BAD_REQUEST,
                "invalid-request",
                "Invalid request",
            ),
            PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Request body too large",
            ),
            UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
            ),
            Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Missing or malformed credentials",
            ),
            Forbidden => (StatusCode::FORBIDDEN, "forbidden", "Credentials refused"),
            NotFound => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
            ),
            IdempotencyConflict => (
                StatusCode::CONFLICT,
                "idempotency-conflict",
                "Idempotency key conflict",
            ),
            NotReady => (StatusCode::CONFLICT, "not-ready", "Not ready"),
            JobState => (
                StatusCode::CONFLICT,
                "job-state",
                "Not allowed in the job's state",
            ),
            Suppressed => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "recipient-suppressed",
                "Recipient has opted out",
            ),
            Landline => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "recipient-landline",
                "Recipient is a landline",
            ),
            ValidityTooShort => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validity-too-short",
                "The job cannot be sent before its messages expire",
            ),
            OverBudget => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "over-budget",
                "The job's estimate is over its cap",
            ),
            PlivoRejected => (
                StatusCode::BAD_GATEWAY,
                "plivo-rejected",
                "Plivo refused the message",
            ),
            PlivoUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "plivo-unavailable",
                "Plivo is unavailable",
            ),
            Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Temporarily unavailable",
            ),
            OutcomeUnknown => (
                StatusCode::GATEWAY_TIMEOUT,
                "outcome-unknown",
                "Outcome unknown",
            ),
            Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
            ),
        }
    }
}

/// Problem type URIs are relative references under this path (RFC 9457 §3.1.1 allows them);
/// docs/api.md, "Errors", documents each slug.
pub const PROBLEM_TYPE_BASE: &str = "/problems/";

impl Problem {
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Self {
        let (type_uri, status, title) = kind.identity();
        Self {
            type_uri,
            title: title.to_owned(),
            status,
            detail: detail.into(),
            errors: Vec::new(),
            extensions: None,
        }
    }

    /// Adds the member `name` (one of this kind's, documented beside its slug).
    pub fn with(mut self, name: &str, value: impl Serialize) -> Self {
        if let Ok(value) = serde_json::to_value(value) {
            self.extensions
                .get_or_insert_with(Box::default)
                .insert(name.to_owned(), value);
        }
        self
    }

    /// A 500 for an unexpected failure: logs `cause` at error level with `detail` as the
    /// message, and answers `detail` alone. The cause never reaches the client: it may name a
    /// table, a secret or an AWS account.
    pub fn internal(detail: &str, cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "{detail}");
        Self::new(ProblemKind::Internal, detail)
    }

    pub fn invalid(detail: impl Into<String>, errors: Vec<FieldError>) -> Self {
        Self {
            errors,
            ..Self::new(ProblemKind::InvalidRequest, detail)
        }
    }

    /// A 400 listing every field error, its detail joining them.
    pub fn fields(errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(|e| format!("{} {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        Self::invalid(detail, errors)
    }

    pub fn field(field: impl Into<String>, message: impl ToString) -> Self {
        let e = FieldError::new(field, message);
        Self::invalid(format!("{} {}", e.field, e.message), vec![e])
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub fn into_response(self) -> Response<Body> {
        let body = serde_json::to_string(&self).unwrap_or_else(|_| "{}".into());
        Response::builder()
            .status(self.status())
            .header("content-type", "application/problem+json")
            .body(Body::Text(body))
            .unwrap_or_else(|_| Response::new(Body::Empty))
    }
}

impl From<Problem> for Response<Body> {
    fn from(p: Problem) -> Self {
        p.into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_to_rfc9457_with_field_errors() {
        let p = Problem::field("recipients[3]", "must start with '+'");
        let json: serde_json::Value = serde_json::to_value(&p).unwrap();
        assert_eq!(json["type"], "/problems/invalid-request");
        assert_eq!(json["status"], 400);
        assert_eq!(json["errors"][0]["field"], "recipients[3]");
        let resp = p.into_response();
        assert_eq!(resp.status(), 400);
        assert_eq!(resp.headers()["content-type"], "application/problem+json");
    }

    #[test]
    fn an_internal_problem_answers_the_detail_and_not_the_cause() {
        let cause = "ResourceNotFoundException: table arn:aws:dynamodb:eu-west-1:123456789012";
        let json =
            serde_json::to_value(Problem::internal("the job could not be read", &cause)).unwrap();
        assert_eq!(json["status"], 500);
        assert_eq!(json["type"], "/problems/internal");
        assert_eq!(json["detail"], "the job could not be read");
        assert!(!json.to_string().contains("123456789012"));
    }

    #[test]
    fn omits_errors_when_there_are_none() {
        let json = serde_json::to_value(Problem::new(ProblemKind::NotFound, "x")).unwrap();
        assert!(json.get("errors").is_none());
        assert_eq!(json["status"], 404);
    }
}

#[cfg(test)]
mod every_kind {
    use super::ProblemKind;

    #[test]
    fn each_kind_has_its_own_type() {
        let types: std::collections::BTreeSet<_> =
            ProblemKind::ALL.iter().map(|k| k.identity().0).collect();
        assert_eq!(types.len(), ProblemKind::ALL.len());
    }
}
