//! An in-memory [`ObjectStore`] for handler tests, with S3's rules: ETags that change with
//! every write, If-Match on reads, multipart uploads whose parts (all but the last at least
//! 5 MiB) are checked at completion, and presigned requests with the headers S3's carry.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Mutex, MutexGuard},
    time::Duration,
};

use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::{
    FileError, MIN_PART_SIZE, ObjectBody, ObjectInfo, ObjectStore, PresignedRequest,
    check_part_number, content_disposition, expiry, same_etag,
};

/// How the memory store cuts a body, so readers see it arrive in several pieces.
const CHUNK: usize = 64 * 1024;

/// Objects and multipart uploads in memory. Presigned URLs look like
/// `memory://bucket/<key>?expires=<unix seconds>`: nothing can fetch them, tests read them.
#[derive(Debug, Default)]
pub struct MemoryFiles {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Each object's bytes and ETag.
    objects: HashMap<String, (Vec<u8>, String)>,
    /// Open uploads by upload id.
    uploads: HashMap<String, Upload>,
    /// Makes every ETag and upload id new.
    counter: u64,
}

#[derive(Debug)]
struct Upload {
    key: String,
    parts: BTreeMap<u32, Vec<u8>>,
}

impl State {
    fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    /// Writes `bytes` at `key` under a new ETag (quoted, as S3 gives them).
    fn store(&mut self, key: &str, bytes: Vec<u8>, suffix: &str) {
        let etag = format!("\"{:032x}{suffix}\"", self.next());
        self.objects.insert(key.to_owned(), (bytes, etag));
    }
}

impl MemoryFiles {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Puts an object there, as a client's upload would.
    pub fn insert(&self, key: &str, bytes: impl Into<Vec<u8>>) {
        self.state().store(key, bytes.into(), "");
    }

    /// An object's bytes.
    pub fn object(&self, key: &str) -> Option<Vec<u8>> {
        self.state()
            .objects
            .get(key)
            .map(|(bytes, _)| bytes.clone())
    }

    /// Every object's key, in order.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<_> = self.state().objects.keys().cloned().collect();
        keys.sort();
        keys
    }

    /// How many multipart uploads are open (started, neither completed nor aborted).
    pub fn open_uploads(&self) -> usize {
        self.state().uploads.len()
    }

    fn url(key: &str, expires_at: DateTime<Utc>) -> String {
        format!("memory://bucket/{key}?expires={}", expires_at.timestamp())
    }
}

