//! Domain types, ports and adapters shared by the SMS Lambdas.
//!
//! Every business rule lives here once: number and text parsing, Plivo's wire format and
//! failure classes, the signature check, the secret, the error shape, the stores and the
//! object store.

pub mod config;
pub mod domain;
pub mod fallback;
pub mod fanout;
pub mod files;
pub mod http;
pub mod metrics;
pub mod pace;
pub mod plivo;
pub mod pricing;
pub mod queue;
pub mod retry;
pub mod schedule;
pub mod secrets;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod wiring;

pub use domain::{
    phone::{PhoneNumber, mask_numbers},
    sender::Sender,
    text::{Encoding, MessageText},
};
pub use http::problem::{FieldError, Problem, ProblemKind};
