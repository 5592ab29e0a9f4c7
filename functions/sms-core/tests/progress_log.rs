//! A job's progress samples (`store::ProgressLog`): every scenario runs against the DynamoDB
//! adapter in moto and against the in-memory adapter.
//!
//! Needs moto: run through `make test` or `infra/tests/with-moto.sh cargo test`.

use chrono::{DateTime, Duration, TimeZone, Utc};
use futures::future::join_all;
use sms_core::{
    domain::ids::JobId,
    store::{ProgressLog, ProgressSample},
};

fn at(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
}

pub async fn ended_batches_add_up_per_ten_second_sample_and_per_job<S: ProgressLog>(store: &S) {
    let (job, other) = (JobId::random(), JobId::random());
    // Forty senders ending a batch of 1,000 at once, in one sample: nothing is lost.
    join_all((0..40).map(|_| store.note_progress(&job, 1_000, at(3))))
        .await
        .into_iter()
        .for_each(|r| r.unwrap());
    store.note_progress(&job, 7, at(12)).await.unwrap();
    store.note_progress(&job, 5, at(100)).await.unwrap();
    store.note_progress(&other, 1, at(12)).await.unwrap();

    let samples = store.recent_progress(&job, at(0)).await.unwrap();
    assert_eq!(
        samples,
        [
            ProgressSample {
                start: at(0),
                recipients: 40_000
            },
            ProgressSample {
                start: at(10),
                recipients: 7
            },
            ProgressSample {
                start: at(100),
                recipients: 5
            },
        ]
    );
    // Only the samples from `since`'s on.
    let recent = store
        .recent_progress(&job, at(100) - Duration::seconds(60))
        .await
        .unwrap();
    assert_eq!(
        recent,
        [ProgressSample {
            start: at(100),
            recipients: 5
        }]
    );
    assert!(
        store
            .recent_progress(&JobId::random(), at(0))
            .await
            .unwrap()
            .is_empty()
    );
}

sms_test_support::both_adapters!(
    crate;
    ended_batches_add_up_per_ten_second_sample_and_per_job,
);
