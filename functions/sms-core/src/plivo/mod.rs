//! Plivo: the Message API client and the webhook signature check (docs/plivo.md).

pub mod callback;
mod client;
mod signature;

pub use client::{
    Accepted, FailureClass, OutboundMessage, PlivoClient, PlivoConfig, PlivoError, SendFailure,
};
pub use signature::{
    CallbackSignatures, MAX_NONCE_LEN, SignatureCheck, SignatureFamily, SignatureV2, SignatureV3,
    SignedRequest, UncheckableSignature, verify_request,
};
