//! Attribute conversions: reading an item ([`ItemExt`]), spelling attribute values, and each
//! record's item in both directions, side by side so that what is written and what is read
//! back are checked against each other in one place (the tests at the end).

use std::{collections::HashMap, str::FromStr};

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, TimeZone, Utc};

use crate::{
    domain::{
        estimate::{Budget, BudgetLeft, Rate, RateSource, Reservation, Tally},
        ids::JobId,
        money::Money,
        phone::PhoneNumber,
        plan::{FileLayout, PlanCounts},
        provider::Provider,
        quiet_hours::QuietHours,
        rows::FileFormat,
        sender::Sender,
        text::MessageText,
    },
    store::{
        AcceptedMessage, BatchState, FallbackSends, IntakeCounts, JobControl, JobRecord, KeyClaim,
        LedgerEntry, MessageRecord, MessageStatus, Sighting, StoreError, StoredResponse,
        SuppressionChange,
        keys::{self, Retention, TTL_ATTRIBUTE},
        plans::{PlanCheckpoint, PlanRecord, PlanState, PlanTallies},
        results::{ReportedStatus, ResultsCheckpoint, ResultsRecord, ResultsState},
    },
};

pub(crate) type Item = HashMap<String, AttributeValue>;

/// Typed reads of an item's attributes. A missing attribute, or one of another type, reads
/// as `None` (or empty): what is required is decided by each record's conversion.
pub(crate) trait ItemExt {
    fn string(&self, name: &str) -> Option<String>;
    fn number<T: FromStr>(&self, name: &str) -> Option<T>;
    fn flag(&self, name: &str) -> Option<bool>;
    /// An RFC 3339 string.
    fn time(&self, name: &str) -> Option<DateTime<Utc>>;
    /// Epoch milliseconds, a number (so a condition can compare it).
    fn millis(&self, name: &str) -> Option<DateTime<Utc>>;
    /// A list of strings.
    fn strings(&self, name: &str) -> Vec<String>;
    /// A number set.
    fn numbers<T: FromStr>(&self, name: &str) -> Vec<T>;
}

impl ItemExt for Item {
    fn string(&self, name: &str) -> Option<String> {
        self.get(name).and_then(|v| v.as_s().ok()).cloned()
    }

    fn number<T: FromStr>(&self, name: &str) -> Option<T> {
        self.get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
    }

    fn flag(&self, name: &str) -> Option<bool> {
        self.get(name).and_then(|v| v.as_bool().ok()).copied()
    }

    fn time(&self, name: &str) -> Option<DateTime<Utc>> {
        self.string(name)
            .and_then(|v| DateTime::parse_from_rfc3339(&v).ok())
            .map(|t| t.with_timezone(&Utc))
    }

    fn millis(&self, name: &str) -> Option<DateTime<Utc>> {
        self.number::<i64>(name)
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
    }

    fn strings(&self, name: &str) -> Vec<String> {
        self.get(name)
            .and_then(|v| v.as_l().ok())
            .map(|l| l.iter().filter_map(|v| v.as_s().ok().cloned()).collect())
            .unwrap_or_default()
    }

    fn numbers<T: FromStr>(&self, name: &str) -> Vec<T> {
        self.get(name)
            .and_then(|v| v.as_ns().ok())
            .map(|ns| ns.iter().filter_map(|v| v.parse().ok()).collect())
            .unwrap_or_default()
    }
}

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(crate) fn time(t: DateTime<Utc>) -> AttributeValue {
    s(t.to_rfc3339())
}

pub(crate) fn millis(t: DateTime<Utc>) -> AttributeValue {
    n(t.timestamp_millis())
}

pub(crate) fn list(values: impl IntoIterator<Item = String>) -> AttributeValue {
    AttributeValue::L(values.into_iter().map(AttributeValue::S).collect())
}

/// The TTL attribute's value for a record of `retention` written at `now`.
pub(crate) fn expiry(retention: Retention, now: DateTime<Utc>) -> AttributeValue {
    n(retention.expires(now).timestamp())
}

/// An item holding only its key.
pub(crate) fn key(pk: String, sk: &str) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

pub(crate) fn corrupt(key: &str, reason: &str) -> StoreError {
    StoreError::Corrupt {
        key: key.to_owned(),
        reason: reason.to_owned(),
    }
}

// Messages: `MSG` holds the facts written when Plivo accepted the message, `STATUS` what
// delivery reports have said since (written in `dynamo::reports`).

pub(crate) fn message_facts_item(m: &AcceptedMessage, now: DateTime<Utc>) -> Item {
    let mut item = key(keys::message(&m.message_uuid), keys::MESSAGE_FACTS);
    item.insert("message_uuid".into(), s(&m.message_uuid));
    item.insert("from".into(), s(m.from.as_str()));
    item.insert("encoding".into(), s(m.encoding.as_str()));
    item.insert("segments".into(), n(m.segments));
    item.insert("created_at".into(), time(now));
    item.insert(TTL_ATTRIBUTE.into(), expiry(Retention::Message, now));
    if let Some(to) = &m.to {
        item.insert("to".into(), s(to.as_str()));
    }
    if let Some(job) = &m.job_id {
        item.insert("job_id".into(), s(job.as_str()));
    }
    if let Some(r) = &m.reference {
        item.insert("reference".into(), s(r));
    }
    // Plivo's messages, nearly all of them, carry no provider: the item stays small.
    if m.provider != Provider::Plivo {
        item.insert("provider".into(), s(m.provider.as_str()));
    }
    item
}

