//! The body of `POST /v1/bulk`, and what becomes of its recipient list: parsed, checked
//! against the numbering plans, reported by index when invalid or a landline, de-duplicated,
//! screened against the suppression list, batched.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sms_core::{
    Encoding, FieldError, MessageText, PhoneNumber, Problem, Sender,
    domain::{
        bulk::{ListedRecipient, RecipientEntry, RecipientList},
        estimate::Budget,
        money::Money,
        preview::Texts,
        quiet_hours::QuietHours,
        start::SendAt,
        validity::Deadline,
    },
    domain::{numbering, zones},
    http::fields,
    store::{IntakeCounts, SuppressionList},
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkRequestBody {
    /// The recipients, or (with `upload_id`) none: exactly one of the two.
    #[serde(default)]
    pub recipients: Option<Vec<RecipientEntry>>,
    #[serde(default)]
    pub upload_id: Option<String>,
    /// How to read the upload: `csv` (the default) or `lines`.
    #[serde(default)]
    pub format: Option<sms_core::domain::rows::FileFormat>,
    /// The upload's phone column; by default `phone` or `to`.
    #[serde(default)]
    pub phone_column: Option<String>,
    pub text: String,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub reference: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
    /// Send the text (each rendered text, for an upload) with its GSM-7 look-alikes
    /// replaced (docs/api.md, "Text previews and smart encoding").
    #[serde(default)]
    pub smart_encoding: bool,
    /// Leave landlines out: they are reported (and counted) either way, and cannot receive
    /// SMS (docs/api.md, "Numbers").
    #[serde(default)]
    pub skip_landlines: bool,
    /// Seconds from now the messages stay worth sending (docs/api.md, "Validity").
    #[serde(default)]
    pub valid_for: Option<u64>,
    /// Or the time (RFC 3339) they stop being worth sending.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// When to start sending (RFC 3339, up to 35 days ahead; docs/api.md, "Scheduled jobs").
    #[serde(default)]
    pub send_at: Option<String>,
    /// Local hours in which no batch goes to a recipient (docs/api.md, "Quiet hours").
    #[serde(default)]
    pub quiet_hours: Option<QuietHours>,
    /// The most the job may cost, in the account's currency (docs/api.md, "Budget").
    #[serde(default)]
    pub max_cost: Option<Money>,
    /// The most message segments the job may take.
    #[serde(default)]
    pub max_segments: Option<u64>,
    /// Let the job's batches go through the fallback provider while Plivo is unavailable
    /// (docs/api.md, "The fallback provider").
    #[serde(default)]
    pub fallback: bool,
}

/// A valid bulk request. Serialized only to fingerprint it for idempotency: the text as
/// given and the flag, so a retry that changes either is another request. The flag is left
/// out when off, so a request without it keeps the fingerprint (and job id) it always had.
#[derive(Debug, Serialize)]
pub struct BulkRequest {
    pub recipients: Vec<RecipientEntry>,
    pub from: Sender,
    #[serde(rename = "text")]
    pub given_text: String,
    pub reference: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub smart_encoding: bool,
    /// Left out when off too: the same list screened with or without it is another job.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub skip_landlines: bool,
    /// Left out when off, likewise.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub fallback: bool,
    /// The validity as given (part of what a key stands for; absent, the fingerprint is the
    /// one a request without it always had).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_for: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// The start as given (likewise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_at: Option<String>,
    /// The quiet hours (likewise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<QuietHours>,
    /// The cap (likewise: each part is left out when not given).
    #[serde(flatten)]
    pub budget: Budget,
    /// When the job starts, if not at once.
    #[serde(skip)]
    pub start: Option<SendAt>,
    /// When the job's messages stop being worth sending.
    #[serde(skip)]
    pub deadline: Option<Deadline>,
    /// What the job sends: the text as given, or smart-encoded.
    #[serde(skip)]
    pub text: MessageText,
    #[serde(skip)]
    pub dry_run: bool,
}

impl BulkRequest {
    /// Parses a body that lists its recipients.
    pub fn parse(body: BulkRequestBody, default_src: &Sender) -> Result<Self, Problem> {
        match Parsed::from_body(body, default_src)? {
            Parsed::List(request) => Ok(request),
            Parsed::Upload(_) => Err(Problem::field("upload_id", "is not expected here")),
        }
    }
}

