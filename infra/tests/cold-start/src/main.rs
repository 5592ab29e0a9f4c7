//! `cold-start [--runs N] [--env KEY=VALUE]... HELLO BINARY...`: the cold start of each binary (exec → first
//! `/next`, see the library), N times (default 20) each, interleaved so that the shared
//! machine's load falls on all alike, after one unmeasured warm-up run each. Prints the
//! median and p90 of every binary and, for all but the first (the `hello` baseline), the
//! ratio of its median to hello's against the target of 3×. `--env` adds to (or overrides)
//! the environment every binary is given, for experiments such as
//! `--env SSL_CERT_FILE=/etc/pki/tls/certs/ca-bundle.crt`.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use cold_start::{measure_once, summarize};

const TARGET_RATIO: f64 = 3.0;

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut runs = 20usize;
    let mut extra_env = Vec::new();
    loop {
        match (args.first().map(String::as_str), args.get(1)) {
            (Some("--runs"), Some(n)) => match n.parse().ok().filter(|&n| n > 0) {
                Some(n) => runs = n,
                None => return usage(),
            },
            (Some("--env"), Some(kv)) => match kv.split_once('=') {
                Some((k, v)) if !k.is_empty() => extra_env.push((k.to_owned(), v.to_owned())),
                _ => return usage(),
            },
            _ => break,
        }
        args.drain(..2);
    }
    if args.len() < 2 {
        return usage();
    }
    let binaries: Vec<PathBuf> = args.iter().map(PathBuf::from).collect();
    let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(runs); binaries.len()];
    let mut failed: Vec<Option<String>> = vec![None; binaries.len()];
    for round in 0..=runs {
        for (i, binary) in binaries.iter().enumerate() {
            if failed[i].is_some() {
                continue;
            }
            match measure_once(binary, &extra_env) {
                Ok(_) if round == 0 => {} // warm-up: page cache, first exec
                Ok(d) => samples[i].push(d),
                Err(e) => failed[i] = Some(e),
            }
        }
    }

    println!(
        "  {:<18} {:>9} {:>9} {:>8}",
        "binary", "median", "p90", "size"
    );
    let mut hello_median = None;
    for (i, binary) in binaries.iter().enumerate() {
        let name = binary.file_name().map_or_else(
            || binary.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let size = std::fs::metadata(binary).map_or(0.0, |m| m.len() as f64 / (1 << 20) as f64);
        let Some(summary) = summarize(&samples[i]).filter(|_| failed[i].is_none()) else {
            let why = failed[i].as_deref().unwrap_or("no runs");
            println!("  {name:<18} FAILED: {why}");
            continue;
        };
        let mut line = format!(
            "  {name:<18} {:>6.2} ms {:>6.2} ms {size:>5.1} MiB",
            ms(summary.median),
            ms(summary.p90)
        );
        match hello_median {
            None => {
                hello_median = Some(summary.median);
                line.push_str("  (baseline, N = ");
                line.push_str(&format!("{runs})"));
            }
            Some(hello) => {
                let ratio = ms(summary.median) / ms(hello);
                let verdict = if ratio <= TARGET_RATIO {
                    "met"
                } else {
                    "NOT met"
                };
                line.push_str(&format!(
                    "  {ratio:4.2}× hello  target ≤ {TARGET_RATIO}×: {verdict}"
                ));
            }
        }
        println!("{line}");
    }
    if failed.iter().any(Option::is_some) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: cold-start [--runs N] [--env KEY=VALUE]... HELLO BINARY...  (HELLO is the baseline)"
    );
    ExitCode::from(2)
}
