//! A recipient file through the whole local stack: `POST /v1/uploads` → a presigned PUT to
//! S3 (moto) → `POST /v1/bulk` with `upload_id` → the files queue → job-files (the plan) →
//! the batch queue → the sender → the simulator. Every valid row's recipient gets exactly
//! one message with exactly its rendered text; the rejects file lists exactly the bad rows.

use std::collections::{BTreeMap, HashMap};

use e2e::Stack;
use serde_json::json;

const ROWS: usize = 20_000;
const NAMES: [&str; 7] = ["Ana", "Bo", "Cy", "Dee", "Émile", "Fu", ""];

/// The file and what must come of it: each valid recipient's text, and the rejects file.
struct Expected {
    csv: String,
    texts: BTreeMap<String, String>,
    rejects: String,
}

fn recipients_file() -> Expected {
    let mut csv = String::from("phone,first_name,order\n");
    let mut texts = BTreeMap::new();
    let mut rejects = String::from("row,value,reason\n");
    for i in 0..ROWS {
        let row = i + 2;
        let name = NAMES[i % NAMES.len()];
        let order = 500_000 + i;
        let phone = if i % 997 == 5 {
            // Rejected: no country code.
            let raw = format!("212{i:07}");
            rejects.push_str(&format!(
                "{row},{raw},number must start with '+' followed by the country code (E.164)\n"
            ));
            raw
        } else if i % 1_000 == 999 {
            // A repeat of the row before's number: counted, not sent again.
            format!(
                "+1 (212) {:03}-{:04}",
                200 + (i - 1) / 10_000,
                (i - 1) % 10_000
            )
        } else {
            // Exchanges from 200: valid by the numbering plans.
            let phone = format!("+1212{:03}{:04}", 200 + i / 10_000, i % 10_000);
            let display = if name.is_empty() { "there" } else { name };
            texts.insert(
                phone.clone(),
                format!("Hi {display}, your order has shipped"),
            );
            phone
        };
        csv.push_str(&format!("{phone},{name},{order}\n"));
    }
    Expected {
        csv,
        texts,
        rejects,
    }
}

#[tokio::test]
async fn a_personalised_upload_reaches_every_valid_row_once_with_its_own_text() {
    let stack = Stack::from_env();
    stack.sim_reset().await;
    stack.sim_config(json!({"reports": false})).await;
    let expected = recipients_file();
    let upload_id = stack.upload(expected.csv.as_bytes()).await;

    // A dry run renders the first rows and counts them all.
    // One text per first name (and "there" for none): recipients of the same text share
    // batches, as they share Plivo requests.
    let text = "Hi {{first_name|there}}, your order has shipped";
    let (status, dry) = stack
        .post(
            "/v1/bulk",
            &json!({"upload_id": upload_id, "text": text, "dry_run": true}),
            &[],
        )
        .await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(dry["rows"]["accepted"], expected.texts.len());
    assert_eq!(dry["samples"][0]["text"], "Hi Ana, your order has shipped");

    let (status, started) = stack
        .post(
            "/v1/bulk",
            &json!({"upload_id": upload_id, "text": text}),
            &[("idempotency-key", "e2e-upload-1")],
        )
        .await;
    assert_eq!(status, 202, "{started}");
    assert_eq!(started["status"], "planning");
    let job_id = started["job_id"].as_str().unwrap().to_owned();

    let progress = stack
        .wait_for_job(&job_id, 900, |p| {
            p["status"] == "failed" || e2e::all_batches_ended(p)
        })
        .await;
    assert_eq!(progress["status"], "done", "{progress}");
    assert_eq!(progress["accepted"], expected.texts.len());
    assert_eq!(progress["distinct_texts"], NAMES.len());
    assert_eq!(progress["planning"]["state"], "committed");
    let rows = &progress["planning"]["rows"];
    assert_eq!(rows["rows"], ROWS);
    assert_eq!(rows["rejected"], 21);
    // Every thousandth row repeats the one before, but row 1,999's is itself a reject.
    assert_eq!(rows["duplicates"], 19);

    // Every valid recipient exactly once, with exactly its text.
    let mut received: HashMap<String, Vec<String>> = HashMap::new();
    for request in stack
        .sim_requests()
        .await
        .iter()
        .filter(|r| r["outcome"] == "accepted")
    {
        let text = request["text"].as_str().unwrap().to_owned();
        for dst in request["dst"].as_array().unwrap() {
            received
                .entry(format!(
                    "+{}",
                    dst.as_str().unwrap().trim_start_matches('+')
                ))
                .or_default()
                .push(text.clone());
        }
    }
    assert_eq!(
        received.len(),
        expected.texts.len(),
        "every valid recipient reached"
    );
    for (phone, text) in &expected.texts {
        assert_eq!(received.get(phone), Some(&vec![text.clone()]), "{phone}");
    }

    // The rejects file, through the link the job status gives.
    let rejects = stack.download(&progress["planning"]["rejects"]).await;
    assert_eq!(rejects, expected.rejects);

    // The results file: every valid recipient once. Reports are off here, so no message has
    // a status yet, and a uuid can be told only where a batch has one recipient; where it
    // is told it is the simulator's.
    let results = stack.results_file(&job_id).await;
    let sent = e2e::simulated_messages(&stack).await;
    let mut lines = results.lines();
    assert_eq!(
        lines.next(),
        Some("number,message_uuid,status,error_code,units,amount,updated_at")
    );
    let mut rows = BTreeMap::new();
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        let [number, uuid, status, "", "", "", ""] = fields[..] else {
            panic!("unexpected row {line}");
        };
        assert_eq!(status, "no_report", "{line}");
        if !uuid.is_empty() {
            assert_eq!(sent[number], [uuid], "{line}");
        }
        assert!(
            rows.insert(number.to_owned(), ()).is_none(),
            "{number} twice"
        );
    }
    assert_eq!(
        rows.keys().collect::<Vec<_>>(),
        expected.texts.keys().collect::<Vec<_>>()
    );

    // The same request again replays the first answer and plans nothing more.
    let (status, again) = stack
        .post(
            "/v1/bulk",
            &json!({"upload_id": upload_id, "text": text}),
            &[("idempotency-key", "e2e-upload-1")],
        )
        .await;
    assert_eq!((status, again), (202, started));
}

