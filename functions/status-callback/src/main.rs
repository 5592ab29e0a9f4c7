//! status-callback: Plivo's delivery reports and inbound messages.
//!
//! Delivery tracking arrives with its own issue; until then the routes answer 501 with a
//! problem document, which Plivo treats as a failed callback and retries.

use std::convert::Infallible;

use lambda_http::{Error, Request, service_fn};
use sms_core::{Problem, ProblemKind, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    lambda_http::run(service_fn(|_req: Request| async {
        Ok::<_, Infallible>(
            Problem::new(
                ProblemKind::NotImplemented,
                "delivery tracking is not available in this version",
            )
            .into_response(),
        )
    }))
    .await
}
