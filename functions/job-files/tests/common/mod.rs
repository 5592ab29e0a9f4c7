//! What job-files' tests share: an in-memory bucket that fails on demand.

use std::{sync::Mutex, time::Duration};

use chrono::{DateTime, Utc};
use sms_core::files::{
    FileError, MemoryFiles, ObjectBody, ObjectInfo, ObjectStore, PresignedRequest,
};

/// The in-memory bucket, with faults on demand: the next write of a key that contains a given
/// text, or the next upload of a given part, fails, as an S3 outage or a dying invocation
/// would leave it.
#[derive(Debug, Default)]
pub struct FaultyFiles {
    inner: MemoryFiles,
    /// The next `put` of a key containing this text fails.
    pub fail_next_put: Mutex<Option<&'static str>>,
    /// The next upload of this part number fails.
    pub fail_next_part: Mutex<Option<u32>>,
}

impl std::ops::Deref for FaultyFiles {
    type Target = MemoryFiles;
    fn deref(&self) -> &MemoryFiles {
        &self.inner
    }
}

impl ObjectStore for FaultyFiles {
    async fn presign_put(
        &self,
        key: &str,
        size: u64,
        content_type: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<PresignedRequest, FileError> {
        self.inner
            .presign_put(key, size, content_type, ttl, now)
            .await
    }
    async fn presign_get(
        &self,
        key: &str,
        name: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<PresignedRequest, FileError> {
        self.inner.presign_get(key, name, ttl, now).await
    }
    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, FileError> {
        self.inner.head(key).await
    }
    async fn read(
        &self,
        key: &str,
        etag: &str,
        start: u64,
        len: Option<u64>,
    ) -> Result<ObjectBody, FileError> {
        self.inner.read(key, etag, start, len).await
    }
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), FileError> {
        let injected = {
            let mut fault = self.fail_next_put.lock().unwrap();
            let hit = fault.is_some_and(|part| key.contains(part));
            if hit {
                *fault = None;
            }
            hit
        };
        if injected {
            return Err(FileError::Backend {
                operation: "PutObject",
                reason: format!("{key}: injected"),
            });
        }
        self.inner.put(key, body, content_type).await
    }
    async fn start_multipart(&self, key: &str, content_type: &str) -> Result<String, FileError> {
        self.inner.start_multipart(key, content_type).await
    }
    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part: u32,
        body: Vec<u8>,
    ) -> Result<(), FileError> {
        let injected = {
            let mut fault = self.fail_next_part.lock().unwrap();
            let hit = *fault == Some(part);
            if hit {
                *fault = None;
            }
            hit
        };
        if injected {
            return Err(FileError::Backend {
                operation: "UploadPart",
                reason: format!("{key} part {part}: injected"),
            });
        }
        self.inner.upload_part(key, upload_id, part, body).await
    }
    async fn complete_multipart(&self, key: &str, upload_id: &str) -> Result<(), FileError> {
        self.inner.complete_multipart(key, upload_id).await
    }
    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), FileError> {
        self.inner.abort_multipart(key, upload_id).await
    }
    async fn delete(&self, key: &str) -> Result<(), FileError> {
        self.inner.delete(key).await
    }
}

/// Plivo's records at `plivo_url`, read with the test secret: what settles unknown batches.
/// Settling takes records as complete as soon as a batch has ended.
#[allow(dead_code)] // not every test file settles batches
pub fn records(plivo_url: &str) -> job_files::Records {
    job_files::Records {
        plivo: sms_test_support::fast_plivo(plivo_url),
        secrets: Box::new(sms_core::secrets::SecretCache::new(
            sms_core::secrets::StaticSecret(sms_test_support::service_secret("t")),
            std::time::Duration::from_secs(60),
        )),
        settings: job_files::ReconcileSettings {
            settle_after_seconds: 0,
            ..job_files::ReconcileSettings::default()
        },
    }
}

/// Records nobody reads: for tests that settle no batch.
#[allow(dead_code)]
pub fn no_records() -> job_files::Records {
    records("http://127.0.0.1:9")
}