/// The merged view of a message from its two items. Either may be missing: a report can
/// arrive before the sender has written `MSG`.
pub(crate) fn message_from_items(
    uuid: &str,
    facts: Option<&Item>,
    status: Option<&Item>,
) -> Result<Option<MessageRecord>, StoreError> {
    if facts.is_none() && status.is_none() {
        return Ok(None);
    }
    let pick = |name: &str| {
        facts
            .and_then(|i| i.string(name))
            .or_else(|| status.and_then(|i| i.string(name)))
    };
    let provider = Provider::parse(facts.and_then(|i| i.string("provider")).as_deref());
    let status_value = match status.and_then(|i| i.string("status")) {
        Some(v) => MessageStatus::parse(&v).ok_or_else(|| corrupt(uuid, "invalid status"))?,
        None => provider.first_status(),
    };
    let created_at = facts
        .and_then(|i| i.time("created_at"))
        .or_else(|| status.and_then(|i| i.time("updated_at")))
        .ok_or_else(|| corrupt(uuid, "no created_at"))?;
    Ok(Some(MessageRecord {
        message_uuid: uuid.to_owned(),
        to: pick("to").and_then(|v| PhoneNumber::parse(&v).ok()),
        // The sender asked for; a Powerpack's message, the number its report named.
        from: Sender::shown(
            facts
                .and_then(|i| i.string("from"))
                .and_then(|v| Sender::parse(&v).ok()),
            status
                .and_then(|i| i.string("from"))
                .and_then(|v| PhoneNumber::parse(&v).ok())
                .as_ref(),
        ),
        job_id: pick("job_id").and_then(|v| JobId::parse(&v).ok()),
        reference: facts.and_then(|i| i.string("reference")),
        status: status_value,
        sequence: status.and_then(|i| i.number("sequence")),
        error_code: status.and_then(|i| i.string("error_code")),
        encoding: facts.and_then(|i| i.string("encoding")),
        segments: facts.and_then(|i| i.number("segments")),
        units: status.and_then(|i| i.number("units")),
        amount: status.and_then(|i| i.string("amount")),
        provider,
        updated_at: status
            .and_then(|i| i.time("updated_at"))
            .unwrap_or(created_at),
        created_at,
    }))
}

// Idempotency records: in progress (held by an owner) or finished (with the answer).

pub(crate) fn key_in_progress_item(
    record_key: &str,
    request_hash: &str,
    owner: &str,
    now: DateTime<Utc>,
) -> Item {
    let mut item = key(keys::idempotency(record_key), keys::IDEMPOTENCY);
    item.insert("request_hash".into(), s(request_hash));
    item.insert("state".into(), s("in_progress"));
    item.insert("owner".into(), s(owner));
    item.insert("started_at".into(), time(now));
    item.insert(TTL_ATTRIBUTE.into(), expiry(Retention::Idempotency, now));
    item
}

pub(crate) fn key_finished_item(
    record_key: &str,
    request_hash: &str,
    owner: &str,
    response: &StoredResponse,
    now: DateTime<Utc>,
) -> Item {
    let mut item = key(keys::idempotency(record_key), keys::IDEMPOTENCY);
    item.insert("request_hash".into(), s(request_hash));
    item.insert("state".into(), s("finished"));
    item.insert("owner".into(), s(owner));
    item.insert("finished_at".into(), time(now));
    item.insert("response_status".into(), n(response.status));
    item.insert("response_body".into(), s(&response.body));
    if let Some(location) = &response.location {
        item.insert("response_location".into(), s(location));
    }
    item.insert(TTL_ATTRIBUTE.into(), expiry(Retention::Idempotency, now));
    item
}

/// What a claim that found `existing` under the key reports to a request with
/// `request_hash`.
pub(crate) fn key_claim_from_item(
    existing: &Item,
    request_hash: &str,
    now: DateTime<Utc>,
) -> KeyClaim {
    if existing.string("request_hash").as_deref() != Some(request_hash) {
        return KeyClaim::Mismatch;
    }
    match (
        existing.number::<u16>("response_status"),
        existing.string("response_body"),
    ) {
        (Some(status), Some(body)) => KeyClaim::Replay(StoredResponse {
            status,
            body,
            location: existing.string("response_location"),
        }),
        _ => KeyClaim::InProgress {
            started_at: existing.time("started_at").unwrap_or(now),
        },
    }
}

// The suppression list and once-records.

/// A number's state after `change`. `changed_at` (microseconds) orders the changes.
pub(crate) fn optout_item(change: &SuppressionChange<'_>) -> Item {
    let mut item = key(keys::optout(change.number), keys::OPTOUT);
    item.insert("number".into(), s(change.number.as_str()));
    item.insert("suppressed".into(), AttributeValue::Bool(change.suppressed));
    item.insert("source".into(), s(change.source.as_str()));
    item.insert("changed_at".into(), n(change.at.timestamp_micros()));
    item.insert("changed_time".into(), time(change.at));
    if let Some(uuid) = change.message_uuid {
        item.insert("changed_by".into(), s(uuid));
    }
    item
}

/// Whether an `OPTOUT` item suppresses its number. Items written before opt-ins became
/// records (no `suppressed` attribute) were all suppressions.
pub(crate) fn suppressed_flag(item: &Item) -> bool {
    item.flag("suppressed").unwrap_or(true)
}