/// A cap that could let nothing through is a mistake, for a list or an upload alike.
pub(crate) fn budget_errors(budget: &Budget, errors: &mut Vec<FieldError>) {
    if budget.max_cost == Some(Money::ZERO) {
        errors.push(FieldError::new("max_cost", "must be above 0"));
    }
    if budget.max_segments == Some(0) {
        errors.push(FieldError::new("max_segments", "must be at least 1"));
    }
}

/// Field errors shown when no recipient is usable: enough to see the pattern.
const ERRORS_SHOWN: usize = 100;

/// A `POST /v1/bulk` body: a list of recipients, or an upload (checked in `uploads`).
pub enum Parsed {
    List(BulkRequest),
    Upload(crate::uploads::UploadFields),
}

impl Parsed {
    /// Parses a body: its list checked in full, or its upload's fields picked out.
    pub fn from_body(body: BulkRequestBody, default_src: &Sender) -> Result<Self, Problem> {
        let recipients = match (body.recipients, body.upload_id) {
            (Some(_), Some(_)) => {
                return Err(Problem::field(
                    "upload_id",
                    "and recipients cannot both be given: send a list or name an upload",
                ));
            }
            (None, None) => {
                return Err(Problem::field(
                    "recipients",
                    "is required (or upload_id, for a file uploaded through POST /v1/uploads)",
                ));
            }
            (None, Some(_)) if body.fallback => {
                return Err(Problem::field(
                    "fallback",
                    "applies only to a list of recipients; a deployment whose FALLBACK is all lets every job, uploads included, use the fallback provider",
                ));
            }
            (None, Some(upload_id)) => {
                return Ok(Parsed::Upload(crate::uploads::UploadFields {
                    upload_id,
                    format: body.format,
                    phone_column: body.phone_column,
                    text: body.text,
                    from: body.from,
                    reference: body.reference,
                    dry_run: body.dry_run,
                    smart_encoding: body.smart_encoding,
                    skip_landlines: body.skip_landlines,
                    valid_for: body.valid_for,
                    expires_at: body.expires_at,
                    send_at: body.send_at,
                    quiet_hours: body.quiet_hours,
                    budget: Budget {
                        max_cost: body.max_cost,
                        max_segments: body.max_segments,
                    },
                }));
            }
            (Some(recipients), None) => recipients,
        };
        let mut errors = Vec::new();
        for (name, given) in [
            ("format", body.format.is_some()),
            ("phone_column", body.phone_column.is_some()),
        ] {
            if given {
                errors.push(FieldError::new(name, "applies only with upload_id"));
            }
        }
        if recipients.is_empty() {
            errors.push(FieldError::new(
                "recipients",
                "must list at least one number",
            ));
        }
        let budget = Budget {
            max_cost: body.max_cost,
            max_segments: body.max_segments,
        };
        budget_errors(&budget, &mut errors);
        let (start, deadline) = fields::schedule(
            body.send_at.as_deref(),
            body.valid_for,
            body.expires_at.as_deref(),
            chrono::Utc::now(),
            &mut errors,
        );
        let message = fields::message(
            body.text,
            body.smart_encoding,
            body.from.as_deref(),
            body.reference,
            default_src,
            &mut errors,
        );
        match message {
            Some(fields::MessageFields {
                text,
                given_text,
                from,
                reference,
            }) if errors.is_empty() => Ok(Parsed::List(BulkRequest {
                recipients,
                from,
                given_text,
                reference,
                smart_encoding: body.smart_encoding,
                skip_landlines: body.skip_landlines,
                fallback: body.fallback,
                valid_for: body.valid_for,
                expires_at: body.expires_at,
                send_at: body.send_at,
                quiet_hours: body.quiet_hours,
                budget,
                start,
                deadline,
                text,
                dry_run: body.dry_run,
            })),
            _ => Err(Problem::fields(errors)),
        }
    }
}

