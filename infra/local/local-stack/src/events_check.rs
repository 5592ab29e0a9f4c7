//! The rules of `make events` that need no stack (the run itself is the `events-check`
//! binary, started by infra/tests/events.sh): the table of expected answers,
//! `events/expected.tsv`; its agreement with the sample files in `events/`; which function a
//! sample belongs to; and the verdict on a function's answer.

use serde_json::Value;

/// The functions the samples are for, by binary name.
pub const FUNCTIONS: [&str; 6] = [
    "send-sms",
    "send-bulk",
    "sender",
    "status-callback",
    "job-files",
    "report-counts",
];

/// Where the table is, as messages name it.
pub const TABLE: &str = "events/expected.tsv";

/// One line of the table: what invoking `function` with `events/<file>` must answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation {
    pub file: String,
    pub function: String,
    /// The HTTP `statusCode` of an API Gateway event, or the number of `batchItemFailures`
    /// of an SQS event.
    pub expected: u64,
}

/// Why the table cannot be used at all.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    #[error("malformed line {line} in {TABLE} (want file, function, expected number): {text}")]
    Malformed { line: usize, text: String },
    #[error("{TABLE} lists {0} twice")]
    Duplicate(String),
}

/// Reads the table: tab-separated `file function expected` lines, in the order the samples
/// must run (later samples use what earlier ones created). Blank lines and lines starting
/// with `#` are comments.
pub fn parse_table(text: &str) -> Result<Vec<Expectation>, TableError> {
    let mut table: Vec<Expectation> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let malformed = || TableError::Malformed {
            line: index + 1,
            text: line.to_owned(),
        };
        // Runs of tabs separate one field from the next, as `read` splits on IFS=$'\t'.
        let fields: Vec<&str> = line.split('\t').filter(|f| !f.is_empty()).collect();
        let [file, function, expected] = fields[..] else {
            return Err(malformed());
        };
        let expected = expected.parse().map_err(|_| malformed())?;
        if table.iter().any(|e| e.file == file) {
            return Err(TableError::Duplicate(file.to_owned()));
        }
        table.push(Expectation {
            file: file.to_owned(),
            function: function.to_owned(),
            expected,
        });
    }
    Ok(table)
}

/// The function a sample file belongs to: the longest of `functions` that, followed by a
/// "-", begins the file's name (`send-sms-post.json` is send-sms's, `sender-batch.json` the
/// sender's).
pub fn function_of<'a>(file: &str, functions: &[&'a str]) -> Option<&'a str> {
    functions
        .iter()
        .copied()
        .filter(|f| {
            file.strip_prefix(f)
                .is_some_and(|rest| rest.starts_with('-'))
        })
        .max_by_key(|f| f.len())
}

/// A disagreement between the table and the sample files.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SampleProblem {
    #[error("there are no events/*.json")]
    NoSamples,
    #[error("{file}: no function's name prefixes it ({})", FUNCTIONS.join(" "))]
    NoFunction { file: String },
    #[error("{file} has no expectation in {TABLE}")]
    NoExpectation { file: String },
    #[error("{file}: {TABLE} says {table}, its name says {named}")]
    WrongFunction {
        file: String,
        table: String,
        named: String,
    },
    #[error("{TABLE} lists {file}, which does not exist")]
    NoSample { file: String },
}

/// Every way the table and the sample files (`events/*.json`, by file name) disagree: the
/// run starts only when there is none.
pub fn check_samples(
    table: &[Expectation],
    samples: &[String],
    functions: &[&str],
) -> Vec<SampleProblem> {
    let mut problems = Vec::new();
    if samples.is_empty() {
        problems.push(SampleProblem::NoSamples);
    }
    for file in samples {
        let file = file.clone();
        let expectation = table.iter().find(|e| e.file == file);
        match (function_of(&file, functions), expectation) {
            (None, _) => problems.push(SampleProblem::NoFunction { file }),
            (Some(_), None) => problems.push(SampleProblem::NoExpectation { file }),
            (Some(named), Some(e)) if e.function != named => {
                problems.push(SampleProblem::WrongFunction {
                    table: e.function.clone(),
                    named: named.to_owned(),
                    file,
                });
            }
            (Some(_), Some(_)) => {}
        }
    }
    for e in table {
        if !samples.contains(&e.file) {
            problems.push(SampleProblem::NoSample {
                file: e.file.clone(),
            });
        }
    }
    problems
}

