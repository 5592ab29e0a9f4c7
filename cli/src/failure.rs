//! Every way a command can fail, each with its exit status (exit.rs).

use crate::{exit, problem::Problem};

#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Bad arguments or configuration, found before anything was asked of the API.
    #[error("{0}")]
    Usage(String),
    /// A 4xx: the API refused the request. (Boxed: a problem is large beside the others.)
    #[error("the API refused the request: {0}")]
    Refused(Box<Problem>),
    /// A 5xx: the service failed.
    #[error("the service failed: {0}")]
    Service(Box<Problem>),
    /// No answer at all. `url` never carries a query (a presigned link's is a credential).
    #[error("no answer from {url}: {reason}")]
    Network { url: String, reason: String },
    /// An answer that is not what the API documents.
    #[error("unexpected answer: {0}")]
    Unexpected(String),
    /// A local file could not be written.
    #[error("{0}")]
    Local(String),
    /// The message or job ended, badly.
    #[error("{0}")]
    Ended(String),
    /// `--timeout` ran out; what was waited for goes on.
    #[error("{0}")]
    TimedOut(String),
    /// Ctrl-C; what was waited for goes on.
    #[error("{0}")]
    Interrupted(String),
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => exit::USAGE,
            Self::Refused(_) => exit::REFUSED,
            Self::Service(_) | Self::Network { .. } | Self::Unexpected(_) | Self::Local(_) => {
                exit::SERVICE
            }
            Self::Ended(_) => exit::ENDED_BADLY,
            Self::TimedOut(_) => exit::TIMED_OUT,
            Self::Interrupted(_) => exit::INTERRUPTED,
        }
    }

    /// The problem document behind the failure, printed as the command's one JSON document
    /// under `--output json`.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            Self::Refused(p) | Self::Service(p) => Some(p),
            _ => None,
        }
    }
}
