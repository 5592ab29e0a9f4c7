//! Domain types, ports and adapters shared by the SMS Lambdas.
//!
//! Every business rule lives here once: number and text parsing, Plivo's wire format and
//! failure classes, the signature check, the secret, the error shape and the stores.

pub mod api;
pub mod auth;
pub mod bulk;
pub mod config;
pub mod fields;
pub mod idempotency;
pub mod metrics;
pub mod phone;
pub mod plivo;
pub mod problem;
pub mod queue;
pub mod retry;
pub mod secrets;
pub mod store;
pub mod telemetry;
pub mod text;
pub mod wiring;

pub use phone::{PhoneNumber, mask_numbers};
pub use problem::{FieldError, Problem, ProblemKind};
pub use text::{Encoding, MessageText};