impl ObjectStore for MemoryFiles {
    async fn presign_put(
        &self,
        key: &str,
        size: u64,
        content_type: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<PresignedRequest, FileError> {
        let expires_at = expiry(key, ttl, now)?;
        Ok(PresignedRequest {
            method: "PUT",
            url: Self::url(key, expires_at),
            headers: put_headers(size, content_type),
            expires_at,
        })
    }

    async fn presign_get(
        &self,
        key: &str,
        download_name: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<PresignedRequest, FileError> {
        let expires_at = expiry(key, ttl, now)?;
        // Encoded as S3's presigned query is: a space is `%20` (a `+` itself is `%2B`).
        let disposition =
            url::form_urlencoded::byte_serialize(content_disposition(download_name).as_bytes())
                .collect::<String>()
                .replace('+', "%20");
        Ok(PresignedRequest {
            method: "GET",
            url: format!(
                "{}&response-content-disposition={disposition}",
                Self::url(key, expires_at)
            ),
            headers: BTreeMap::new(),
            expires_at,
        })
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, FileError> {
        Ok(self
            .state()
            .objects
            .get(key)
            .map(|(bytes, etag)| ObjectInfo {
                size: bytes.len() as u64,
                etag: etag.clone(),
            }))
    }

    async fn read(
        &self,
        key: &str,
        etag: &str,
        start: u64,
        len: Option<u64>,
    ) -> Result<ObjectBody, FileError> {
        let state = self.state();
        let (bytes, current) = state.objects.get(key).ok_or_else(|| FileError::Missing {
            key: key.to_owned(),
        })?;
        if !same_etag(current, etag) {
            return Err(FileError::Changed {
                key: key.to_owned(),
            });
        }
        let size = bytes.len() as u64;
        if start > size {
            return Err(FileError::backend(
                "GetObject",
                key,
                format!("the range starts at {start}, past the object's end ({size} bytes)"),
            ));
        }
        let end = len.map_or(size, |n| start.saturating_add(n).min(size));
        // Both are at most the object's length, which is a usize.
        let (start, end) = (start as usize, end as usize);
        let chunks: Vec<Result<Bytes, FileError>> = bytes[start..end]
            .chunks(CHUNK)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        Ok(Box::pin(futures::stream::iter(chunks)))
    }

    async fn put(&self, key: &str, body: Vec<u8>, _content_type: &str) -> Result<(), FileError> {
        self.state().store(key, body, "");
        Ok(())
    }

    async fn start_multipart(&self, key: &str, _content_type: &str) -> Result<String, FileError> {
        let mut state = self.state();
        let upload_id = format!("memory-upload-{}", state.next());
        state.uploads.insert(
            upload_id.clone(),
            Upload {
                key: key.to_owned(),
                parts: BTreeMap::new(),
            },
        );
        Ok(upload_id)
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part: u32,
        body: Vec<u8>,
    ) -> Result<(), FileError> {
        check_part_number(key, part)?;
        let mut state = self.state();
        let upload = state
            .uploads
            .get_mut(upload_id)
            .filter(|u| u.key == key)
            .ok_or_else(|| no_such_upload("UploadPart", key, upload_id))?;
        upload.parts.insert(part, body);
        Ok(())
    }

    async fn complete_multipart(&self, key: &str, upload_id: &str) -> Result<(), FileError> {
        let mut state = self.state();
        let Some(upload) = state.uploads.get(upload_id).filter(|u| u.key == key) else {
            // Completed before, as S3 would show it: the upload is gone, the object there.
            return if state.objects.contains_key(key) {
                Ok(())
            } else {
                Err(no_such_upload("CompleteMultipartUpload", key, upload_id))
            };
        };
        let Some(last) = upload.parts.keys().next_back().copied() else {
            return Err(FileError::backend(
                "CompleteMultipartUpload",
                key,
                "the upload has no parts",
            ));
        };
        if let Some((part, body)) = upload
            .parts
            .iter()
            .find(|(part, body)| **part != last && body.len() < MIN_PART_SIZE)
        {
            // S3 keeps the upload open: the caller may replace the part and complete again.
            return Err(FileError::backend(
                "CompleteMultipartUpload",
                key,
                format!(
                    "EntityTooSmall: part {part} has {} bytes, and only the last may have fewer than {MIN_PART_SIZE}",
                    body.len()
                ),
            ));
        }
        let count = upload.parts.len();
        let bytes = upload.parts.values().flatten().copied().collect();
        state.uploads.remove(upload_id);
        state.store(key, bytes, &format!("-{count}"));
        Ok(())
    }

    async fn abort_multipart(&self, _key: &str, upload_id: &str) -> Result<(), FileError> {
        self.state().uploads.remove(upload_id);
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), FileError> {
        self.state().objects.remove(key);
        Ok(())
    }
}

/// The headers S3 signs in a presigned PUT for `size` bytes of `content_type`.
fn put_headers(size: u64, content_type: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("content-length".to_owned(), size.to_string()),
        ("content-type".to_owned(), content_type.to_owned()),
    ])
}

fn no_such_upload(operation: &'static str, key: &str, upload_id: &str) -> FileError {
    FileError::backend(
        operation,
        key,
        format!("NoSuchUpload: no upload {upload_id}"),
    )
}

#[cfg(test)]
mod tests {
    use futures::TryStreamExt;

    use super::*;

    #[tokio::test]
    async fn presigned_urls_name_the_key_and_expiry_and_a_put_its_signed_headers() {
        let files = MemoryFiles::new();
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();

        let put = files
            .presign_put("uploads/a", 12, "text/csv", Duration::from_secs(60), now)
            .await
            .unwrap();
        let get = files
            .presign_get(
                "jobs/j/results.csv",
                "results.csv",
                Duration::from_secs(60),
                now,
            )
            .await
            .unwrap();

        assert_eq!(put.url, "memory://bucket/uploads/a?expires=1800000060");
        assert_eq!(put.headers["content-length"], "12");
        assert_eq!(put.headers["content-type"], "text/csv");
        assert_eq!(
            get.url,
            "memory://bucket/jobs/j/results.csv?expires=1800000060\
             &response-content-disposition=attachment%3B%20filename%3D%22results.csv%22"
        );
        assert!(get.headers.is_empty());
    }

    #[tokio::test]
    async fn tests_see_what_was_written_and_a_large_body_arrives_in_pieces() {
        let files = MemoryFiles::new();
        files.insert("b", vec![7; 3 * CHUNK]);
        files.put("a", b"x".to_vec(), "text/plain").await.unwrap();

        let etag = files.head("b").await.unwrap().unwrap().etag;
        let pieces: Vec<Bytes> = files
            .read("b", &etag, 0, None)
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();

        assert_eq!(files.keys(), ["a", "b"]);
        assert_eq!(files.object("a").unwrap(), b"x");
        assert_eq!(pieces.len(), 3);
        assert_eq!(files.object("missing"), None);
    }
}