/// The recipient list after screening, cut into batches. The valid numbers are moved into
/// the batches rather than kept beside them: a second copy of a 300,000-number list would
/// live through the whole enqueue for nothing.
#[derive(Debug)]
pub struct Intake {
    /// The listed invalid entries ([`RecipientList::invalid`]).
    pub invalid: Vec<ListedRecipient>,
    /// The listed landlines ([`RecipientList::landlines`]).
    pub landlines: Vec<ListedRecipient>,
    pub counts: IntakeCounts,
    pub batches: Vec<Vec<PhoneNumber>>,
    pub encoding: Encoding,
    pub segments: usize,
    /// The accepted recipients by destination country.
    pub countries: BTreeMap<&'static str, u64>,
}

/// The answer to `POST /v1/bulk` (202, or 200 for a dry run). Its size is bounded whatever
/// the list: `invalid` holds at most the first `bulk::INVALID_LISTED` invalid entries (each
/// echo truncated), `invalid_count` counts them all; `landlines` and `landline_count` the
/// same for landlines.
#[derive(Debug, Serialize)]
pub struct Summary<'a> {
    pub job_id: Option<&'a str>,
    pub status: &'a str,
    pub accepted: u64,
    pub duplicates: u64,
    pub suppressed: u64,
    pub invalid_count: u64,
    pub invalid: &'a [ListedRecipient],
    pub landline_count: u64,
    /// Of `landline_count`, those not sent (`skip_landlines`).
    pub landlines_skipped: u64,
    pub landlines: &'a [ListedRecipient],
    pub batches: usize,
    pub encoding: Encoding,
    /// Segments of the text: what each recipient's message takes.
    pub segments: usize,
    /// Segments over every accepted recipient: what the job takes in message parts.
    pub segments_total: u64,
    /// When the job starts, if it was scheduled (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_at: Option<String>,
}

/// A dry run's answer: the summary, and a preview of the text as given.
#[derive(Debug, Serialize)]
pub struct DryRun<'a> {
    #[serde(flatten)]
    pub summary: Summary<'a>,
    #[serde(flatten)]
    pub texts: Texts<'a>,
    /// With `quiet_hours`: who would wait for their window when the job starts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<crate::quiet::QuietPreview>,
    /// Recipients, segments and cost per destination country (docs/api.md, "Budget").
    pub estimate: sms_core::domain::estimate::Estimate,
    /// With `max_cost` or `max_segments`: whether the job would be accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget: Option<crate::budget::Verdict>,
}

/// The entries an answer lists by index.
#[derive(Debug, Clone, Copy)]
pub struct Listed<'a> {
    pub invalid: &'a [ListedRecipient],
    pub landlines: &'a [ListedRecipient],
}

impl<'a> Summary<'a> {
    /// The answer for a job of `batches` batches with `counts`, `listed` being the listed
    /// invalid entries and landlines of the request's list. A resumed request builds it from
    /// what the first attempt committed, so both answers are the same.
    pub fn new(
        job_id: Option<&'a str>,
        status: &'a str,
        counts: IntakeCounts,
        batches: usize,
        listed: Listed<'a>,
        encoding: Encoding,
        segments: usize,
    ) -> Self {
        Self {
            job_id,
            status,
            accepted: counts.accepted,
            duplicates: counts.duplicates,
            suppressed: counts.suppressed,
            invalid_count: counts.invalid,
            invalid: listed.invalid,
            landline_count: counts.landlines,
            landlines_skipped: counts.landlines_skipped,
            landlines: listed.landlines,
            batches,
            encoding,
            segments,
            segments_total: counts.accepted * segments as u64,
            send_at: None,
        }
    }
}