pub(crate) fn seen_item(sighting: Sighting<'_>, now: DateTime<Utc>) -> Item {
    let mut item = key(sighting.key(), keys::SEEN);
    item.insert("seen_at".into(), time(now));
    item.insert(TTL_ATTRIBUTE.into(), expiry(sighting.retention(), now));
    item
}

// Jobs and their ledger.

pub(crate) fn ledger_item(job_id: &JobId, entry: &LedgerEntry, now: DateTime<Utc>) -> Item {
    let mut item = key(keys::job(job_id), &keys::batch(entry.batch));
    item.insert("batch".into(), n(entry.batch));
    item.insert("state".into(), s(entry.state.as_str()));
    item.insert("enqueued".into(), AttributeValue::Bool(entry.enqueued));
    item.insert("attempts".into(), n(entry.attempts));
    item.insert(
        "recipients".into(),
        list(entry.recipients.iter().map(|r| r.to_string())),
    );
    if let Some(text) = &entry.text {
        item.insert("text".into(), s(text.as_str()));
    }
    if !entry.message_uuids.is_empty() {
        item.insert("message_uuids".into(), list(entry.message_uuids.clone()));
    }
    if !entry.opted_out.is_empty() {
        item.insert(
            "opted_out".into(),
            list(entry.opted_out.iter().map(|r| r.to_string())),
        );
    }
    if let Some(until) = entry.lease_until {
        item.insert("lease_until".into(), millis(until));
    }
    if let Some(at) = entry.claimed_at {
        item.insert("claimed_at".into(), time(at));
    }
    if let Some(at) = entry.ended_at {
        item.insert("ended_at".into(), time(at));
    }
    if entry.resent {
        item.insert("resent".into(), AttributeValue::Bool(true));
    }
    if entry.reconciled {
        item.insert("reconciled_at".into(), time(now));
    }
    if let Some(error) = &entry.error {
        item.insert("error".into(), s(error));
    }
    if let Some(r) = &entry.reservation {
        if let Some(cost) = r.cost {
            item.insert("reserve_micros".into(), n(cost.micros()));
        }
        if let Some(segments) = r.segments {
            item.insert("reserve_segments".into(), n(segments));
        }
    }
    item.insert(TTL_ATTRIBUTE.into(), expiry(Retention::Message, now));
    item
}

/// A ledger item's reservation (`reserve_micros`, `reserve_segments`): None when it has
/// neither (the job has no cap).
fn reservation(item: &Item) -> Option<Reservation> {
    let cost = item.number("reserve_micros").map(Money::from_micros);
    let segments = item.number("reserve_segments");
    (cost.is_some() || segments.is_some()).then_some(Reservation { cost, segments })
}

/// The job item's caps (`max_cost_micros`, `max_segments`) and what is left of them
/// (`budget_left_micros`, `budget_left_segments`: what a claim's condition compares, as
/// DynamoDB conditions cannot add).
const BUDGET_ATTRIBUTES: [&str; 4] = [
    "max_cost_micros",
    "max_segments",
    "budget_left_micros",
    "budget_left_segments",
];

fn budget_values(b: &BudgetLeft) -> [Option<u64>; 4] {
    [
        b.caps.max_cost.map(Money::micros),
        b.caps.max_segments,
        b.cost.map(Money::micros),
        b.segments,
    ]
}

/// The job item's attributes of `budget`, for a `SET` or a whole item.
pub(crate) fn budget_attributes(b: &BudgetLeft) -> Vec<(&'static str, AttributeValue)> {
    BUDGET_ATTRIBUTES
        .into_iter()
        .zip(budget_values(b))
        .filter_map(|(name, value)| value.map(|v| (name, n(v))))
        .collect()
}

fn budget(item: &Item) -> Option<BudgetLeft> {
    let [max_cost, max_segments, cost, segments] =
        BUDGET_ATTRIBUTES.map(|name| item.number::<u64>(name));
    let caps = Budget {
        max_cost: max_cost.map(Money::from_micros),
        max_segments,
    };
    caps.is_set().then_some(BudgetLeft {
        caps,
        cost: cost.map(Money::from_micros),
        segments,
    })
}

pub(crate) fn ledger_from_item(item: &Item) -> Result<LedgerEntry, StoreError> {
    let key = item.string("sk").unwrap_or_default();
    let state = item
        .string("state")
        .and_then(|v| BatchState::parse(&v))
        .ok_or_else(|| corrupt(&key, "no valid state"))?;
    let recipients = item
        .strings("recipients")
        .iter()
        .map(|r| PhoneNumber::parse(r))
        .collect::<Result<_, _>>()
        .map_err(|e| corrupt(&key, &format!("recipient {e}")))?;
    Ok(LedgerEntry {
        batch: item
            .number("batch")
            .ok_or_else(|| corrupt(&key, "no batch"))?,
        state,
        enqueued: item.flag("enqueued").unwrap_or(false),
        attempts: item.number("attempts").unwrap_or(0),
        lease_until: item.millis("lease_until"),
        recipients,
        text: item
            .string("text")
            .map(|t| MessageText::parse(t).map_err(|e| corrupt(&key, &format!("text {e}"))))
            .transpose()?,
        message_uuids: item.strings("message_uuids"),
        error: item.string("error"),
        deferred: item.contains_key("deferred_until"),
        reservation: reservation(item),
        opted_out: item
            .strings("opted_out")
            .iter()
            .map(|r| PhoneNumber::parse(r))
            .collect::<Result<_, _>>()
            .map_err(|e| corrupt(&key, &format!("opted-out recipient {e}")))?,
        fallback: (item.string("provider").as_deref() == Some(Provider::Sns.as_str())).then(|| {
            let numbers = |name: &str| {
                item.strings(name)
                    .iter()
                    .filter_map(|r| PhoneNumber::parse(r).ok())
                    .collect()
            };
            FallbackSends {
                to: numbers("fallback_to"),
                unknown: numbers("fallback_unknown"),
            }
        }),
        claimed_at: item.time("claimed_at"),
        ended_at: item.time("ended_at"),
        resent: item.flag("resent").unwrap_or(false),
        reconciled: item.contains_key("reconciled_at"),
    })
}

