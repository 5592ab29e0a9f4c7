//! The object store port (docs/architecture.md, "The bucket"): files kept in S3 rather than
//! in the table, because they are large and written or read as a whole: a client's upload of
//! recipients, and the rejects and results files of a job. Beside the port, its S3 adapter
//! and, for tests, an in-memory one that keeps S3's rules; [`keys`] spells every object key.
//!
//! Clients never see the bucket: they get presigned requests ([`PresignedRequest`]), which
//! carry their own authorisation for one object, one method and a bounded time.

pub mod keys;
#[cfg(any(test, feature = "test-util"))]
mod memory;
mod s3;

use std::{collections::BTreeMap, future::Future, pin::Pin, time::Duration};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::Stream;
use serde::Serialize;

#[cfg(any(test, feature = "test-util"))]
pub use memory::MemoryFiles;
pub use s3::{S3Files, s3_client};

/// S3's least size of a multipart upload's part, the last one excepted.
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;

/// S3's part numbers run from 1 to this.
pub const MAX_PART_NUMBER: u32 = 10_000;

/// The longest a presigned request may stay valid: SigV4's limit of one week.
pub const MAX_PRESIGNED_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// An object's bytes, as they arrive.
pub type ObjectBody = Pin<Box<dyn Stream<Item = Result<Bytes, FileError>> + Send>>;

/// What `head` knows of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub size: u64,
    /// The version's entity tag, quoted as S3 gives it; what [`ObjectStore::read`] pins.
    pub etag: String,
}

/// What a client must send: method, URL and the headers that were signed (Content-Length,
/// Content-Type for PUT). The URL is a credential for as long as it is valid: it goes to the
/// client it is for and nowhere else (no log, no error).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PresignedRequest {
    pub method: &'static str,
    pub url: String,
    pub headers: BTreeMap<String, String>,
    pub expires_at: DateTime<Utc>,
}

/// Why an object operation failed. The messages name the key and the operation, never a URL:
/// a presigned one would hand its signature to whoever reads the log.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("object {key} does not exist")]
    Missing { key: String },
    /// The object was replaced since its ETag was read: the caller holds a stale version.
    #[error("object {key} changed since its version was read")]
    Changed { key: String },
    #[error("{operation} failed: {reason}")]
    Backend {
        operation: &'static str,
        reason: String,
    },
}

impl FileError {
    /// A failure of `operation` on `key`, for `reason` (which must hold no URL).
    pub(crate) fn backend(
        operation: &'static str,
        key: &str,
        reason: impl std::fmt::Display,
    ) -> Self {
        FileError::Backend {
            operation,
            reason: format!("{key}: {reason}"),
        }
    }
}