impl Intake {
    /// The pure part of screening: remove the suppressed, check something is left, batch.
    pub fn build(
        mut list: RecipientList,
        suppressed: &std::collections::HashSet<PhoneNumber>,
        text: &MessageText,
        batch_size: usize,
        by_window: bool,
    ) -> Result<Self, Problem> {
        let before = list.valid.len();
        if !suppressed.is_empty() {
            list.valid.retain(|n| !suppressed.contains(n));
            // The opted-out are few: classified again rather than carried beside each number.
            for number in suppressed {
                if let Ok(numbering) = numbering::classify(number)
                    && let Some(n) = list.countries.get_mut(numbering.region)
                {
                    *n = n.saturating_sub(1);
                }
            }
            list.countries.retain(|_, n| *n > 0);
        }
        let suppressed = before - list.valid.len();
        if list.valid.is_empty() {
            let errors = list
                .invalid
                .iter()
                .take(ERRORS_SHOWN)
                .map(|i| FieldError::new(format!("recipients[{}]", i.index), &i.reason))
                .collect();
            return Err(Problem::invalid(
                format!(
                    "no valid recipient is left: {} invalid, {} duplicates, {suppressed} opted \
                     out, {} landlines skipped",
                    list.invalid_count, list.duplicates, list.landlines_skipped
                ),
                errors,
            ));
        }
        let counts = IntakeCounts {
            accepted: list.valid.len() as u64,
            duplicates: list.duplicates as u64,
            suppressed: suppressed as u64,
            invalid: list.invalid_count as u64,
            landlines: list.landline_count as u64,
            landlines_skipped: list.landlines_skipped as u64,
        };
        // With quiet hours, recipients who share their zones share batches, so a batch
        // waiting for its window never holds back one whose window is open.
        let batches = if by_window {
            zones::batch_by_window(list.valid, batch_size)
        } else {
            let batch_count = list.valid.len().div_ceil(batch_size);
            let mut valid = list.valid.into_iter();
            (0..batch_count)
                .map(|_| valid.by_ref().take(batch_size).collect())
                .collect()
        };
        Ok(Self {
            invalid: list.invalid,
            landlines: list.landlines,
            counts,
            batches,
            encoding: text.encoding(),
            segments: text.segments(),
            countries: list.countries,
        })
    }

    pub fn counts(&self) -> IntakeCounts {
        self.counts
    }

    pub fn summary<'a>(&'a self, job_id: Option<&'a str>, status: &'a str) -> Summary<'a> {
        Summary::new(
            job_id,
            status,
            self.counts(),
            self.batches.len(),
            Listed {
                invalid: &self.invalid,
                landlines: &self.landlines,
            },
            self.encoding,
            self.segments,
        )
    }
}

/// Parses, de-duplicates and screens the request's recipients against the suppression list.
pub async fn screen<S: SuppressionList>(
    request: &BulkRequest,
    store: &S,
    batch_size: usize,
) -> Result<Intake, Problem> {
    let list = RecipientList::parse(&request.recipients, request.skip_landlines);
    reachable(request, &list)?;
    let suppressed = store.suppressed_among(&list.valid).await.map_err(|e| {
        Problem::internal(
            "the suppression list could not be read; nothing was enqueued",
            &e,
        )
    })?;
    Intake::build(
        list,
        &suppressed,
        &request.text,
        batch_size,
        request.quiet_hours.is_some(),
    )
}

/// How many recipients a refusal for an unreachable sender lists by index.
const UNREACHABLE_LISTED: usize = 100;

/// Refuses a list some of whose recipients the sender cannot reach (a sender ID towards
/// the US or Canada), naming them by index: a job mixing them needs a number for those, and
/// sending the rest alone would half-send it. The list's countries say whether to look, so
/// the recipients are classified again only on the way to this 400.
fn reachable(request: &BulkRequest, list: &RecipientList) -> Result<(), Problem> {
    if list
        .countries
        .keys()
        .all(|region| request.from.reaches(region))
    {
        return Ok(());
    }
    let mut errors = Vec::new();
    let mut count = 0_u64;
    for (index, entry) in request.recipients.iter().enumerate() {
        let RecipientEntry::Number(number) = entry else {
            continue;
        };
        let Ok(numbering) = numbering::classify(number) else {
            continue;
        };
        if let Some(reason) = request.from.cannot_reach(numbering.region) {
            count += 1;
            if errors.len() < UNREACHABLE_LISTED {
                errors.push(FieldError::new(format!("recipients[{index}]"), reason));
            }
        }
    }
    Err(Problem::invalid(
        format!(
            "{count} recipients cannot be sent a message from the sender ID {}: their carriers \
             take messages from numbers only; nothing was sent. Send them from a number or a \
             Powerpack",
            request.from
        ),
        errors,
    )
    .with("unreachable_count", count))
}
