//! The send-bulk core on large lists: JSON body → parsed request → recipient list (E.164,
//! numbering plans, de-duplication, invalid entries) → batches. Run with `make bench`.

use std::{collections::HashSet, hint::black_box};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use send_bulk::{BulkRequest, BulkRequestBody, Intake};
use sms_core::domain::bulk::RecipientList;

/// A request body of `n` entries: 1% duplicates and 1% invalid, like a real export. The
/// numbers are San Francisco's from exchange 200 on (valid by the numbering plans), with a
/// London landline every 50th and an area code not in use every 1,000th.
pub fn body(n: usize) -> String {
    let number = |i: usize| format!("\"+1415{:07}\"", 2_000_000 + i);
    let recipients: Vec<String> = (0..n)
        .map(|i| match i % 100 {
            0 if i > 0 => number(i - 1),
            1 => "\"555-0100\"".to_owned(),
            50 => format!("\"+44207{:07}\"", i / 100),
            _ if i % 1000 == 2 => format!("\"+1555{:07}\"", i),
            _ => number(i),
        })
        .collect();
    format!(
        "{{\"recipients\":[{}],\"text\":\"Flash sale: 20% off today only\"}}",
        recipients.join(",")
    )
}

fn intake(c: &mut Criterion) {
    let src = sms_core::Sender::parse("+14155550100").unwrap();
    let mut group = c.benchmark_group("send-bulk intake");
    group.sample_size(10);
    for n in [10_000, 100_000, 300_000] {
        let json = body(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &json, |b, json| {
            b.iter(|| {
                let parsed: BulkRequestBody = serde_json::from_str(json).unwrap();
                let request = BulkRequest::parse(parsed, &src).unwrap();
                let list = RecipientList::parse(&request.recipients, request.skip_landlines);
                let intake =
                    Intake::build(list, &HashSet::new(), &request.text, 1000, false).unwrap();
                black_box(intake.batches.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, intake);
criterion_main!(benches);
