//! Planning a job from a recipient file (docs/architecture.md, "A job from an upload"): each
//! row is validated, rendered and de-duplicated here, without I/O; the caller screens the
//! candidates against the suppression list in chunks ([`Plan::to_screen`], [`Plan::admit`]),
//! writes the batches that fill up ([`Plan::take_ready`]) and the rejects
//! ([`Plan::take_rejects`]).
//!
//! Recipients whose rendered texts are identical share batches of up to `batch_size` (one
//! Plivo request each); every distinct text has batches of its own. A batch leaves as soon as
//! it is full, so memory holds the open batches, not the file. [`Plan::flush`] ends the open
//! ones, at the end of the file or at a checkpoint: a text that appears again after a
//! checkpoint starts a new batch.

use std::collections::{HashMap, HashSet};

use sha2::{Digest, Sha256};

use crate::domain::{
    lookalike, numbering,
    phone::PhoneNumber,
    preview::TextPreviews,
    rows::{FileFormat, Row, RowContent},
    sender::Sender,
    template::{BoundTemplate, MissingColumns, Template},
    text::MessageText,
    zones::{self, ZoneWindow},
};

/// Candidates screened against the suppression list at once.
pub const SCREEN_CHUNK: usize = 1000;

/// Rows previewed by a dry run.
pub const SAMPLES: usize = 5;

/// Longest echo of a rejected row's number in the rejects file, in characters.
pub const REJECT_ECHO_MAX: usize = 64;

/// The column that holds the numbers when the request names none: the first of these, in
/// any letter case.
pub const DEFAULT_PHONE_COLUMNS: [&str; 2] = ["phone", "to"];

/// How to read the file, from the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileLayout {
    pub format: FileFormat,
    /// The phone column's name (CSV only); None takes [`DEFAULT_PHONE_COLUMNS`].
    pub phone_column: Option<String>,
}

/// Why a file's header does not fit the request. Messages are written for API callers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[error("the file has no column {name:?} (its columns: {columns})")]
    NoSuchPhoneColumn { name: String, columns: String },
    #[error(
        "the file has no phone column: name it with phone_column, or call it phone or to (its columns: {columns})"
    )]
    NoPhoneColumn { columns: String },
    #[error("a newline-delimited list has no columns to fill placeholders from")]
    PlaceholdersWithoutColumns,
    #[error("text {0}")]
    MissingColumns(MissingColumns),
}

/// The columns of a header for an error message, bounded: the first 20, each cut to 64
/// characters.
fn listed(header: &[String]) -> String {
    let mut names: Vec<String> = header
        .iter()
        .take(20)
        .map(|h| format!("{:?}", h.chars().take(64).collect::<String>()))
        .collect();
    if header.len() > 20 {
        names.push(format!("and {} more", header.len() - 20));
    }
    names.join(", ")
}

impl FileLayout {
    /// The phone column's index and the template bound to the header (None for
    /// [`FileFormat::Lines`]).
    pub fn bind(
        &self,
        header: Option<&[String]>,
        template: &Template,
    ) -> Result<(usize, BoundTemplate), LayoutError> {
        let Some(header) = header.filter(|_| self.format == FileFormat::Csv) else {
            if template.is_personalised() {
                return Err(LayoutError::PlaceholdersWithoutColumns);
            }
            let bound = template.bind(&[]).map_err(LayoutError::MissingColumns)?;
            return Ok((0, bound));
        };
        let find = |name: &str| {
            header
                .iter()
                .position(|h| h == name)
                .or_else(|| header.iter().position(|h| h.eq_ignore_ascii_case(name)))
        };
        let phone = match &self.phone_column {
            Some(name) => find(name.trim()).ok_or_else(|| LayoutError::NoSuchPhoneColumn {
                name: name.chars().take(64).collect(),
                columns: listed(header),
            })?,
            None => DEFAULT_PHONE_COLUMNS
                .iter()
                .find_map(|name| find(name))
                .ok_or_else(|| LayoutError::NoPhoneColumn {
                    columns: listed(header),
                })?,
        };
        let names: Vec<&str> = header.iter().map(String::as_str).collect();
        let bound = template.bind(&names).map_err(LayoutError::MissingColumns)?;
        Ok((phone, bound))
    }
}

/// A row that is not sent, for the rejects file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub row: u64,
    /// The phone field as given (cut to [`REJECT_ECHO_MAX`] characters), or empty.
    pub value: String,
    pub reason: String,
}