/// What kind of event a sample is, which decides what its answer is judged by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// API Gateway HTTP API (payload 2.0): judged by the answer's `statusCode`.
    Http,
    /// SQS (`Records[].eventSource` `aws:sqs`): judged by the number of `batchItemFailures`.
    /// The local batch queue must be empty before one runs, so that the stack's poller has
    /// handled what earlier samples enqueued.
    Sqs,
    /// The table's DynamoDB stream (`Records[].eventSource` `aws:dynamodb`): judged by the
    /// number of status changes the function counted (`changes`).
    Stream,
}

impl EventKind {
    pub fn of(event: &Value) -> Self {
        let from = |source: &str| {
            event["Records"]
                .as_array()
                .is_some_and(|records| records.iter().any(|r| r["eventSource"] == source))
        };
        if from("aws:sqs") {
            Self::Sqs
        } else if from("aws:dynamodb") {
            Self::Stream
        } else {
            Self::Http
        }
    }
}

/// The verdict on one answer, worded for the run's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The answer is JSON; `got` is what it holds of the judged field (`None` when it has no
    /// such number).
    Judged {
        field: &'static str,
        got: Option<u64>,
        expected: u64,
    },
    /// The answer is not JSON; the start of it.
    NotJson(String),
}

impl Verdict {
    /// Judges a function's answer (the body its invocation returned) to a sample of `kind`.
    pub fn of(kind: EventKind, expected: u64, answer: &str) -> Self {
        let Ok(answer) = serde_json::from_str::<Value>(answer) else {
            return Self::NotJson(excerpt(answer, 200));
        };
        let (field, got) = match kind {
            EventKind::Http => ("statusCode", answer["statusCode"].as_u64()),
            // Lambda's answer for a batch without failures may leave the list out.
            EventKind::Sqs => (
                "batchItemFailures",
                Some(
                    answer["batchItemFailures"]
                        .as_array()
                        .map_or(0, |f| f.len() as u64),
                ),
            ),
            EventKind::Stream => ("changes", answer["changes"].as_u64()),
        };
        Self::Judged {
            field,
            got,
            expected,
        }
    }

    pub fn passed(&self) -> bool {
        matches!(self, Self::Judged { got, expected, .. } if *got == Some(*expected))
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Judged {
                field,
                got: Some(got),
                expected,
            } => write!(f, "{field} {got} (expected {expected})"),
            Self::Judged {
                field,
                got: None,
                expected,
            } => write!(f, "no {field} (expected {expected})"),
            Self::NotJson(start) => write!(f, "not JSON: {start}"),
        }
    }
}