pub(crate) fn job_item(job: &JobRecord) -> Item {
    let mut item = key(keys::job(&job.job_id), keys::JOB);
    let c = job.counts;
    for (name, value) in [
        ("job_id", s(job.job_id.as_str())),
        ("text", s(job.text.as_str())),
        ("from", s(job.from.as_str())),
        ("encoding", s(job.text.encoding().as_str())),
        ("segments", n(job.text.segments())),
        ("accepted", n(c.accepted)),
        ("duplicates", n(c.duplicates)),
        ("suppressed", n(c.suppressed)),
        ("invalid", n(c.invalid)),
        ("landlines", n(c.landlines)),
        ("landlines_skipped", n(c.landlines_skipped)),
        ("callback_url", s(&job.callback_url)),
        ("batches_total", n(job.batches_total)),
        ("batches_sent", n(job.batches_sent)),
        ("batches_failed", n(job.batches_failed)),
        ("batches_unknown", n(job.batches_unknown)),
        ("batches_reconciled", n(job.batches_reconciled)),
        ("batches_resent", n(job.batches_resent)),
        ("messages_by_fallback", n(job.messages_by_fallback)),
        ("fallback", AttributeValue::Bool(job.fallback)),
        ("batches_cancelled", n(job.batches_cancelled)),
        // What a control change's condition compares with `batches_total` (DynamoDB
        // conditions cannot add): every write that ends a batch adds to it.
        ("batches_ended", n(job.batches_ended())),
        ("recipients_cancelled", n(job.recipients_cancelled)),
        ("recipients_opted_out", n(job.recipients_opted_out)),
        ("control", s(job.control.as_str())),
        ("messages_accepted", n(job.messages_accepted)),
        ("plivo_invalid", n(job.plivo_invalid)),
        ("distinct_texts", n(job.distinct_texts)),
        ("segments_total", n(job.segments_total)),
        ("created_at", time(job.created_at)),
        ("updated_at", time(job.updated_at)),
        (TTL_ATTRIBUTE, expiry(Retention::Message, job.created_at)),
    ] {
        item.insert(name.into(), value);
    }
    // DynamoDB has no empty sets: a job with no sent batch has no `sent_batches`.
    if !job.sent_batches.is_empty() {
        item.insert(
            "sent_batches".into(),
            AttributeValue::Ns(job.sent_batches.iter().map(u32::to_string).collect()),
        );
    }
    if let Some(r) = &job.reference {
        item.insert("reference".into(), s(r));
    }
    if let JobControl::Paused(reason) = job.control {
        item.insert("pause_reason".into(), s(reason.as_str()));
    }
    if let Some(at) = job.control_changed_at {
        item.insert("control_changed_at".into(), time(at));
    }
    // Not `expires_at`: that name is the table's TTL attribute.
    if let Some(at) = job.expires_at {
        item.insert("messages_expire_at".into(), time(at));
    }
    if let Some(at) = job.send_at {
        item.insert("send_at".into(), time(at));
    }
    if let Some(quiet) = job.quiet_hours {
        item.insert("quiet_hours".into(), s(quiet.to_string()));
    }
    if let Some(b) = &job.budget {
        for (name, value) in budget_attributes(b) {
            item.insert(name.into(), value);
        }
    }
    item
}

/// Quiet hours as the job item keeps them: `HH:MM-HH:MM` (`QuietHours`'s display).
fn quiet_hours(raw: &str) -> Option<QuietHours> {
    let (from, to) = raw.split_once('-')?;
    QuietHours::parse(from, to).ok()
}