/// One batch ready for the ledger: one Plivo request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedBatch {
    pub text: MessageText,
    pub recipients: Vec<PhoneNumber>,
}

/// A rendered row, shown by a dry run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Sample {
    pub row: u64,
    pub to: PhoneNumber,
    pub text: String,
    pub encoding: crate::domain::text::Encoding,
    pub segments: usize,
}

/// What the plan has made of the rows so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlanCounts {
    /// Data rows read (the header not counted).
    pub rows: u64,
    /// Recipients admitted to a batch: valid, rendered, first of their number, not opted out.
    pub accepted: u64,
    pub duplicates: u64,
    pub suppressed: u64,
    /// Rows rejected (each has a line in the rejects file).
    pub rejected: u64,
    /// Landlines among the numbers taken (first of their number), sent or skipped.
    #[serde(default)]
    pub landlines: u64,
    /// Of `landlines`, those skipped (`skip_landlines`): each has a line in the rejects
    /// file, and is neither accepted nor rejected.
    #[serde(default)]
    pub landlines_skipped: u64,
    /// Distinct texts among the admitted recipients.
    pub distinct_texts: u64,
    /// Segments over every admitted recipient: what the job will cost in message parts.
    pub segments: u64,
}

/// A rendered text, interned for the duration of one segment of the file.
#[derive(Debug)]
struct Text {
    text: Result<MessageText, String>,
    /// Its digest, kept across checkpoints to count distinct texts.
    digest: u64,
    /// Recipients admitted and not yet in a ready batch.
    open: Vec<PhoneNumber>,
}

/// The state of planning one file.
#[derive(Debug)]
pub struct Plan {
    phone: usize,
    template: BoundTemplate,
    batch_size: usize,
    /// Numbers taken so far (valid and rendered), by their digits' value.
    seen: HashSet<u64>,
    /// Digests of texts with at least one admitted recipient.
    distinct: HashSet<u64>,
    ids: HashMap<Box<str>, u32>,
    texts: Vec<Text>,
    /// Candidates waiting to be screened: their numbers (as the suppression list is asked)
    /// and, at the same index, their texts.
    screening_numbers: Vec<PhoneNumber>,
    screening_texts: Vec<u32>,
    ready: Vec<PlannedBatch>,
    rejects: Vec<Reject>,
    samples: Vec<Sample>,
    counts: PlanCounts,
    rendered: String,
    /// Replace GSM-7 look-alikes in each rendered text before it is batched, so texts that
    /// differ only by a curly quote share batches.
    smart_encoding: bool,
    /// Leave landlines out (counted, with a line in the rejects file).
    skip_landlines: bool,
    /// A dry run's previews of the distinct texts as rendered (before any replacement).
    previews: Option<TextPreviews>,
    /// The job's sender, when it is one that cannot reach every country (a sender ID):
    /// rows it cannot reach are rejected.
    sender: Option<Sender>,
    /// Batch recipients by zone window too (a job with quiet hours): each (text, window)
    /// has its own open batch, so one group waiting for its window never holds another.
    by_window: bool,
}

impl Plan {
    pub fn new(phone: usize, template: BoundTemplate, batch_size: usize) -> Self {
        Self {
            phone,
            template,
            batch_size: batch_size.max(1),
            seen: HashSet::new(),
            distinct: HashSet::new(),
            ids: HashMap::new(),
            texts: Vec::new(),
            screening_numbers: Vec::with_capacity(SCREEN_CHUNK),
            screening_texts: Vec::with_capacity(SCREEN_CHUNK),
            ready: Vec::new(),
            rejects: Vec::new(),
            samples: Vec::new(),
            counts: PlanCounts::default(),
            rendered: String::new(),
            smart_encoding: false,
            skip_landlines: false,
            previews: None,
            sender: None,
            by_window: false,
        }
    }

    /// Cuts batches by zone window as well as by text (`zones::batch_by_window`'s rule).
    pub fn with_zone_windows(mut self, by_window: bool) -> Self {
        self.by_window = by_window;
        self
    }

    /// Sends each rendered text smart-encoded ([`lookalike::replace`]): what is validated,
    /// batched, counted and sent is the replaced text.
    pub fn with_smart_encoding(mut self, smart_encoding: bool) -> Self {
        self.smart_encoding = smart_encoding;
        self
    }

