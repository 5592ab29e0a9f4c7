//! The HTTP edge: serving one API Gateway request, authentication, field errors, problem
//! documents and idempotency keys. The only part of the library that knows `lambda_http`.

pub mod api;
pub mod auth;
pub mod fields;
pub mod idempotency;
pub mod problem;