/// At most the first `chars` characters of `text`, for a message.
pub fn excerpt(text: &str, chars: usize) -> String {
    text.chars().take(chars).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn line(file: &str, function: &str, expected: u64) -> Expectation {
        Expectation {
            file: file.into(),
            function: function.into(),
            expected,
        }
    }

    fn names(files: &[&str]) -> Vec<String> {
        files.iter().map(|f| (*f).to_owned()).collect()
    }

    #[test]
    fn the_table_keeps_its_order_and_skips_comments_and_blank_lines() {
        let text = "# file\tfunction\texpected\n\nsend-sms-post.json\tsend-sms\t202\n  \nsender-batch.json\t\tsender\t1\n";
        assert_eq!(
            parse_table(text),
            Ok(vec![
                line("send-sms-post.json", "send-sms", 202),
                line("sender-batch.json", "sender", 1),
            ])
        );
    }

    #[test]
    fn a_line_without_three_fields_or_a_number_is_malformed() {
        for bad in [
            "send-sms-post.json\tsend-sms",
            "send-sms-post.json\tsend-sms\t202\textra",
            "send-sms-post.json send-sms 202",
            "send-sms-post.json\tsend-sms\taccepted",
        ] {
            let text = format!("# header\n{bad}\n");
            assert_eq!(
                parse_table(&text),
                Err(TableError::Malformed {
                    line: 2,
                    text: bad.to_owned()
                }),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_file_listed_twice_is_refused() {
        let text = "send-sms-post.json\tsend-sms\t202\nsend-sms-post.json\tsend-sms\t400\n";
        assert_eq!(
            parse_table(text),
            Err(TableError::Duplicate("send-sms-post.json".into()))
        );
    }

    #[test]
    fn the_longest_function_name_before_a_dash_owns_the_file() {
        let functions = ["send-sms", "send-sms-batch", "sender"];
        assert_eq!(
            function_of("send-sms-batch-x.json", &functions),
            Some("send-sms-batch")
        );
        assert_eq!(function_of("send-sms-x.json", &functions), Some("send-sms"));
        assert_eq!(function_of("sender-batch.json", &functions), Some("sender"));
        assert_eq!(function_of("send-smsx.json", &functions), None);
        assert_eq!(function_of("send-sms.json", &functions), None);
        assert_eq!(function_of("other-x.json", &functions), None);
    }

    #[test]
    fn matching_table_and_files_have_no_problem() {
        let table = [
            line("send-sms-post.json", "send-sms", 202),
            line("sender-batch.json", "sender", 1),
        ];
        let samples = names(&["sender-batch.json", "send-sms-post.json"]);
        assert_eq!(check_samples(&table, &samples, &FUNCTIONS), vec![]);
    }

    #[test]
    fn a_sample_without_a_line_and_a_line_without_its_sample_are_both_reported() {
        let table = [line("send-sms-gone.json", "send-sms", 202)];
        let samples = names(&["send-sms-new.json"]);
        assert_eq!(
            check_samples(&table, &samples, &FUNCTIONS),
            vec![
                SampleProblem::NoExpectation {
                    file: "send-sms-new.json".into()
                },
                SampleProblem::NoSample {
                    file: "send-sms-gone.json".into()
                },
            ]
        );
    }

    #[test]
    fn a_table_function_other_than_the_name_says_is_reported() {
        let table = [line("send-bulk-post.json", "send-sms", 202)];
        let samples = names(&["send-bulk-post.json"]);
        assert_eq!(
            check_samples(&table, &samples, &FUNCTIONS),
            vec![SampleProblem::WrongFunction {
                file: "send-bulk-post.json".into(),
                table: "send-sms".into(),
                named: "send-bulk".into(),
            }]
        );
    }

    #[test]
    fn a_sample_no_function_names_and_an_empty_directory_are_reported() {
        let table = [line("stray.json", "send-sms", 200)];
        assert_eq!(
            check_samples(&table, &names(&["stray.json"]), &FUNCTIONS),
            vec![SampleProblem::NoFunction {
                file: "stray.json".into()
            }]
        );
        assert_eq!(
            check_samples(&[], &[], &FUNCTIONS),
            vec![SampleProblem::NoSamples]
        );
    }

    #[test]
    fn sqs_events_are_judged_by_batch_item_failures_and_the_rest_by_status_code() {
        let sqs = json!({"Records": [{"eventSource": "aws:sqs", "body": "{}"}]});
        let http = json!({"version": "2.0", "rawPath": "/v1/messages"});
        let other_records = json!({"Records": [{"eventSource": "aws:s3"}]});
        assert_eq!(EventKind::of(&sqs), EventKind::Sqs);
        assert_eq!(EventKind::of(&http), EventKind::Http);
        assert_eq!(EventKind::of(&other_records), EventKind::Http);

        let batch = r#"{"batchItemFailures": [{"itemIdentifier": "sample-malformed"}]}"#;
        assert!(Verdict::of(EventKind::Sqs, 1, batch).passed());
        assert!(!Verdict::of(EventKind::Sqs, 0, batch).passed());
        // An SQS answer's statusCode means nothing, and a missing list is no failure.
        assert!(Verdict::of(EventKind::Sqs, 0, r#"{"statusCode": 500}"#).passed());
        // A list of failures is not a status code.
        assert!(!Verdict::of(EventKind::Http, 1, batch).passed());

        let accepted = r#"{"statusCode": 202, "body": "{}"}"#;
        assert!(Verdict::of(EventKind::Http, 202, accepted).passed());
        let refused = Verdict::of(EventKind::Http, 202, r#"{"statusCode": 400}"#);
        assert!(!refused.passed());
        assert_eq!(refused.to_string(), "statusCode 400 (expected 202)");
    }

    #[test]
    fn an_answer_that_is_not_json_or_has_no_status_fails_and_says_so() {
        let text = Verdict::of(EventKind::Http, 200, "<html>bad gateway</html>");
        assert!(!text.passed());
        assert_eq!(text.to_string(), "not JSON: <html>bad gateway</html>");
        let long = "x".repeat(500);
        assert_eq!(
            Verdict::of(EventKind::Http, 200, &long).to_string(),
            format!("not JSON: {}", "x".repeat(200))
        );
        let none = Verdict::of(EventKind::Http, 200, r#"{"errorType": "Panic"}"#);
        assert!(!none.passed());
        assert_eq!(none.to_string(), "no statusCode (expected 200)");
    }
}