    /// Rejects the rows whose number `sender` cannot reach ([`Sender::cannot_reach`]).
    pub fn with_sender(mut self, sender: &Sender) -> Self {
        self.sender = Some(sender.clone());
        self
    }

    /// Leaves landlines out of the batches ([`numbering::Numbering::is_landline`]): each is
    /// counted in [`PlanCounts::landlines_skipped`] and written to the rejects file.
    pub fn with_skip_landlines(mut self, skip_landlines: bool) -> Self {
        self.skip_landlines = skip_landlines;
        self
    }

    /// Previews the distinct rendered texts of the rows taken, for a dry run.
    pub fn with_text_previews(mut self) -> Self {
        self.previews = Some(TextPreviews::default());
        self
    }

    pub fn text_previews(&self) -> Option<&TextPreviews> {
        self.previews.as_ref()
    }

    pub fn counts(&self) -> PlanCounts {
        self.counts
    }

    /// The first rows rendered, for a dry run.
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// Takes one row: a reject, a duplicate, or a candidate waiting to be screened.
    pub fn row(&mut self, row: Row<'_>) {
        self.counts.rows += 1;
        let fields = match row.content {
            RowContent::Fields(fields) => fields,
            RowContent::NotUtf8 => return self.reject(row.number, "", "is not UTF-8 text"),
            RowContent::TooLong => {
                return self.reject(row.number, "", "is longer than the longest row allowed");
            }
        };
        let raw = fields.get(self.phone).unwrap_or("");
        let number = match PhoneNumber::parse_formatted(raw) {
            Ok(number) => number,
            Err(e) => return self.reject(row.number, raw, &format!("number {e}")),
        };
        let numbering = match numbering::classify(&number) {
            Ok(numbering) => numbering,
            Err(e) => return self.reject(row.number, raw, &format!("number {e}")),
        };
        if let Some(reason) = self
            .sender
            .as_ref()
            .and_then(|sender| sender.cannot_reach(numbering.region))
        {
            return self.reject(row.number, raw, &format!("number {reason}"));
        }
        let window = self.by_window.then(|| zones::window_key(&number));
        let mut rendered = std::mem::take(&mut self.rendered);
        let outcome = self.template.render(|i| fields.get(i), &mut rendered);
        let text = match outcome {
            Ok(()) if self.smart_encoding => self.intern(&lookalike::replace(&rendered), window),
            Ok(()) => self.intern(&rendered, window),
            Err(e) => {
                self.rendered = rendered;
                return self.reject(row.number, raw, &format!("row {e}"));
            }
        };
        self.rendered = rendered;
        if let Err(reason) = &self.texts[text as usize].text {
            let reason = format!("rendered text {reason}");
            return self.reject(row.number, raw, &reason);
        }
        if !self.seen.insert(number.digits_value()) {
            self.counts.duplicates += 1;
            return;
        }
        if numbering.is_landline() {
            self.counts.landlines += 1;
            if self.skip_landlines {
                self.counts.landlines_skipped += 1;
                let reason = format!(
                    "number {}; skipped (skip_landlines)",
                    numbering.landline_note()
                );
                self.rejects.push(Reject {
                    row: row.number,
                    value: raw.chars().take(REJECT_ECHO_MAX).collect(),
                    reason,
                });
                return;
            }
        }
        if let Some(previews) = &mut self.previews {
            previews.note(&self.rendered);
        }
        if self.samples.len() < SAMPLES
            && let Ok(message) = &self.texts[text as usize].text
        {
            self.samples.push(Sample {
                row: row.number,
                to: number.clone(),
                text: message.as_str().to_owned(),
                encoding: message.encoding(),
                segments: message.segments(),
            });
        }
        self.screening_numbers.push(number);
        self.screening_texts.push(text);
    }

    /// The id of a text (and, with zone windows, of the text for one window: its batches
    /// are the window's own); its digest is the text's alone, so distinct texts are counted
    /// once whatever the windows.
    fn intern(&mut self, rendered: &str, window: Option<ZoneWindow>) -> u32 {
        let key: std::borrow::Cow<'_, str> = match window {
            Some(w) => format!("{}\u{0}{rendered}", w.id()).into(),
            None => rendered.into(),
        };
        if let Some(&id) = self.ids.get(key.as_ref()) {
            return id;
        }
        let id = self.texts.len() as u32;
        let digest = Sha256::digest(rendered.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        self.texts.push(Text {
            text: MessageText::parse(rendered).map_err(|e| e.to_string()),
            digest: u64::from_le_bytes(first),
            open: Vec::new(),
        });
        self.ids.insert(key.as_ref().into(), id);
        id
    }