pub(crate) fn job_from_item(item: &Item) -> Result<JobRecord, StoreError> {
    let job_id = item
        .string("job_id")
        .and_then(|id| JobId::parse(&id).ok())
        .ok_or_else(|| corrupt(keys::JOB, "no valid job_id"))?;
    let invalid = |what: &str| corrupt(job_id.as_str(), what);
    let count = |name: &str| item.number::<u64>(name).unwrap_or(0);
    let batches = |name: &str| item.number::<u32>(name).unwrap_or(0);
    let created_at = item
        .time("created_at")
        .ok_or_else(|| invalid("no created_at"))?;
    let text = item
        .string("text")
        .and_then(|t| MessageText::parse(t).ok())
        .ok_or_else(|| invalid("no valid text"))?;
    // Jobs written before texts were personalised have one text.
    let segments_total = item
        .number("segments_total")
        .unwrap_or(count("accepted") * text.segments() as u64);
    Ok(JobRecord {
        distinct_texts: item.number("distinct_texts").unwrap_or(1),
        segments_total,
        text,
        from: item
            .string("from")
            .and_then(|f| Sender::parse(&f).ok())
            .ok_or_else(|| invalid("no valid from"))?,
        reference: item.string("reference"),
        counts: IntakeCounts {
            accepted: count("accepted"),
            duplicates: count("duplicates"),
            suppressed: count("suppressed"),
            invalid: count("invalid"),
            // Jobs from before the numbering plans were checked have neither: 0.
            landlines: count("landlines"),
            landlines_skipped: count("landlines_skipped"),
        },
        callback_url: item.string("callback_url").unwrap_or_default(),
        expires_at: item.time("messages_expire_at"),
        send_at: item.time("send_at"),
        quiet_hours: item.string("quiet_hours").as_deref().and_then(quiet_hours),
        recipients_waiting: count("recipients_waiting"),
        next_window_at: item.millis("next_window_at"),
        budget: budget(item),
        batches_total: batches("batches_total"),
        batches_sent: batches("batches_sent"),
        batches_failed: batches("batches_failed"),
        batches_unknown: batches("batches_unknown"),
        batches_reconciled: batches("batches_reconciled"),
        batches_resent: batches("batches_resent"),
        messages_by_fallback: count("messages_by_fallback"),
        fallback: item.flag("fallback").unwrap_or(false),
        batches_cancelled: batches("batches_cancelled"),
        recipients_cancelled: count("recipients_cancelled"),
        recipients_opted_out: count("recipients_opted_out"),
        control: JobControl::parse(
            item.string("control").as_deref(),
            item.string("pause_reason").as_deref(),
        )
        .ok_or_else(|| invalid("no valid control"))?,
        control_changed_at: item.time("control_changed_at"),
        messages_accepted: count("messages_accepted"),
        sent_batches: item.numbers("sent_batches").into_iter().collect(),
        plivo_invalid: count("plivo_invalid"),
        updated_at: item.time("updated_at").unwrap_or(created_at),
        created_at,
        job_id,
    })
}

/// The plan item (`store::plans`); its checkpoint's fields sit at the top level, so a
/// checkpoint is one `SET` of plain numbers.
pub(crate) fn plan_item(plan: &PlanRecord) -> Item {
    let mut item = key(keys::job(&plan.job_id), keys::PLAN);
    let c = &plan.checkpoint;
    for (name, value) in [
        ("job_id", s(plan.job_id.as_str())),
        ("state", s(plan.state.as_str())),
        ("upload_id", s(&plan.upload_id)),
        ("etag", s(&plan.etag)),
        ("size", n(plan.size)),
        (
            "format",
            s(match plan.layout.format {
                FileFormat::Csv => "csv",
                FileFormat::Lines => "lines",
            }),
        ),
        ("template", s(&plan.template)),
        ("from", s(plan.from.as_str())),
        ("callback_url", s(&plan.callback_url)),
        ("attempts", n(plan.attempts)),
        ("created_at", time(plan.created_at)),
        ("updated_at", time(plan.updated_at)),
        (TTL_ATTRIBUTE, expiry(Retention::Message, plan.created_at)),
    ] {
        item.insert(name.into(), value);
    }
    for (name, value) in checkpoint_values(c) {
        item.insert(name.into(), value);
    }
    // The job item's names for the same caps.
    if let Some(cost) = plan.budget.max_cost {
        item.insert("max_cost_micros".into(), n(cost.micros()));
    }
    if let Some(segments) = plan.budget.max_segments {
        item.insert("max_segments".into(), n(segments));
    }
    if !plan.header.is_empty() {
        item.insert("header".into(), list(plan.header.clone()));
    }
    let optional = [
        ("phone_column", plan.layout.phone_column.as_deref()),
        ("reference", plan.reference.as_deref()),
        ("error", plan.error.as_deref()),
    ];
    for (name, value) in optional {
        if let Some(v) = value {
            item.insert(name.into(), s(v));
        }
    }
    if let Some(until) = plan.lease_until {
        item.insert("lease_until".into(), millis(until));
    }
    // Written only when on: a plan item from before the flag existed reads as off.
    if plan.smart_encoding {
        item.insert("smart_encoding".into(), AttributeValue::Bool(true));
    }
    if plan.skip_landlines {
        item.insert("skip_landlines".into(), AttributeValue::Bool(true));
    }
    if let Some(at) = plan.expires_at {
        item.insert("messages_expire_at".into(), time(at));
    }
    if let Some(at) = plan.send_at {
        item.insert("send_at".into(), time(at));
    }
    if let Some(quiet) = plan.quiet_hours {
        item.insert("quiet_hours".into(), s(quiet.to_string()));
    }
    item
}

/// A checkpoint's attributes: what `plan_item` writes and a checkpoint update sets.
pub(crate) fn checkpoint_values(c: &PlanCheckpoint) -> [(&'static str, AttributeValue); 14] {
    let k = c.counts;
    [
        ("records", n(c.records)),
        ("offset", n(c.offset)),
        ("batches", n(c.batches)),
        ("rejects_segments", n(c.rejects_segments)),
        ("rows", n(k.rows)),
        ("accepted", n(k.accepted)),
        ("duplicates", n(k.duplicates)),
        ("suppressed", n(k.suppressed)),
        ("rejected", n(k.rejected)),
        ("landlines", n(k.landlines)),
        ("landlines_skipped", n(k.landlines_skipped)),
        ("distinct_texts", n(k.distinct_texts)),
        ("segments", n(k.segments)),
        ("tallies", s(tallies_json(&c.tallies))),
    ]
}

/// One country of a plan's tallies as stored: short names, as a capped plan writes them at
/// every checkpoint. `m` and `p` are its rate (micros per segment and `c`onfigured or
/// `p`livo), `x` true when no price is known; none of them when it was not asked.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredTally {
    c: String,
    r: u64,
    s: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    m: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    p: Option<char>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    x: bool,
}

