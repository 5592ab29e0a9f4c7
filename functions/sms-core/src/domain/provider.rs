//! Who handed a message to the network: Plivo, or the fallback provider (Amazon SNS) while
//! Plivo's circuit was open (docs/architecture.md, "The fallback provider").

use serde::Serialize;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    #[default]
    Plivo,
    Sns,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plivo => "plivo",
            Self::Sns => "sns",
        }
    }

    /// A message's status before any report: Plivo's is `queued` until its reports say more;
    /// the fallback provider sends none, so its message is `sent` once it took it.
    pub fn first_status(self) -> crate::domain::status::MessageStatus {
        match self {
            Self::Plivo => crate::domain::status::MessageStatus::Queued,
            Self::Sns => crate::domain::status::MessageStatus::Sent,
        }
    }

    /// As stored; anything else (or nothing, an item from before providers) is Plivo's.
    pub fn parse(raw: Option<&str>) -> Self {
        match raw {
            Some("sns") => Self::Sns,
            _ => Self::Plivo,
        }
    }
}
