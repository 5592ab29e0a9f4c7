//! [`ResultsStore`] in DynamoDB: the build item `JOB#<job id>` / `RESULTS`, started, claimed,
//! checkpointed and ended by conditional writes on its state, generation and claim number;
//! reports read from the messages' `STATUS` items with BatchGetItem.

use std::collections::HashSet;

use aws_sdk_dynamodb::{
    operation::update_item::builders::UpdateItemFluentBuilder,
    types::{AttributeValue, ReturnValue},
};
use chrono::{DateTime, Utc};

use super::{
    DynamoStore, backend,
    ext::{expiry, key, millis, n, reported_from_item, results_from_item, s, time},
    held, is_condition_failure,
};
use crate::domain::ids::JobId;
use crate::store::{
    StoreError,
    keys::{self, Retention},
    results::{
        ReportedStatus, ResultsCheckpoint, ResultsClaim, ResultsEnd, ResultsRecord, ResultsRequest,
        ResultsState, ResultsStore,
    },
};

/// Claim `attempt` of generation `generation` still holds a `building` build.
const HELD: &str = "#state = :building AND #generation = :generation AND attempts = :attempt";

/// Placeholders for the build item's attribute names, some of which DynamoDB reserves.
fn names(update: UpdateItemFluentBuilder) -> UpdateItemFluentBuilder {
    [
        ("#state", "state"),
        ("#generation", "generation"),
        ("#next_batch", "next_batch"),
        ("#rows", "rows"),
        ("#parts", "parts"),
        ("#upload", "upload"),
    ]
    .into_iter()
    .fold(update, |update, (placeholder, name)| {
        update.expression_attribute_names(placeholder, name)
    })
}

impl DynamoStore {
    /// An update of the build item that applies only while the claim holds it: it sets the
    /// checkpoint and `updated_at`; the caller adds its own clauses and sends it.
    fn held_results_update(
        &self,
        job_id: &JobId,
        generation: u32,
        attempt: u32,
        checkpoint: &ResultsCheckpoint,
        now: DateTime<Utc>,
    ) -> (UpdateItemFluentBuilder, Vec<String>, Vec<String>) {
        let mut update = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(keys::job(job_id), keys::RESULTS)))
            .condition_expression(HELD)
            .expression_attribute_values(":building", s(ResultsState::Building.as_str()))
            .expression_attribute_values(":generation", n(generation))
            .expression_attribute_values(":attempt", n(attempt))
            .expression_attribute_values(":now", time(now))
            .expression_attribute_values(":next_batch", n(checkpoint.next_batch))
            .expression_attribute_values(":rows", n(checkpoint.rows))
            .expression_attribute_values(":parts", n(checkpoint.parts));
        let mut sets: Vec<String> = [
            "updated_at = :now",
            "#next_batch = :next_batch",
            "#rows = :rows",
            "#parts = :parts",
        ]
        .map(str::to_owned)
        .into();
        update = names(update);
        let mut removes = Vec::new();
        match &checkpoint.upload {
            Some(upload) => {
                sets.push("#upload = :upload".into());
                update = update.expression_attribute_values(":upload", s(upload));
            }
            None => removes.push("#upload".into()),
        }
        (update, sets, removes)
    }
}

fn expression(sets: &[String], removes: &[String]) -> String {
    let mut out = format!("SET {}", sets.join(", "));
    if !removes.is_empty() {
        out.push_str(&format!(" REMOVE {}", removes.join(", ")));
    }
    out
}

impl ResultsStore for DynamoStore {
    async fn request_results(
        &self,
        job_id: &JobId,
        now: DateTime<Utc>,
    ) -> Result<ResultsRequest, StoreError> {
        let started = names(
            self.client()
                .update_item()
                .table_name(self.table())
                .set_key(Some(key(keys::job(job_id), keys::RESULTS))),
        )
        .update_expression(
            "SET job_id = :job, #generation = if_not_exists(#generation, :zero) + :one, \
             #state = :building, attempts = :zero, #next_batch = :zero, #rows = :zero, \
             #parts = :zero, requested_at = :now, updated_at = :now, expires_at = :exp \
             REMOVE lease_until, #upload, #error",
        )
        .condition_expression("attribute_not_exists(pk) OR #state <> :building")
        .expression_attribute_names("#error", "error")
        .expression_attribute_values(":job", s(job_id.as_str()))
        .expression_attribute_values(":zero", n(0))
        .expression_attribute_values(":one", n(1))
        .expression_attribute_values(":building", s(ResultsState::Building.as_str()))
        .expression_attribute_values(":now", time(now))
        .expression_attribute_values(":exp", expiry(Retention::Message, now))
        .return_values(ReturnValue::AllNew)
        .send()
        .await;
        match started {
            Ok(out) => Ok(ResultsRequest::Started(results_from_item(
                &out.attributes.unwrap_or_default(),
            )?)),
            Err(e) if is_condition_failure(&e) => match self.get_results(job_id).await? {
                Some(record) => Ok(ResultsRequest::Building(record)),
                None => Err(StoreError::Backend {
                    operation: "UpdateItem",
                    reason: format!("job {job_id}'s results item vanished while building"),
                }),
            },
            Err(e) => Err(backend("UpdateItem", e)),
        }
    }

