//! Plivo: the Message API client (sends, and the records of what was sent) and the webhook
//! signature check (docs/plivo.md).

pub mod callback;
mod client;
pub mod records;
mod signature;

pub use client::{
    Accepted, FailureClass, OutboundMessage, PlivoClient, PlivoConfig, PlivoError, SendFailure,
};
pub use signature::{
    CallbackSignatures, MAX_NONCE_LEN, SignatureCheck, SignatureFamily, SignatureV2, SignatureV3,
    SignedRequest, UncheckableSignature, verify_request,
};