pub trait ObjectStore: Send + Sync {
    /// A presigned PUT for exactly `size` bytes: Content-Length (and Content-Type) are
    /// signed, so S3 refuses any other size. Valid for `ttl` (at most
    /// [`MAX_PRESIGNED_TTL`]) from `now`.
    fn presign_put(
        &self,
        key: &str,
        size: u64,
        content_type: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<PresignedRequest, FileError>> + Send;

    /// A presigned GET whose answer carries `Content-Disposition: attachment;
    /// filename="<download_name>"` ([`content_disposition`]), so a browser saves the file.
    fn presign_get(
        &self,
        key: &str,
        download_name: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<PresignedRequest, FileError>> + Send;

    /// Size and ETag, or None when there is no such object.
    fn head(&self, key: &str)
    -> impl Future<Output = Result<Option<ObjectInfo>, FileError>> + Send;

    /// The bytes from `start` (to the end, or `len` bytes at most), streamed, of the version
    /// whose ETag is `etag` only (If-Match): an object replaced since is
    /// [`FileError::Changed`], a missing one [`FileError::Missing`]. Reading from the very
    /// end (`start` = size, as when resuming a finished read) gives an empty body; starting
    /// past the end is an error.
    fn read(
        &self,
        key: &str,
        etag: &str,
        start: u64,
        len: Option<u64>,
    ) -> impl Future<Output = Result<ObjectBody, FileError>> + Send;

    /// Writes the object whole, replacing any object at `key`.
    fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> impl Future<Output = Result<(), FileError>> + Send;

    /// Starts a multipart upload; returns its upload id.
    fn start_multipart(
        &self,
        key: &str,
        content_type: &str,
    ) -> impl Future<Output = Result<String, FileError>> + Send;

    /// Uploads part `part` (1 to [`MAX_PART_NUMBER`]). Parts other than the last must be at
    /// least [`MIN_PART_SIZE`] (S3's rule, checked at completion). Uploading the same part
    /// number again replaces it, so a retried page is harmless.
    fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part: u32,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<(), FileError>> + Send;

    /// Completes the upload from the parts the store holds, in part-number order (callers
    /// keep no ETags). Completing an upload that was already completed (the upload id is
    /// gone and the object exists) is Ok, so a retried completion is harmless.
    fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
    ) -> impl Future<Output = Result<(), FileError>> + Send;

    /// Drops the upload and its parts. An upload already gone is Ok.
    fn abort_multipart(
        &self,
        key: &str,
        upload_id: &str,
    ) -> impl Future<Output = Result<(), FileError>> + Send;

    /// Deletes the object; a missing one is Ok.
    fn delete(&self, key: &str) -> impl Future<Output = Result<(), FileError>> + Send;
}

/// When a request presigned at `now` for `ttl` expires, or why it cannot be presigned.
fn expiry(key: &str, ttl: Duration, now: DateTime<Utc>) -> Result<DateTime<Utc>, FileError> {
    if ttl > MAX_PRESIGNED_TTL {
        return Err(FileError::backend(
            "Presign",
            key,
            format!("a validity of {ttl:?} is longer than one week"),
        ));
    }
    chrono::Duration::from_std(ttl)
        .ok()
        .and_then(|ttl| now.checked_add_signed(ttl))
        .ok_or_else(|| FileError::backend("Presign", key, "the expiry is out of range"))
}

/// The `Content-Disposition` of a download: `attachment; filename="<name>"`, with every
/// character that cannot stand in a quoted header value (a quote, a backslash, a control or
/// non-ASCII character) replaced by `_`.
pub fn content_disposition(download_name: &str) -> String {
    let name: String = download_name
        .chars()
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' => c,
            _ => '_',
        })
        .collect();
    format!("attachment; filename=\"{name}\"")
}

/// Whether two ETags name the same version, whether or not they carry S3's quotes.
fn same_etag(a: &str, b: &str) -> bool {
    a.trim_matches('"') == b.trim_matches('"')
}

/// Checks a part number against S3's range.
fn check_part_number(key: &str, part: u32) -> Result<(), FileError> {
    if (1..=MAX_PART_NUMBER).contains(&part) {
        Ok(())
    } else {
        Err(FileError::backend(
            "UploadPart",
            key,
            format!("part number {part} is not within 1 to {MAX_PART_NUMBER}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_download_name_cannot_break_out_of_its_quotes() {
        assert_eq!(
            content_disposition("rejects-2026-01-02.csv"),
            r#"attachment; filename="rejects-2026-01-02.csv""#
        );
        assert_eq!(
            content_disposition("a\"b\\c\r\nd é.csv"),
            r#"attachment; filename="a_b_c__d _.csv""#
        );
    }

    #[test]
    fn a_presigned_request_lasts_at_most_a_week() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        assert_eq!(
            expiry("k", Duration::from_secs(900), now).unwrap(),
            now + chrono::Duration::seconds(900)
        );
        assert!(expiry("k", MAX_PRESIGNED_TTL, now).is_ok());
        let err = expiry("k", MAX_PRESIGNED_TTL + Duration::from_secs(1), now).unwrap_err();
        assert!(err.to_string().contains("Presign failed: k:"), "{err}");
    }

    #[test]
    fn etags_compare_with_or_without_quotes() {
        assert!(same_etag("\"abc\"", "abc"));
        assert!(!same_etag("\"abc\"", "\"abd\""));
    }

    #[test]
    fn part_numbers_are_s3s() {
        assert!(check_part_number("k", 0).is_err());
        assert!(check_part_number("k", 1).is_ok());
        assert!(check_part_number("k", MAX_PART_NUMBER).is_ok());
        assert!(check_part_number("k", MAX_PART_NUMBER + 1).is_err());
    }
}
