//! `make bench`: the planner's own cost on one core, with the store and the queue stubbed.
//! `plan_peak FILE [TEXT]` reads FILE (a recipient CSV, see infra/tests/make-recipients.py)
//! in 1 MiB chunks, as the planner streams an upload, through the same steps it takes per
//! row (parse, validate, render, de-duplicate, screen in chunks, batch by text, rejects
//! written as CSV), with an empty suppression list and batches dropped where the planner
//! writes them. Run it under `/usr/bin/time` for CPU and peak memory.

use std::{collections::HashSet, io::Read, time::Instant};

use sms_core::domain::{
    plan::{FileLayout, Plan, write_reject},
    rows::{FileFormat, RowReader, read_header},
    template::Template,
};

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: plan_peak FILE [TEXT]")?;
    let text = args
        .next()
        .unwrap_or_else(|| "Hi {{first_name|there}}, your order {{order}} has shipped".into());
    let started = Instant::now();
    let mut file = std::fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?;
    let mut chunk = vec![0u8; 1 << 20];
    let first = file.read(&mut chunk).map_err(|e| e.to_string())?;
    let header = read_header(&chunk[..first], first < chunk.len()).map_err(|e| e.to_string())?;
    let layout = FileLayout {
        format: FileFormat::Csv,
        phone_column: None,
    };
    let template = Template::parse(&text).map_err(|e| e.to_string())?;
    let (phone, bound) = layout
        .bind(Some(&header.names), &template)
        .map_err(|e| e.to_string())?;
    let mut plan = Plan::new(phone, bound, 1000);
    let mut reader = RowReader::resume(FileFormat::Csv, header.names, 1, header.end);
    let suppressed = HashSet::new();
    let (mut batches, mut rejects_bytes) = (0usize, 0usize);
    let mut rejects = String::new();
    let mut step = |plan: &mut Plan| {
        if plan.wants_screening() {
            plan.admit(&suppressed);
        }
        batches += plan.take_ready().len();
        rejects.clear();
        for reject in plan.take_rejects() {
            write_reject(&reject, &mut rejects);
        }
        rejects_bytes += rejects.len();
    };
    let mut bytes = &chunk[header.end as usize..first];
    loop {
        reader.feed(bytes, &mut |row| {
            plan.row(row);
            step(&mut plan);
        });
        let n = file.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        bytes = &chunk[..n];
    }
    reader.finish(&mut |row| {
        plan.row(row);
        step(&mut plan);
    });
    plan.admit(&suppressed);
    plan.flush();
    step(&mut plan);
    let counts = plan.counts();
    println!(
        "  rows {} → accepted {}, duplicates {}, rejected {} ({} bytes of rejects), {} distinct texts, {} segments, {} batches in {:.2} s",
        counts.rows,
        counts.accepted,
        counts.duplicates,
        counts.rejected,
        rejects_bytes,
        counts.distinct_texts,
        counts.segments,
        batches,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