#[tokio::test]
async fn a_results_file_names_each_recipients_message_and_final_status() {
    // 30 deliverable numbers and 6 in the simulator's undeliverable range, with two first
    // names: two texts, so two batches; every message's reports arrive out of order.
    let stack = Stack::from_env();
    stack.sim_reset().await;
    stack.sim_config(json!({"report_mode": "shuffle"})).await;
    let mut csv = String::from("first_name,to\n");
    let mut numbers: Vec<String> = (0..30)
        .map(|i| format!("+1213{:07}", 2_000_000 + i))
        .collect();
    numbers.extend((0..6).map(|i| format!("+131255501{}", 10 + i)));
    for (i, number) in numbers.iter().enumerate() {
        csv.push_str(&format!("{},{number}\n", ["Ana", "Bo"][i % 2]));
    }
    let upload_id = stack.upload(csv.as_bytes()).await;
    let (status, started) = stack
        .post(
            "/v1/bulk",
            &json!({"upload_id": upload_id, "text": "Hi {{first_name}}"}),
            &[],
        )
        .await;
    assert_eq!(status, 202, "{started}");
    let job_id = started["job_id"].as_str().unwrap().to_owned();
    let progress = stack
        .wait_for_job(&job_id, 300, |p| {
            p["status"] == "failed"
                || (p["messages"]["delivered"] == 30 && p["messages"]["undelivered"] == 6)
        })
        .await;
    assert_eq!(progress["batches"]["total"], 2, "{progress}");

    // Each row is the simulator's message for that number, at its final status, with
    // Plivo's error code, units and amount as the reports gave them (the simulator charges
    // 0.005 a unit and reports undelivered messages with error 70).
    let results = stack.results_file(&job_id).await;
    let sent = e2e::simulated_messages(&stack).await;
    let mut got: Vec<String> = results
        .lines()
        .skip(1)
        .map(|line| line.rsplit_once(',').unwrap().0.to_owned())
        .collect();
    got.sort();
    let mut want: Vec<String> = numbers
        .iter()
        .map(|n| {
            let [uuid] = &sent[n][..] else {
                panic!("{n} was sent {} times", sent[n].len())
            };
            let (status, error) = if n.starts_with("+131255501") {
                ("undelivered", "70")
            } else {
                ("delivered", "")
            };
            format!("{n},{uuid},{status},{error},1,0.00500")
        })
        .collect();
    want.sort();
    assert_eq!(got, want);
    assert!(
        results
            .lines()
            .skip(1)
            .all(|l| l.rsplit_once(',').unwrap().1.ends_with('Z')),
        "every row has its report's time"
    );
}

#[tokio::test]
async fn bad_files_are_refused_before_any_job_exists() {
    let stack = Stack::from_env();
    let (status, problem) = stack
        .post("/v1/uploads", &json!({"size": 3_000_000_000u64}), &[])
        .await;
    assert_eq!(status, 413, "{problem}");
    let cases: [(&[u8], &str); 3] = [
        (b"phone,first_name\n", "no rows"),
        (b"\x00\x01\x02binary", "not text"),
        (b"name\nAna\n", "no phone column"),
    ];
    for (bytes, words) in cases {
        let upload_id = stack.upload(bytes).await;
        let (status, problem) = stack
            .post(
                "/v1/bulk",
                &json!({"upload_id": upload_id, "text": "Hi"}),
                &[],
            )
            .await;
        assert_eq!(status, 400, "{problem}");
        let message = problem["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains(words), "{message:?} should say {words:?}");
    }
}