    fn reject(&mut self, row: u64, raw: &str, reason: &str) {
        self.counts.rejected += 1;
        self.rejects.push(Reject {
            row,
            value: raw.chars().take(REJECT_ECHO_MAX).collect(),
            reason: reason.to_owned(),
        });
    }

    /// True once a chunk of candidates waits for screening.
    pub fn wants_screening(&self) -> bool {
        self.screening_numbers.len() >= SCREEN_CHUNK
    }

    /// The numbers waiting to be screened against the suppression list.
    pub fn to_screen(&self) -> &[PhoneNumber] {
        &self.screening_numbers
    }

    /// Admits the waiting candidates but those in `suppressed`; full batches become ready.
    pub fn admit(&mut self, suppressed: &HashSet<PhoneNumber>) {
        let numbers = std::mem::replace(
            &mut self.screening_numbers,
            Vec::with_capacity(SCREEN_CHUNK),
        );
        let texts = std::mem::replace(&mut self.screening_texts, Vec::with_capacity(SCREEN_CHUNK));
        for (number, text) in numbers.into_iter().zip(texts) {
            if suppressed.contains(&number) {
                self.counts.suppressed += 1;
                continue;
            }
            let text = &mut self.texts[text as usize];
            let Ok(message) = &text.text else { continue };
            self.counts.accepted += 1;
            self.counts.segments += message.segments() as u64;
            if self.distinct.insert(text.digest) {
                self.counts.distinct_texts += 1;
            }
            text.open.push(number);
            if text.open.len() >= self.batch_size {
                let recipients = std::mem::take(&mut text.open);
                self.ready.push(PlannedBatch {
                    text: message.clone(),
                    recipients,
                });
            }
        }
    }

    /// Ends every open batch (call after the last [`Plan::admit`]): at the end of the file,
    /// or at a checkpoint. Texts are forgotten but for their digests.
    pub fn flush(&mut self) {
        for text in std::mem::take(&mut self.texts) {
            if let (Ok(message), false) = (text.text, text.open.is_empty()) {
                self.ready.push(PlannedBatch {
                    text: message,
                    recipients: text.open,
                });
            }
        }
        self.ids.clear();
    }

    /// Batches ready for the ledger, in the order they filled up.
    pub fn take_ready(&mut self) -> Vec<PlannedBatch> {
        std::mem::take(&mut self.ready)
    }

    pub fn take_rejects(&mut self) -> Vec<Reject> {
        std::mem::take(&mut self.rejects)
    }

    /// What a later invocation needs to go on exactly as this one would have: the numbers
    /// taken and the digests of the texts used, as little-endian u64 arrays, each after its
    /// length. Call at a clean point: after [`Plan::flush`].
    pub fn checkpoint(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + 8 * (self.seen.len() + self.distinct.len()));
        for set in [&self.seen, &self.distinct] {
            out.extend_from_slice(&(set.len() as u64).to_le_bytes());
            for value in set {
                out.extend_from_slice(&value.to_le_bytes());
            }
        }
        out
    }

    /// Restores what [`Plan::checkpoint`] saved, with the counts saved beside it.
    pub fn restore(&mut self, checkpoint: &[u8], counts: PlanCounts) -> Result<(), String> {
        let mut words = checkpoint.chunks_exact(8).map(|w| {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(w);
            u64::from_le_bytes(bytes)
        });
        if !checkpoint.len().is_multiple_of(8) {
            return Err("the checkpoint's length is not a multiple of 8".into());
        }
        let mut read_set = || -> Result<HashSet<u64>, String> {
            let len = words.next().ok_or("the checkpoint ends early")?;
            let set: HashSet<u64> = words.by_ref().take(len as usize).collect();
            if set.len() as u64 != len {
                return Err("the checkpoint ends early or repeats a value".into());
            }
            Ok(set)
        };
        let seen = read_set()?;
        let distinct = read_set()?;
        if words.next().is_some() {
            return Err("the checkpoint has trailing data".into());
        }
        self.seen = seen;
        self.distinct = distinct;
        self.counts = counts;
        Ok(())
    }
}

