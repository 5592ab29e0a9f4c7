//! `Idempotency-Key` handling shared by the send routes (docs/api.md, `POST /v1/messages`):
//! the same key with the same body within 24 h replays the first answer and does nothing
//! else; the same key with another body is a 409.

use chrono::{DateTime, Utc};
use lambda_http::{Body, Response, http::StatusCode};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tracing::{error, info, warn};

use crate::{
    http::api::IdempotencyKey,
    http::problem::{Problem, ProblemKind},
    store::{IdempotencyStore, KeyClaim, StoredResponse},
};

/// Header set on a replayed answer, so clients can tell a replay from a first answer.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// A request still "in progress" after this long has died without recording an outcome.
pub const STALE_AFTER_SECONDS: i64 = 60;

/// SHA-256 (hex) of the canonical JSON of the parsed request: two bodies that differ only in
/// whitespace or key order are the same request.
pub fn fingerprint(request: &impl Serialize) -> String {
    // Serializing a plain struct of strings and numbers cannot fail.
    let canonical = serde_json::to_vec(request).unwrap_or_default();
    Sha256::digest(canonical)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The store's key for `key` in `scope` (a route name, so one key cannot collide across
/// routes).
pub fn record_key(scope: &str, key: &IdempotencyKey) -> String {
    format!("{scope}:{}", key.as_str())
}

/// A claimed key: the request holds it until it calls `finish` or `release` (or `settle`),
/// or until a retry takes a stale claim over (then each of them changes nothing).
///
/// The words are the batch ledger's too (`store::BatchLedger`): a request *claims* a key,
/// a retry may *take over* a stale claim, and the holder either *finishes* it (the answer is
/// stored for replay) or *releases* it (nothing was sent; a retry may try again).
pub struct Claim<'a, S> {
    store: &'a S,
    record_key: String,
    hash: String,
    owner: String,
}

/// What to do with a request after checking its key.
pub enum Check<'a, S> {
    /// Go on; with `Some` the outcome must be recorded on the claim.
    Proceed(Option<Claim<'a, S>>),
    /// Answer with this and do nothing else.
    Respond(Response<Body>),
}

/// What to do when the key's first request died without recording an outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnStale {
    /// Refuse: the first request may have sent something that cannot be safely repeated.
    Refuse,
    /// Carry on where it stopped: the route's own writes are idempotent.
    Resume,
}

/// A request as the idempotency check sees it.
pub struct KeyedRequest<'r, R> {
    /// The route's name, so one key cannot collide across routes.
    pub scope: &'static str,
    /// The client's `Idempotency-Key`; without one, every request proceeds.
    pub key: Option<&'r IdempotencyKey>,
    /// The parsed request, fingerprinted so a key reused for another request is refused.
    pub request: &'r R,
    pub on_stale: OnStale,
}

/// Checks the request's key: proceed (claimed, or unkeyed), or answer at once.
pub async fn check<'a, S: IdempotencyStore, R: Serialize>(
    store: &'a S,
    keyed: KeyedRequest<'_, R>,
    now: DateTime<Utc>,
) -> Result<Check<'a, S>, Problem> {
    let KeyedRequest {
        scope,
        key,
        request,
        on_stale,
    } = keyed;
    let Some(key) = key else {
        return Ok(Check::Proceed(None));
    };
    let record_key = record_key(scope, key);
    let hash = fingerprint(request);
    let owner = uuid::Uuid::new_v4().to_string();
    let found = store
        .claim_key(&record_key, &hash, &owner, now)
        .await
        .map_err(|e| Problem::internal("the idempotency record could not be read; retry", &e))?;
    let still_in_progress = || {
        Check::Respond(
            Problem::new(
                ProblemKind::IdempotencyConflict,
                "a request with this Idempotency-Key is still in progress; retry shortly",
            )
            .into_response(),
        )
    };
    Ok(match found {
        KeyClaim::Claimed => Check::Proceed(Some(Claim {
            store,
            record_key,
            hash,
            owner,
        })),
        KeyClaim::Replay(stored) => {
            info!("replaying the stored answer for a repeated Idempotency-Key");
            Check::Respond(replay(stored))
        }
        KeyClaim::Mismatch => Check::Respond(
            Problem::new(
                ProblemKind::IdempotencyConflict,
                "this Idempotency-Key was used with a different request body",
            )
            .into_response(),
        ),
        KeyClaim::InProgress { started_at }
            if (now - started_at).num_seconds() < STALE_AFTER_SECONDS =>
        {
            still_in_progress()
        }
        KeyClaim::InProgress { started_at } if on_stale == OnStale::Resume => {
            // Several retries may find the same stale claim at once: only the one whose
            // take-over wins carries on, so no two requests ever work on one key together.
            let won = store
                .take_over_key(&record_key, &hash, started_at, &owner, now)
                .await
                .map_err(|e| {
                    Problem::internal("the idempotency record could not be updated; retry", &e)
                })?;
            if won {
                info!("resuming a request whose first attempt ended without an outcome");
                Check::Proceed(Some(Claim {
                    store,
                    record_key,
                    hash,
                    owner,
                }))
            } else {
                info!("another retry took over the stale Idempotency-Key first");
                still_in_progress()
            }
        }
        KeyClaim::InProgress { .. } => Check::Respond(
            Problem::new(
                ProblemKind::IdempotencyConflict,
                "an earlier request with this Idempotency-Key ended without recording its outcome, \
                 so it may have been sent; it is not repeated. Use a new key to send again",
            )
            .into_response(),
        ),
    })
}