/// The plan's tallies as one string attribute (`tallies`): a JSON list, a line a country.
fn tallies_json(t: &PlanTallies) -> String {
    let stored: Vec<StoredTally> = t
        .countries
        .iter()
        .map(|(country, tally)| {
            let (m, p, x) = match t.rates.get(country) {
                Some(Rate::Priced {
                    per_segment,
                    source,
                }) => (
                    Some(per_segment.micros()),
                    Some(match source {
                        RateSource::Configured => 'c',
                        RateSource::Plivo => 'p',
                    }),
                    false,
                ),
                Some(Rate::NotListed) => (None, None, true),
                // Never kept: a price Plivo did not give is asked again.
                Some(Rate::Unavailable(_)) | None => (None, None, false),
            };
            StoredTally {
                c: country.clone(),
                r: tally.recipients,
                s: tally.segments,
                m,
                p,
                x,
            }
        })
        .collect();
    serde_json::to_string(&stored).unwrap_or_else(|_| "[]".into())
}

/// The `tallies` attribute read back; absent (a plan item from before caps) reads as none.
fn tallies_from(json: Option<&str>) -> Option<PlanTallies> {
    let Some(json) = json else {
        return Some(PlanTallies::default());
    };
    let stored: Vec<StoredTally> = serde_json::from_str(json).ok()?;
    let mut tallies = PlanTallies::default();
    for t in stored {
        let rate = match (t.m, t.p, t.x) {
            (Some(micros), Some(p), _) => Some(Rate::Priced {
                per_segment: Money::from_micros(micros),
                source: if p == 'p' {
                    RateSource::Plivo
                } else {
                    RateSource::Configured
                },
            }),
            (_, _, true) => Some(Rate::NotListed),
            _ => None,
        };
        if let Some(rate) = rate {
            tallies.rates.insert(t.c.clone(), rate);
        }
        tallies.countries.insert(
            t.c,
            Tally {
                recipients: t.r,
                segments: t.s,
            },
        );
    }
    Some(tallies)
}

pub(crate) fn plan_from_item(item: &Item) -> Result<PlanRecord, StoreError> {
    let job_id = item
        .string("job_id")
        .and_then(|id| JobId::parse(&id).ok())
        .ok_or_else(|| corrupt(keys::PLAN, "no valid job_id"))?;
    let invalid = |what: &str| corrupt(job_id.as_str(), what);
    let count = |name: &str| item.number::<u64>(name).unwrap_or(0);
    let created_at = item
        .time("created_at")
        .ok_or_else(|| invalid("plan has no created_at"))?;
    let format = match item.string("format").as_deref() {
        Some("csv") => FileFormat::Csv,
        Some("lines") => FileFormat::Lines,
        _ => return Err(invalid("plan has no valid format")),
    };
    Ok(PlanRecord {
        expires_at: item.time("messages_expire_at"),
        send_at: item.time("send_at"),
        quiet_hours: item.string("quiet_hours").as_deref().and_then(quiet_hours),
        state: item
            .string("state")
            .and_then(|v| PlanState::parse(&v))
            .ok_or_else(|| invalid("plan has no valid state"))?,
        upload_id: item.string("upload_id").unwrap_or_default(),
        etag: item.string("etag").unwrap_or_default(),
        size: count("size"),
        layout: FileLayout {
            format,
            phone_column: item.string("phone_column"),
        },
        template: item.string("template").unwrap_or_default(),
        smart_encoding: item.flag("smart_encoding").unwrap_or(false),
        skip_landlines: item.flag("skip_landlines").unwrap_or(false),
        from: item
            .string("from")
            .and_then(|f| Sender::parse(&f).ok())
            .ok_or_else(|| invalid("plan has no valid from"))?,
        reference: item.string("reference"),
        callback_url: item.string("callback_url").unwrap_or_default(),
        header: item.strings("header"),
        budget: Budget {
            max_cost: item.number("max_cost_micros").map(Money::from_micros),
            max_segments: item.number("max_segments"),
        },
        checkpoint: PlanCheckpoint {
            records: count("records"),
            offset: count("offset"),
            batches: item.number("batches").unwrap_or(0),
            rejects_segments: item.number("rejects_segments").unwrap_or(0),
            counts: PlanCounts {
                rows: count("rows"),
                accepted: count("accepted"),
                duplicates: count("duplicates"),
                suppressed: count("suppressed"),
                rejected: count("rejected"),
                landlines: count("landlines"),
                landlines_skipped: count("landlines_skipped"),
                distinct_texts: count("distinct_texts"),
                segments: count("segments"),
            },
            tallies: tallies_from(item.string("tallies").as_deref())
                .ok_or_else(|| invalid("plan has unreadable tallies"))?,
        },
        attempts: item.number("attempts").unwrap_or(0),
        lease_until: item.millis("lease_until"),
        error: item.string("error"),
        updated_at: item.time("updated_at").unwrap_or(created_at),
        created_at,
        job_id,
    })
}

