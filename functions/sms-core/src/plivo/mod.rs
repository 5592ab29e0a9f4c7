//! Plivo: the Message API client and the webhook signature check (DESIGN §7).

pub mod callback;
mod client;
mod signature;

pub use client::{
    Accepted, FailureClass, OutboundMessage, PlivoClient, PlivoConfig, PlivoError, SendFailure,
};
pub use signature::{SignatureCheck, SignatureV2, SignatureV3, SignedRequest, verify_request};
