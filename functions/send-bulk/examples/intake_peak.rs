//! Peak memory of the send-bulk core for one list size: `make bench` runs this under
//! `/usr/bin/time -v` for each size and reports the maximum resident set.
//!
//! Usage: `intake_peak <recipients>`

use std::{collections::HashSet, io::Write};

use send_bulk::{BulkRequest, BulkRequestBody, Intake};
use sms_core::domain::bulk::RecipientList;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(300_000);
    // San Francisco numbers from exchange 200 on: valid by the numbering plans, as a real
    // list's are.
    let recipients: Vec<String> = (0..n)
        .map(|i| format!("\"+1415{:07}\"", 2_000_000 + i))
        .collect();
    let json = format!(
        "{{\"recipients\":[{}],\"text\":\"Flash sale\"}}",
        recipients.join(",")
    );
    drop(recipients);
    let src = sms_core::Sender::parse("+14155550100").expect("valid sender");
    let started = std::time::Instant::now();
    let parsed: BulkRequestBody = serde_json::from_str(&json).expect("valid body");
    let request = BulkRequest::parse(parsed, &src).expect("valid request");
    let list = RecipientList::parse(&request.recipients, request.skip_landlines);
    let intake =
        Intake::build(list, &HashSet::new(), &request.text, 1000, false).expect("recipients left");
    let batches: Vec<String> = intake
        .batches
        .iter()
        .map(|b| serde_json::to_string(b).expect("encodable"))
        .collect();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "recipients={n} body_bytes={} batches={} elapsed_ms={}",
        json.len(),
        batches.len(),
        started.elapsed().as_millis()
    );
}
