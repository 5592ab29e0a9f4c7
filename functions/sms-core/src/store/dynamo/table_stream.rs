//! The table's stream, as Lambda's DynamoDB event source hands it over (the `Records` of
//! `aws_lambda_events::dynamodb::Event`: `eventID`, `eventName`, and `dynamodb` with
//! `NewImage` and `OldImage` in DynamoDB's JSON), turned into the [`StatusChange`]s of bulk
//! messages and added to the job counters by [`CountStore::apply_counts`]. Function
//! report-counts calls [`apply_stream_event`]; so do the local stack's stream poller (through
//! that function) and the tests that read moto's stream.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::reports::{BATCH_ATTRIBUTE, JOB_ATTRIBUTE};
use crate::{
    domain::{ids::JobId, status::Charge},
    store::{
        BatchRef, CountStore, CountedState, CountsApplied, MessageStatus, StatusChange, StoreError,
        StreamedChange, keys,
    },
};

/// A DynamoDB stream event: what Lambda hands the function.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StreamEvent {
    #[serde(rename = "Records", default)]
    pub records: Vec<StreamRecord>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct StreamRecord {
    #[serde(rename = "eventID", default)]
    pub event_id: String,
    /// `INSERT`, `MODIFY` or `REMOVE`.
    #[serde(rename = "eventName", default)]
    pub event_name: String,
    #[serde(default)]
    pub dynamodb: StreamData,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct StreamData {
    #[serde(rename = "NewImage", default)]
    pub new_image: Option<HashMap<String, Value>>,
    #[serde(rename = "OldImage", default)]
    pub old_image: Option<HashMap<String, Value>>,
    #[serde(rename = "SequenceNumber", default)]
    pub sequence_number: Option<String>,
}

/// What one event did to the counters, for the function's one log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamOutcome {
    pub records: usize,
    pub changes: usize,
    pub applied: CountsApplied,
}

/// A string attribute of an image in DynamoDB's JSON (`{"S": "..."}`).
fn string<'a>(image: &'a HashMap<String, Value>, name: &str) -> Option<&'a str> {
    image.get(name)?.get("S")?.as_str()
}

/// A number attribute of an image (`{"N": "..."}`).
fn number<T: std::str::FromStr>(image: &HashMap<String, Value>, name: &str) -> Option<T> {
    image.get(name)?.get("N")?.as_str()?.parse().ok()
}

/// The counted state of a `STATUS` image; None for another item, or one without a status yet.
fn counted(image: &HashMap<String, Value>) -> Option<CountedState> {
    if string(image, "sk") != Some(keys::MESSAGE_STATUS) {
        return None;
    }
    Some(CountedState {
        status: MessageStatus::parse(string(image, "status")?)?,
        charge: Charge::of(string(image, "amount"), number(image, "units")),
    })
}

/// The bulk batch a `STATUS` image names (single sends name none).
fn batch_of(image: &HashMap<String, Value>) -> Option<BatchRef> {
    Some(BatchRef {
        job_id: JobId::parse(string(image, JOB_ATTRIBUTE)?).ok()?,
        batch: number(image, BATCH_ATTRIBUTE)?,
    })
}

/// The change a record makes to a bulk message's status; None for any other record (other
/// items, removals by TTL, single sends).
pub fn status_change(record: &StreamRecord) -> Option<StatusChange> {
    if !matches!(record.event_name.as_str(), "INSERT" | "MODIFY") {
        return None;
    }
    let new_image = record.dynamodb.new_image.as_ref()?;
    Some(StatusChange {
        batch: batch_of(new_image)?,
        new: counted(new_image)?,
        old: record.dynamodb.old_image.as_ref().and_then(counted),
    })
}

/// Adds the event's status changes to their jobs' counters, each record once however often
/// Lambda hands it over (`CountStore::apply_counts`).
pub async fn apply_stream_event<S: CountStore>(
    store: &S,
    event: &StreamEvent,
    now: DateTime<Utc>,
) -> Result<StreamOutcome, StoreError> {
    let records: Vec<StreamedChange> = event
        .records
        .iter()
        .map(|r| StreamedChange {
            record_id: r.event_id.clone(),
            change: status_change(r),
        })
        .collect();
    let changes = records.iter().filter(|r| r.change.is_some()).count();
    let applied = if changes == 0 {
        CountsApplied::default()
    } else {
        store.apply_counts(&records, now).await?
    };
    Ok(StreamOutcome {
        records: event.records.len(),
        changes,
        applied,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(name: &str, old: Option<Value>, new: Option<Value>) -> StreamRecord {
        serde_json::from_value(json!({
            "eventID": "e1", "eventName": name, "eventSource": "aws:dynamodb",
            "dynamodb": { "OldImage": old, "NewImage": new, "SequenceNumber": "1" }
        }))
        .unwrap()
    }

    fn image(status: &str, amount: Option<&str>) -> Value {
        let mut image = json!({
            "pk": {"S": "MSG#m"}, "sk": {"S": "STATUS"}, "status": {"S": status},
            "job_id": {"S": "9a7d6c1e-0000-4000-8000-000000000001"}, "batch": {"N": "7"},
            "units": {"N": "1"}
        });
        if let Some(a) = amount {
            image["amount"] = json!({"S": a});
        }
        image
    }

    #[test]
    fn a_status_record_becomes_its_change_and_others_nothing() {
        let change = status_change(&record(
            "MODIFY",
            Some(image("sent", None)),
            Some(image("delivered", Some("0.0079"))),
        ))
        .unwrap();
        assert_eq!(change.batch.batch, 7);
        assert_eq!(change.old.unwrap().status, MessageStatus::Sent);
        assert_eq!(
            change.new.charge,
            Charge {
                micros: 7_900,
                units: 1
            }
        );
        // An image without a status (an emulator writes the bare key first) is no state.
        let first = status_change(&record(
            "INSERT",
            Some(json!({"pk": {"S": "MSG#m"}, "sk": {"S": "STATUS"}})),
            Some(image("queued", None)),
        ))
        .unwrap();
        assert_eq!(first.old, None);
        assert!(status_change(&record("REMOVE", Some(image("sent", None)), None)).is_none());
        let mut counter = image("sent", None);
        counter["sk"] = json!({"S": "COUNT#01"});
        assert!(status_change(&record("MODIFY", None, Some(counter))).is_none());
        let mut single = image("sent", None);
        single.as_object_mut().unwrap().remove("job_id");
        assert!(status_change(&record("INSERT", None, Some(single))).is_none());
    }
}