/// The results build item (`store::results`), as `request_results` writes it and the
/// checkpoint updates change it.
pub(crate) fn results_from_item(item: &Item) -> Result<ResultsRecord, StoreError> {
    let job_id = item
        .string("job_id")
        .and_then(|id| JobId::parse(&id).ok())
        .ok_or_else(|| corrupt(keys::RESULTS, "no valid job_id"))?;
    let invalid = |what: &str| corrupt(job_id.as_str(), what);
    let requested_at = item
        .time("requested_at")
        .ok_or_else(|| invalid("results have no requested_at"))?;
    Ok(ResultsRecord {
        generation: item
            .number("generation")
            .ok_or_else(|| invalid("results have no generation"))?,
        state: item
            .string("state")
            .and_then(|v| ResultsState::parse(&v))
            .ok_or_else(|| invalid("results have no valid state"))?,
        checkpoint: ResultsCheckpoint {
            next_batch: item.number("next_batch").unwrap_or(0),
            rows: item.number("rows").unwrap_or(0),
            parts: item.number("parts").unwrap_or(0),
            upload: item.string("upload"),
        },
        attempts: item.number("attempts").unwrap_or(0),
        lease_until: item.millis("lease_until"),
        error: item.string("error"),
        updated_at: item.time("updated_at").unwrap_or(requested_at),
        requested_at,
        job_id,
    })
}