    async fn get_results(&self, job_id: &JobId) -> Result<Option<ResultsRecord>, StoreError> {
        self.get(keys::job(job_id), keys::RESULTS)
            .await?
            .map(|item| results_from_item(&item))
            .transpose()
    }

    async fn claim_results(
        &self,
        job_id: &JobId,
        generation: u32,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<ResultsClaim, StoreError> {
        let claimed = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(keys::job(job_id), keys::RESULTS)))
            .update_expression(
                "SET attempts = attempts + :one, lease_until = :until, updated_at = :now",
            )
            .condition_expression(
                "#state = :building AND #generation = :generation \
                 AND (attribute_not_exists(lease_until) OR lease_until < :now_ms)",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#generation", "generation")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":until", millis(lease_until))
            .expression_attribute_values(":now", time(now))
            .expression_attribute_values(":now_ms", millis(now))
            .expression_attribute_values(":generation", n(generation))
            .expression_attribute_values(":building", s(ResultsState::Building.as_str()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match claimed {
            Ok(out) => {
                let record = results_from_item(&out.attributes.unwrap_or_default())?;
                Ok(ResultsClaim::Claimed {
                    attempt: record.attempts,
                    record: Box::new(record),
                })
            }
            Err(e) if is_condition_failure(&e) => Ok(match self.get_results(job_id).await? {
                None => ResultsClaim::Missing,
                Some(r) if r.state != ResultsState::Building || r.generation != generation => {
                    ResultsClaim::Ended
                }
                Some(r) => ResultsClaim::Busy {
                    lease_until: r.lease_until.unwrap_or(now),
                },
            }),
            Err(e) => Err(backend("UpdateItem", e)),
        }
    }

    async fn save_results_checkpoint(
        &self,
        job_id: &JobId,
        generation: u32,
        attempt: u32,
        checkpoint: &ResultsCheckpoint,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let (update, mut sets, removes) =
            self.held_results_update(job_id, generation, attempt, checkpoint, now);
        sets.push("lease_until = :until".into());
        let result = update
            .expression_attribute_values(":until", millis(lease_until))
            .update_expression(expression(&sets, &removes))
            .send()
            .await;
        held(result, "UpdateItem")
    }

    async fn end_results(
        &self,
        job_id: &JobId,
        generation: u32,
        attempt: u32,
        end: &ResultsEnd,
        checkpoint: &ResultsCheckpoint,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let (mut update, mut sets, mut removes) =
            self.held_results_update(job_id, generation, attempt, checkpoint, now);
        let state = match end {
            ResultsEnd::Ready => ResultsState::Ready,
            ResultsEnd::Failed { reason } => {
                sets.push("#error = :error".into());
                update = update
                    .expression_attribute_names("#error", "error")
                    .expression_attribute_values(":error", AttributeValue::S(reason.clone()));
                ResultsState::Failed
            }
        };
        sets.push("#state = :ended".into());
        removes.push("lease_until".into());
        let result = update
            .expression_attribute_values(":ended", s(state.as_str()))
            .update_expression(expression(&sets, &removes))
            .send()
            .await;
        held(result, "UpdateItem")
    }

    async fn reported(&self, message_uuids: &[String]) -> Result<Vec<ReportedStatus>, StoreError> {
        let unique: HashSet<&String> = message_uuids.iter().collect();
        let wanted = unique
            .into_iter()
            .map(|uuid| key(keys::message(uuid), keys::MESSAGE_STATUS))
            .collect();
        // Consistent: a report applied just before the build asked is in the file.
        self.get_items(wanted, true)
            .await?
            .iter()
            .map(reported_from_item)
            .collect()
    }
}