/// One line of the rejects file (`row,value,reason`, RFC 4180 quoting), appended to `out`.
pub fn write_reject(reject: &Reject, out: &mut String) {
    use std::fmt::Write;
    let _ = write!(out, "{},", reject.row);
    csv_field(&reject.value, out);
    out.push(',');
    csv_field(&reject.reason, out);
    out.push('\n');
}

/// The rejects file's header line.
pub const REJECTS_HEADER: &str = "row,value,reason\n";

/// Appends `value` as one CSV field, quoted when it must be. A value a spreadsheet would
/// read as a formula (`=`, `+`, `-`, `@` first) is kept as text by a leading `'`, except a
/// phone number's leading `+`.
pub fn csv_field(value: &str, out: &mut String) {
    let formula = value.starts_with(['=', '-', '@'])
        || (value.starts_with('+') && !value[1..].chars().all(|c| c.is_ascii_digit()));
    let quote = formula || value.contains([',', '"', '\n', '\r']);
    if !quote {
        out.push_str(value);
        return;
    }
    out.push('"');
    if formula {
        out.push('\'');
    }
    for c in value.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::rows::RowReader;

    /// Plans `file` as the job-files function does: header first, then the rows from where
    /// it ends, in chunks of 7 bytes.
    fn plan_file(
        file: &str,
        template: &str,
        batch_size: usize,
        suppressed: &[&str],
    ) -> (Plan, Vec<PlannedBatch>, Vec<Reject>) {
        plan_file_smart(file, template, batch_size, suppressed, false)
    }

    /// [`plan_file`], with smart encoding as given and the texts previewed.
    fn plan_file_smart(
        file: &str,
        template: &str,
        batch_size: usize,
        suppressed: &[&str],
        smart_encoding: bool,
    ) -> (Plan, Vec<PlannedBatch>, Vec<Reject>) {
        plan_file_with(file, template, batch_size, suppressed, |plan| {
            plan.with_smart_encoding(smart_encoding)
        })
    }

    /// [`plan_file`], with the plan's options set by `configure`.
    fn plan_file_with(
        file: &str,
        template: &str,
        batch_size: usize,
        suppressed: &[&str],
        configure: impl FnOnce(Plan) -> Plan,
    ) -> (Plan, Vec<PlannedBatch>, Vec<Reject>) {
        let layout = FileLayout {
            format: FileFormat::Csv,
            phone_column: None,
        };
        let header = crate::domain::rows::read_header(file.as_bytes(), true).unwrap();
        let (phone, bound) = layout
            .bind(Some(&header.names), &Template::parse(template).unwrap())
            .unwrap();
        let mut plan = configure(Plan::new(phone, bound, batch_size)).with_text_previews();
        let suppressed: HashSet<PhoneNumber> = suppressed
            .iter()
            .map(|n| PhoneNumber::parse(n).unwrap())
            .collect();
        let (mut batches, mut rejects) = (Vec::new(), Vec::new());
        let mut reader = RowReader::resume(FileFormat::Csv, header.names, 1, header.end);
        let mut on_row = |row: Row<'_>| {
            plan.row(row);
            if plan.wants_screening() {
                plan.admit(&suppressed);
            }
            batches.extend(plan.take_ready());
            rejects.extend(plan.take_rejects());
        };
        for chunk in file.as_bytes()[header.end as usize..].chunks(7) {
            reader.feed(chunk, &mut on_row);
        }
        reader.finish(&mut on_row);
        plan.admit(&suppressed);
        plan.flush();
        batches.extend(plan.take_ready());
        rejects.extend(plan.take_rejects());
        (plan, batches, rejects)
    }

    fn numbers(batch: &PlannedBatch) -> Vec<&str> {
        batch.recipients.iter().map(PhoneNumber::as_str).collect()
    }

    #[test]
    fn identical_texts_share_batches_and_distinct_ones_get_their_own() {
        let file = "phone,first_name\n+14155550100,Ana\n+14155550101,Bo\n+14155550102,Ana\n+14155550103,Ana\n+14155550104,\n";
        let (plan, batches, rejects) = plan_file(file, "Hi {{first_name|there}}", 2, &[]);
        let summary: Vec<(&str, Vec<&str>)> = batches
            .iter()
            .map(|b| (b.text.as_str(), numbers(b)))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("Hi Ana", vec!["+14155550100", "+14155550102"]),
                ("Hi Ana", vec!["+14155550103"]),
                ("Hi Bo", vec!["+14155550101"]),
                ("Hi there", vec!["+14155550104"]),
            ]
        );
        assert!(rejects.is_empty());
        assert_eq!(
            plan.counts(),
            PlanCounts {
                rows: 5,
                accepted: 5,
                duplicates: 0,
                suppressed: 0,
                rejected: 0,
                landlines: 0,
                landlines_skipped: 0,
                distinct_texts: 3,
                segments: 5,
            }
        );
    }

    #[test]
    fn numbers_no_one_can_have_are_rejected_with_the_reason() {
        // `+1 555 0100` as people write it, an area code not in use, a number too short for
        // the UK, and one good row.
        let file = "phone\n+1 555-0100\n+1 (555) 555-0100\n+44 20 7123 45\n+1 415 555 0100\n";
        let (plan, batches, rejects) = plan_file(file, "Hi", 10, &[]);
        assert_eq!(batches.len(), 1);
        assert_eq!(numbers(&batches[0]), ["+14155550100"]);
        let got: Vec<(u64, &str, &str)> = rejects
            .iter()
            .map(|r| (r.row, r.value.as_str(), r.reason.as_str()))
            .collect();
        let no_range = "number is not a valid number for +1 (US, AG, AI and 22 more): no such area code or number range";
        assert_eq!(
            got,
            [
                (2, "+1 555-0100", no_range),
                (3, "+1 (555) 555-0100", no_range),
                (
                    4,
                    "+44 20 7123 45",
                    "number is not a valid number for +44 (GB, GG, IM, JE): 8 digits after +44, where numbers there have 7, 9 or 10"
                ),
            ]
        );
        assert_eq!((plan.counts().rejected, plan.counts().accepted), (3, 1));
    }

    #[test]
    fn rows_a_sender_id_cannot_reach_are_rejected_and_the_rest_batched() {
        let file = "phone\n+447400123456\n+1 415 555 0100\n+16135550123\n";
        let sender = Sender::parse("Acme").unwrap();
        let (plan, batches, rejects) =
            plan_file_with(file, "Hi", 10, &[], |plan| plan.with_sender(&sender));
        assert_eq!(numbers(&batches[0]), ["+447400123456"]);
        let reason = |region: &str| {
            format!(
                "number is in {region}, where carriers take no message from a sender ID \
                 (Acme): send from a number or a Powerpack"
            )
        };
        assert_eq!(
            rejects,
            [
                Reject {
                    row: 3,
                    value: "+1 415 555 0100".into(),
                    reason: reason("US"),
                },
                Reject {
                    row: 4,
                    value: "+16135550123".into(),
                    reason: reason("CA"),
                },
            ]
        );
        assert_eq!((plan.counts().accepted, plan.counts().rejected), (1, 2));

        let number = Sender::parse("+14155550100").unwrap();
        let (_, batches, rejects) =
            plan_file_with(file, "Hi", 10, &[], |plan| plan.with_sender(&number));
        assert_eq!(batches[0].recipients.len(), 3);
        assert!(rejects.is_empty());
    }

    #[test]
    fn landlines_are_counted_and_with_skip_landlines_left_out_with_a_reject_line() {
        // A London landline (twice), a UK mobile, a US number (landline or mobile).
        let file = "phone\n+44 20 7123 4567\n+447400123456\n+442071234567\n+14155550100\n";
        let (plan, batches, rejects) = plan_file(file, "Hi", 10, &[]);
        assert_eq!(
            numbers(&batches[0]),
            ["+442071234567", "+447400123456", "+14155550100"]
        );
        assert!(rejects.is_empty());
        let counts = plan.counts();
        assert_eq!((counts.landlines, counts.landlines_skipped), (1, 0));
        assert_eq!((counts.accepted, counts.duplicates), (3, 1));

        let (plan, batches, rejects) =
            plan_file_with(file, "Hi", 10, &[], |plan| plan.with_skip_landlines(true));
        assert_eq!(numbers(&batches[0]), ["+447400123456", "+14155550100"]);
        assert_eq!(
            rejects,
            [Reject {
                row: 2,
                value: "+44 20 7123 4567".into(),
                reason: "number is a landline in GB (+44): it cannot receive SMS; skipped (skip_landlines)".into(),
            }]
        );
        let counts = plan.counts();
        assert_eq!((counts.landlines, counts.landlines_skipped), (1, 1));
        // Every row is one of accepted, duplicate, suppressed, rejected or skipped.
        assert_eq!(
            (counts.accepted, counts.duplicates, counts.rejected),
            (2, 1, 0)
        );
        assert_eq!(counts.rows, 4);
    }

    #[test]
    fn smart_encoding_batches_texts_that_differ_by_a_lookalike_together() {
        use crate::domain::text::Encoding;
        let file = "phone,name\n+14155550100,O\u{2019}Neil\n+14155550101,O'Neil\n+14155550102,Zo\u{eb}\u{2026}\n";
        let texts = |batches: &[PlannedBatch]| -> Vec<(String, Encoding, usize)> {
            batches
                .iter()
                .map(|b| {
                    let t = &b.text;
                    (t.as_str().to_owned(), t.encoding(), b.recipients.len())
                })
                .collect()
        };

        let (plain, batches, _) = plan_file(file, "Hi {{name}}", 1000, &[]);
        assert_eq!(texts(&batches).len(), 3, "without it, three texts");
        assert_eq!(plain.counts().distinct_texts, 3);

        let (smart, batches, _) = plan_file_smart(file, "Hi {{name}}", 1000, &[], true);
        assert_eq!(
            texts(&batches),
            [
                ("Hi O'Neil".to_owned(), Encoding::Gsm7, 2),
                ("Hi Zo\u{eb}...".to_owned(), Encoding::Ucs2, 1),
            ],
            "ë has no GSM-7 form: its text stays UCS-2, its ellipsis replaced all the same"
        );
        assert_eq!(smart.counts().distinct_texts, 2);
        // Previews show the texts as rendered, each once, with what smart encoding makes of
        // them; samples show what is sent.
        let previews = smart.text_previews().unwrap().answer();
        assert_eq!(previews.texts_count, 3);
        let first = &previews.texts[0];
        assert_eq!(first.text, "Hi O\u{2019}Neil");
        assert_eq!(first.ucs2_characters[0].position, 4);
        assert_eq!(first.smart_encoding.as_ref().unwrap().text, "Hi O'Neil");
        assert_eq!(previews.texts[1].smart_encoding, None);
        assert_eq!(smart.samples()[0].text, "Hi O'Neil");
        assert_eq!(smart.samples()[0].encoding, Encoding::Gsm7);
    }

    #[test]
    fn bad_rows_are_rejected_with_their_row_number_and_reason() {
        let file = "name,phone\nAna,+14155550100\nBo,4155550101\nCy,\nDi,+1 (415) 555-0102\n,+14155550103\nAna,+14155550100\n";
        let (plan, batches, rejects) = plan_file(file, "Hi {{name}}", 1000, &["+14155550102"]);
        let rejects: Vec<(u64, &str, &str)> = rejects
            .iter()
            .map(|r| (r.row, r.value.as_str(), r.reason.as_str()))
            .collect();
        assert_eq!(
            rejects,
            vec![
                (
                    3,
                    "4155550101",
                    "number must start with '+' followed by the country code (E.164)"
                ),
                (4, "", "number must not be empty"),
                (
                    6,
                    "+14155550103",
                    "row has no value for {{name}}, which has no default"
                ),
            ]
        );
        assert_eq!(batches.len(), 1);
        assert_eq!(numbers(&batches[0]), ["+14155550100"]);
        let counts = plan.counts();
        assert_eq!(
            (
                counts.rows,
                counts.accepted,
                counts.duplicates,
                counts.suppressed,
                counts.rejected
            ),
            (6, 1, 1, 1, 3)
        );
    }

    #[test]
    fn a_rendered_text_plivo_would_refuse_is_a_reject() {
        let long = "x".repeat(1600);
        let file = format!("phone,body\n+14155550100,{long}\n+14155550101,ok\n");
        let (_, batches, rejects) = plan_file(&file, "{{body}}!", 1000, &[]);
        assert_eq!(batches.len(), 1);
        assert_eq!(rejects.len(), 1);
        assert_eq!(rejects[0].row, 2);
        assert!(
            rejects[0]
                .reason
                .starts_with("rendered text is 1601 GSM-7 characters long"),
            "{}",
            rejects[0].reason
        );
    }

    #[test]
    fn the_phone_column_is_named_or_found_and_placeholders_must_exist() {
        let layout = |format, name: Option<&str>| FileLayout {
            format,
            phone_column: name.map(str::to_owned),
        };
        let header: Vec<String> = ["Name", "Mobile", "TO"].map(String::from).into();
        let plain = Template::parse("Hi").unwrap();
        assert_eq!(
            layout(FileFormat::Csv, None)
                .bind(Some(&header), &plain)
                .unwrap()
                .0,
            2
        );
        assert_eq!(
            layout(FileFormat::Csv, Some("mobile"))
                .bind(Some(&header), &plain)
                .unwrap()
                .0,
            1
        );
        assert_eq!(
            layout(FileFormat::Csv, Some("cell"))
                .bind(Some(&header), &plain)
                .unwrap_err()
                .to_string(),
            "the file has no column \"cell\" (its columns: \"Name\", \"Mobile\", \"TO\")"
        );
        let no_phone: Vec<String> = ["a", "b"].map(String::from).into();
        assert!(matches!(
            layout(FileFormat::Csv, None).bind(Some(&no_phone), &plain),
            Err(LayoutError::NoPhoneColumn { .. })
        ));
        let personal = Template::parse("Hi {{first_name}}").unwrap();
        assert_eq!(
            layout(FileFormat::Csv, None)
                .bind(Some(&header), &personal)
                .unwrap_err()
                .to_string(),
            "text names {{first_name}} but the file has no such column"
        );
        assert_eq!(
            layout(FileFormat::Lines, None)
                .bind(None, &personal)
                .unwrap_err(),
            LayoutError::PlaceholdersWithoutColumns
        );
        assert_eq!(
            layout(FileFormat::Lines, None)
                .bind(None, &plain)
                .unwrap()
                .0,
            0
        );
        let wide: Vec<String> = (0..30).map(|i| format!("c{i}")).collect();
        let message = layout(FileFormat::Csv, None)
            .bind(Some(&wide), &plain)
            .unwrap_err()
            .to_string();
        assert!(message.ends_with("\"c19\", and 10 more)"), "{message}");
    }

    #[test]
    fn a_checkpoint_carries_what_was_seen_into_the_next_invocation() {
        let header: Vec<String> = ["phone", "n"].map(String::from).into();
        let layout = FileLayout {
            format: FileFormat::Csv,
            phone_column: None,
        };
        let template = Template::parse("Hi {{n}}").unwrap();
        let new_plan = || {
            let (phone, bound) = layout.bind(Some(&header), &template).unwrap();
            Plan::new(phone, bound, 1000)
        };
        let mut first = new_plan();
        let mut reader = RowReader::resume(FileFormat::Csv, header.clone(), 1, 0);
        reader.feed(b"+14155550100,A\n+14155550101,B\n", &mut |row| {
            first.row(row)
        });
        first.admit(&HashSet::new());
        first.flush();
        assert_eq!(first.take_ready().len(), 2);
        let saved = first.checkpoint();

        let mut second = new_plan();
        second.restore(&saved, first.counts()).unwrap();
        let mut reader = RowReader::resume(FileFormat::Csv, header, 3, 0);
        reader.feed(b"+14155550100,A\n+14155550102,A\n", &mut |row| {
            second.row(row)
        });
        second.admit(&HashSet::new());
        second.flush();
        let ready = second.take_ready();
        assert_eq!(ready.len(), 1);
        assert_eq!(numbers(&ready[0]), ["+14155550102"]);
        let counts = second.counts();
        assert_eq!(
            (
                counts.rows,
                counts.accepted,
                counts.duplicates,
                counts.distinct_texts
            ),
            (4, 3, 1, 2),
            "text A is not counted twice"
        );

        assert!(second.restore(&saved[..saved.len() - 8], counts).is_err());
        assert!(
            second
                .restore(&[saved.as_slice(), &[0; 8]].concat(), counts)
                .is_err()
        );
    }

    #[test]
    fn reject_lines_are_csv_a_spreadsheet_reads_as_text() {
        let mut out = String::new();
        write_reject(
            &Reject {
                row: 7,
                value: "=HYPERLINK(\"x\")".into(),
                reason: "number must, \"start\"".into(),
            },
            &mut out,
        );
        write_reject(
            &Reject {
                row: 8,
                value: "+14155550100".into(),
                reason: "duplicate".into(),
            },
            &mut out,
        );
        write_reject(
            &Reject {
                row: 9,
                value: "+1 415,55".into(),
                reason: "x".into(),
            },
            &mut out,
        );
        assert_eq!(
            out,
            "7,\"'=HYPERLINK(\"\"x\"\")\",\"number must, \"\"start\"\"\"\n8,+14155550100,duplicate\n9,\"'+1 415,55\",x\n"
        );
    }
}