fn replay(stored: StoredResponse) -> Response<Body> {
    let content_type = if stored.status >= 400 {
        "application/problem+json"
    } else {
        "application/json"
    };
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK))
        .header("content-type", content_type)
        .header(REPLAYED_HEADER, "true");
    if let Some(location) = stored.location {
        builder = builder.header("location", location);
    }
    builder
        .body(Body::Text(stored.body))
        .unwrap_or_else(|_| Response::new(Body::Empty))
}

impl<S: IdempotencyStore> Claim<'_, S> {
    /// Stores `response` for replay. A failure here is logged, not returned: the work is
    /// done and its answer must still reach the caller.
    pub async fn finish(self, response: &Response<Body>, now: DateTime<Utc>) {
        let body = match response.body() {
            Body::Text(t) => t.clone(),
            Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
            _ => String::new(),
        };
        let stored = StoredResponse {
            status: response.status().as_u16(),
            body,
            location: response
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        };
        match self
            .store
            .finish_key(&self.record_key, &self.hash, &self.owner, &stored, now)
            .await
        {
            Ok(true) => {}
            Ok(false) => warn!("the answer was not stored: a retry took the Idempotency-Key over"),
            Err(e) => error!(error = %e, "the answer could not be stored for idempotent replay"),
        }
    }

    /// Frees the key because nothing was sent, so a retry may try again.
    pub async fn release(self) {
        if let Err(e) = self.store.release_key(&self.record_key, &self.owner).await {
            error!(error = %e, "the idempotency key could not be released");
        }
    }
}

/// What becomes of a request's claimed key once the route has its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFate {
    /// The work is done (or was before): store the answer for replay.
    Finish,
    /// Nothing that cannot be repeated happened: free the key, so a retry tries again.
    Release,
    /// Another request holds the work: leave the claim as it is; once it is stale a retry
    /// takes it over.
    Keep,
}

/// A route's answer and what it means for the request's key.
pub struct Answer {
    pub response: Response<Body>,
    pub key: KeyFate,
}

impl Answer {
    /// Work done: the answer is stored for replay.
    pub fn finished(response: Response<Body>) -> Self {
        Self {
            response,
            key: KeyFate::Finish,
        }
    }

    /// Nothing was done that a retry could repeat: the key is freed.
    pub fn released(problem: Problem) -> Self {
        Self {
            response: problem.into_response(),
            key: KeyFate::Release,
        }
    }

    /// Settles `claim` (if the request had a key) as the answer says, and returns the
    /// response to send.
    pub async fn settle<S: IdempotencyStore>(
        self,
        claim: Option<Claim<'_, S>>,
        now: DateTime<Utc>,
    ) -> Response<Body> {
        match (claim, self.key) {
            (Some(claim), KeyFate::Finish) => claim.finish(&self.response, now).await,
            (Some(claim), KeyFate::Release) => claim.release().await,
            (Some(_), KeyFate::Keep) | (None, _) => {}
        }
        self.response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_depends_on_content_only() {
        #[derive(Serialize)]
        struct R<'a> {
            to: &'a str,
            text: &'a str,
        }
        let a = fingerprint(&R {
            to: "+1",
            text: "hi",
        });
        assert_eq!(
            a,
            fingerprint(&R {
                to: "+1",
                text: "hi"
            })
        );
        assert_ne!(
            a,
            fingerprint(&R {
                to: "+1",
                text: "hi!"
            })
        );
        assert_eq!(a.len(), 64);
    }
}