/// A message's `STATUS` item, as the results file reads it.
pub(crate) fn reported_from_item(item: &Item) -> Result<ReportedStatus, StoreError> {
    let pk = item.string("pk").unwrap_or_default();
    let uuid = pk
        .strip_prefix("MSG#")
        .ok_or_else(|| corrupt(&pk, "a status item outside a message's partition"))?;
    Ok(ReportedStatus {
        message_uuid: uuid.to_owned(),
        to: item.string("to").and_then(|v| PhoneNumber::parse(&v).ok()),
        status: item
            .string("status")
            .and_then(|v| MessageStatus::parse(&v))
            .ok_or_else(|| corrupt(&pk, "invalid status"))?,
        error_code: item.string("error_code"),
        units: item.number("units"),
        amount: item.string("amount"),
        updated_at: item
            .time("updated_at")
            .ok_or_else(|| corrupt(&pk, "a status without updated_at"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::text::Encoding;
    use crate::store::PauseReason;
    use chrono::SubsecRound;

    fn number(s: &str) -> PhoneNumber {
        PhoneNumber::parse(s).unwrap()
    }

    /// Times as the items keep them: RFC 3339 keeps sub-seconds, epoch millis keep millis.
    fn now() -> DateTime<Utc> {
        Utc::now().trunc_subsecs(3)
    }

    #[test]
    fn a_job_reads_back_as_written() {
        let mut job = JobRecord {
            budget: Some(BudgetLeft {
                caps: Budget {
                    max_cost: Some(Money::from_micros(5_000_000)),
                    max_segments: None,
                },
                cost: Some(Money::from_micros(1_250)),
                segments: None,
            }),
            next_window_at: None,
            recipients_waiting: 0,
            quiet_hours: None,
            send_at: None,
            job_id: JobId::random(),
            text: MessageText::parse("hello").unwrap(),
            from: number("+14155550100").into(),
            reference: Some("ref".into()),
            counts: IntakeCounts {
                accepted: 5,
                duplicates: 1,
                suppressed: 2,
                invalid: 3,
                landlines: 4,
                landlines_skipped: 4,
            },
            callback_url: "https://x.example/v1/status?job_id=job-1".into(),
            expires_at: Some(now()),
            batches_total: 3,
            batches_sent: 1,
            batches_failed: 1,
            batches_unknown: 0,
            batches_reconciled: 1,
            batches_resent: 1,
            messages_by_fallback: 3,
            fallback: true,
            messages_accepted: 2,
            sent_batches: [0].into(),
            plivo_invalid: 1,
            distinct_texts: 4,
            segments_total: 9,
            control: JobControl::Paused(PauseReason::Budget),
            control_changed_at: Some(now()),
            batches_cancelled: 0,
            recipients_cancelled: 0,
            recipients_opted_out: 0,
            created_at: now(),
            updated_at: now(),
        };
        assert_eq!(job_from_item(&job_item(&job)).unwrap(), job);
        job.sent_batches.clear();
        job.reference = None;
        job.control = JobControl::Cancelled;
        job.batches_cancelled = 1;
        job.recipients_cancelled = 7;
        job.recipients_opted_out = 2;
        assert_eq!(job_from_item(&job_item(&job)).unwrap(), job);
        job.control = JobControl::Running;
        job.control_changed_at = None;
        assert_eq!(job_from_item(&job_item(&job)).unwrap(), job);
    }

    #[test]
    fn a_ledger_entry_reads_back_as_written() {
        let mut entry = LedgerEntry::pending(7, vec![number("+14155550101")]);
        assert_eq!(
            ledger_from_item(&ledger_item(&JobId::random(), &entry, now())).unwrap(),
            entry
        );
        entry.state = BatchState::Sent;
        entry.attempts = 2;
        entry.enqueued = true;
        entry.lease_until = Some(now());
        entry.message_uuids = vec!["u1".into()];
        entry.error = Some("boom".into());
        entry.text = Some(MessageText::parse("Hi Ana").unwrap());
        entry.reservation = Some(Reservation {
            cost: Some(Money::from_micros(5_000)),
            segments: Some(2),
        });
        entry.claimed_at = Some(now());
        entry.ended_at = Some(now());
        entry.resent = true;
        entry.reconciled = true;
        assert_eq!(
            ledger_from_item(&ledger_item(&JobId::random(), &entry, now())).unwrap(),
            entry
        );
    }

    #[test]
    fn a_plan_reads_back_as_written() {
        use crate::domain::{
            plan::{FileLayout, PlanCounts},
            rows::FileFormat,
        };
        use crate::store::plans::{PlanCheckpoint, PlanRecord, PlanState};
        let mut plan = PlanRecord {
            quiet_hours: None,
            send_at: None,
            expires_at: None,
            job_id: JobId::random(),
            state: PlanState::Planning,
            upload_id: "3f1c2b9e-0000-4000-8000-000000000001".into(),
            etag: "\"abc\"".into(),
            size: 1234,
            layout: FileLayout {
                format: FileFormat::Csv,
                phone_column: Some("Mobile".into()),
            },
            template: "Hi {{first_name|there}}".into(),
            smart_encoding: false,
            skip_landlines: false,
            from: number("+14155550100").into(),
            reference: None,
            callback_url: "https://x.example/v1/status?job_id=j".into(),
            header: vec!["Mobile".into(), "first_name".into()],
            budget: Budget::default(),
            checkpoint: PlanCheckpoint::default(),
            attempts: 0,
            lease_until: None,
            error: None,
            created_at: now(),
            updated_at: now(),
        };
        assert_eq!(plan_from_item(&plan_item(&plan)).unwrap(), plan);
        plan.state = PlanState::Failed;
        plan.layout = FileLayout {
            format: FileFormat::Lines,
            phone_column: None,
        };
        plan.reference = Some("spring".into());
        plan.header = Vec::new();
        plan.attempts = 3;
        plan.lease_until = Some(now());
        plan.error = Some("no valid recipient".into());
        plan.smart_encoding = true;
        plan.skip_landlines = true;
        plan.checkpoint = PlanCheckpoint {
            records: 10,
            offset: 400,
            batches: 2,
            rejects_segments: 1,
            counts: PlanCounts {
                rows: 9,
                accepted: 5,
                duplicates: 1,
                suppressed: 1,
                rejected: 2,
                landlines: 3,
                landlines_skipped: 1,
                distinct_texts: 2,
                segments: 6,
            },
            tallies: Default::default(),
        };
        assert_eq!(plan_from_item(&plan_item(&plan)).unwrap(), plan);
        // A capped plan: its caps, and its tallies with each kind of rate kept.
        plan.budget = Budget {
            max_cost: Some(Money::from_micros(2_500_000)),
            max_segments: Some(40),
        };
        let tallies = &mut plan.checkpoint.tallies;
        for (country, recipients, segments) in [("US", 3, 6), ("GB", 1, 2), ("FR", 2, 2)] {
            tallies.countries.insert(
                country.into(),
                Tally {
                    recipients,
                    segments,
                },
            );
        }
        tallies.rates.insert(
            "US".into(),
            Rate::Priced {
                per_segment: Money::from_micros(5_000),
                source: RateSource::Plivo,
            },
        );
        tallies.rates.insert(
            "GB".into(),
            Rate::Priced {
                per_segment: Money::from_micros(40_000),
                source: RateSource::Configured,
            },
        );
        tallies.rates.insert("FR".into(), Rate::NotListed);
        assert_eq!(plan_from_item(&plan_item(&plan)).unwrap(), plan);
        plan.checkpoint.tallies.rates.clear();
        assert_eq!(plan_from_item(&plan_item(&plan)).unwrap(), plan);
    }

    #[test]
    fn a_message_reads_back_from_its_facts_alone() {
        let at = now();
        let accepted = AcceptedMessage {
            message_uuid: "u1".into(),
            to: Some(number("+14155550101")),
            from: number("+14155550100").into(),
            job_id: Some(JobId::random()),
            reference: None,
            encoding: Encoding::Gsm7,
            segments: 2,
            provider: crate::domain::provider::Provider::Plivo,
        };
        let record = message_from_items("u1", Some(&message_facts_item(&accepted, at)), None)
            .unwrap()
            .unwrap();
        assert_eq!(record.status, MessageStatus::Queued);
        assert_eq!(record.to, Some(number("+14155550101")));
        assert_eq!((record.segments, record.created_at), (Some(2), at));
        assert_eq!(message_from_items("u1", None, None).unwrap(), None);
    }

    #[test]
    fn a_key_replays_only_a_finished_answer_for_the_same_request() {
        let at = now();
        let answer = StoredResponse {
            status: 202,
            body: "{}".into(),
            location: None,
        };
        let started = key_in_progress_item("k", "h", "o", at);
        assert_eq!(
            key_claim_from_item(&started, "h", at),
            KeyClaim::InProgress { started_at: at }
        );
        let finished = key_finished_item("k", "h", "o", &answer, at);
        assert_eq!(
            key_claim_from_item(&finished, "h", at),
            KeyClaim::Replay(answer)
        );
        assert_eq!(
            key_claim_from_item(&finished, "other", at),
            KeyClaim::Mismatch
        );
    }
}
