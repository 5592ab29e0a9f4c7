//! Every object key of the bucket, spelled once. The bucket's lifecycle rules expire objects
//! by the two prefixes below, so every key starts with one of them: a key outside them would
//! be kept for ever.
//!
//! | key                                   | holds                                        |
//! |---------------------------------------|----------------------------------------------|
//! | `uploads/<upload id>`                 | a client's upload of recipients (CSV)        |
//! | `jobs/<job id>/rejects.csv`           | a job's rejected entries, whole              |
//! | `jobs/<job id>/rejects/<n>.csv`       | one segment of them, written page by page    |
//! | `jobs/<job id>/results.csv`           | a job's results                              |
//! | `jobs/<job id>/plan-checkpoint`       | how far a job's planning got                 |

use uuid::Uuid;

use crate::domain::ids::JobId;

/// Where clients' uploads land.
pub const UPLOADS_PREFIX: &str = "uploads/";

/// Where every file of a job lives.
pub const JOBS_PREFIX: &str = "jobs/";

/// A client's upload.
pub fn upload(upload_id: &Uuid) -> String {
    format!("{UPLOADS_PREFIX}{upload_id}")
}

/// A job's rejects file, whole.
pub fn rejects(job_id: &JobId) -> String {
    format!("{JOBS_PREFIX}{job_id}/rejects.csv")
}

/// Segment `n` of a job's rejects; six digits, so the segments list in order.
pub fn rejects_segment(job_id: &JobId, n: u32) -> String {
    format!("{JOBS_PREFIX}{job_id}/rejects/{n:06}.csv")
}

/// A job's results file.
pub fn results(job_id: &JobId) -> String {
    format!("{JOBS_PREFIX}{job_id}/results.csv")
}

/// A job's planning checkpoint.
pub fn checkpoint(job_id: &JobId) -> String {
    format!("{JOBS_PREFIX}{job_id}/plan-checkpoint")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sit_under_the_prefixes_the_lifecycle_rules_name() {
        let upload_id = Uuid::parse_str("0b7e4f3c-1d2a-4c5b-9e8f-a1b2c3d4e5f6").unwrap();
        let job = JobId::parse("7f9c2a1e-3b4d-4e5f-8a6b-9c0d1e2f3a4b").unwrap();

        assert_eq!(
            upload(&upload_id),
            "uploads/0b7e4f3c-1d2a-4c5b-9e8f-a1b2c3d4e5f6"
        );
        assert_eq!(
            rejects(&job),
            "jobs/7f9c2a1e-3b4d-4e5f-8a6b-9c0d1e2f3a4b/rejects.csv"
        );
        assert_eq!(
            rejects_segment(&job, 7),
            "jobs/7f9c2a1e-3b4d-4e5f-8a6b-9c0d1e2f3a4b/rejects/000007.csv"
        );
        assert_eq!(
            results(&job),
            "jobs/7f9c2a1e-3b4d-4e5f-8a6b-9c0d1e2f3a4b/results.csv"
        );
        assert_eq!(
            checkpoint(&job),
            "jobs/7f9c2a1e-3b4d-4e5f-8a6b-9c0d1e2f3a4b/plan-checkpoint"
        );
        assert!(upload(&upload_id).starts_with(UPLOADS_PREFIX));
        for key in [
            rejects(&job),
            rejects_segment(&job, 1),
            results(&job),
            checkpoint(&job),
        ] {
            assert!(key.starts_with(JOBS_PREFIX), "{key}");
        }
    }
}
