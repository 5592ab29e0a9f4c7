//! [`ObjectStore`] over S3: one bucket, presigned requests signed with SigV4 for clients, and
//! every S3 error mapped once, by [`failed`], into a [`FileError`] that holds no URL.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::{
    Client,
    config::RequestChecksumCalculation,
    error::{DisplayErrorContext, ProvideErrorMetadata, SdkError},
    presigning::PresigningConfig,
    primitives::ByteStream,
    types::{CompletedMultipartUpload, CompletedPart},
};
use chrono::{DateTime, Utc};

use super::{
    FileError, ObjectBody, ObjectInfo, ObjectStore, PresignedRequest, check_part_number,
    content_disposition, expiry, same_etag,
};

/// The S3 client the adapter needs, from the functions' SDK settings.
///
/// `force_path_style` puts the bucket in the path (`http://host/bucket/key`) rather than in
/// the host name: needed where the endpoint is an IP address, as moto's is locally.
///
/// Requests carry a checksum only where S3 requires one. By default the SDK adds a CRC32 to
/// every `PutObject` and `UploadPart`, but a part's checksum must then match an algorithm the
/// upload was created with, and the completion must repeat every part's checksum, which
/// callers that keep no part state cannot give; S3 keeps a checksum of its own of every
/// object, and TLS guards the transfer.
pub fn s3_client(sdk: &aws_config::SdkConfig, force_path_style: bool) -> Client {
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(force_path_style)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .build();
    Client::from_conf(config)
}

#[derive(Debug, Clone)]
pub struct S3Files {
    client: Client,
    bucket: String,
}

impl S3Files {
    /// The adapter over `bucket`; build `client` with [`s3_client`].
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// What a read of nothing at `start` gives: an empty body when the version `etag` of
    /// `key` exists and `start` is within it or at its very end. S3 answers such a range
    /// with 416, which says nothing about the object, so this asks.
    async fn empty_read_at(
        &self,
        key: &str,
        etag: &str,
        start: u64,
    ) -> Result<ObjectBody, FileError> {
        let info = self.head(key).await?.ok_or_else(|| FileError::Missing {
            key: key.to_owned(),
        })?;
        if !same_etag(&info.etag, etag) {
            return Err(FileError::Changed {
                key: key.to_owned(),
            });
        }
        if start > info.size {
            return Err(FileError::backend(
                "GetObject",
                key,
                format!(
                    "the range starts at {start}, past the object's end ({} bytes)",
                    info.size
                ),
            ));
        }
        Ok(Box::pin(futures::stream::empty()))
    }

    /// Every part of the upload, in order, as CompleteMultipartUpload wants them; None when
    /// S3 knows no such upload.
    async fn list_parts(
        &self,
        key: &str,
        upload_id: &str,
    ) -> Result<Option<Vec<CompletedPart>>, FileError> {
        let mut parts = Vec::new();
        let mut marker = None;
        loop {
            let out = self
                .client
                .list_parts()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .set_part_number_marker(marker)
                .send()
                .await;
            let out = match out {
                Ok(out) => out,
                Err(e) if code(&e) == Some("NoSuchUpload") => return Ok(None),
                Err(e) => return Err(failed("ListParts", key, e)),
            };
            parts.extend(out.parts().iter().map(|p| {
                CompletedPart::builder()
                    .set_part_number(p.part_number())
                    .set_e_tag(p.e_tag().map(str::to_owned))
                    .build()
            }));
            match out.next_part_number_marker() {
                Some(next) if out.is_truncated() == Some(true) => marker = Some(next.to_owned()),
                _ => break,
            }
        }
        parts.sort_by_key(|p| p.part_number());
        Ok(Some(parts))
    }

    /// The answer to a completion whose upload S3 no longer knows: a completion that already
    /// happened, if the object is there.
    async fn completed_before(&self, key: &str, upload_id: &str) -> Result<(), FileError> {
        match self.head(key).await? {
            Some(_) => Ok(()),
            None => Err(FileError::backend(
                "CompleteMultipartUpload",
                key,
                format!("no upload {upload_id} and no object"),
            )),
        }
    }
}

impl ObjectStore for S3Files {
    async fn presign_put(
        &self,
        key: &str,
        size: u64,
        content_type: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<PresignedRequest, FileError> {
        let expires_at = expiry(key, ttl, now)?;
        let length = i64::try_from(size)
            .map_err(|_| FileError::backend("PutObject", key, "the size is out of range"))?;
        // Both are signed: S3 refuses a request whose length or type differs.
        let presigned = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_length(length)
            .content_type(content_type)
            .presigned(presigning(key, ttl, now)?)
            .await
            .map_err(|e| failed("PutObject", key, e))?;
        Ok(presigned_request("PUT", &presigned, expires_at))
    }

    async fn presign_get(
        &self,
        key: &str,
        download_name: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<PresignedRequest, FileError> {
        let expires_at = expiry(key, ttl, now)?;
        let presigned = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .response_content_disposition(content_disposition(download_name))
            .presigned(presigning(key, ttl, now)?)
            .await
            .map_err(|e| failed("GetObject", key, e))?;
        Ok(presigned_request("GET", &presigned, expires_at))
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, FileError> {
        let out = match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            // S3 answers 404 for a missing key only to a caller allowed `s3:ListBucket` on
            // the bucket (others get 403, an error here), so the functions' role grants it. A
            // HEAD answer has no body to tell a missing bucket apart; the next write will.
            Err(e) if status(&e) == Some(404) => return Ok(None),
            Err(e) => return Err(failed("HeadObject", key, e)),
        };
        let size = out
            .content_length()
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| FileError::backend("HeadObject", key, "S3 gave no size"))?;
        let etag = out
            .e_tag()
            .ok_or_else(|| FileError::backend("HeadObject", key, "S3 gave no ETag"))?;
        Ok(Some(ObjectInfo {
            size,
            etag: etag.to_owned(),
        }))
    }

    async fn read(
        &self,
        key: &str,
        etag: &str,
        start: u64,
        len: Option<u64>,
    ) -> Result<ObjectBody, FileError> {
        let range = match len {
            None => format!("bytes={start}-"),
            // No range reads nothing: there is no such range to ask for.
            Some(0) => return self.empty_read_at(key, etag, start).await,
            Some(n) => format!("bytes={start}-{}", start.saturating_add(n - 1)),
        };
        let result = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .if_match(etag)
            .range(range)
            .send()
            .await;
        match result {
            Ok(out) => Ok(body_stream(key, out.body)),
            Err(e) => match (status(&e), code(&e)) {
                (Some(412), _) => Err(FileError::Changed {
                    key: key.to_owned(),
                }),
                // Not NoSuchBucket: a missing bucket is a fault, not a missing file.
                (Some(404), None | Some("NoSuchKey")) => Err(FileError::Missing {
                    key: key.to_owned(),
                }),
                // A range from the object's end, where a finished read resumes.
                (Some(416), _) => self.empty_read_at(key, etag, start).await,
                _ => Err(failed("GetObject", key, e)),
            },
        }
    }

    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), FileError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| failed("PutObject", key, e))
    }

    async fn start_multipart(&self, key: &str, content_type: &str) -> Result<String, FileError> {
        let out = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .send()
            .await
            .map_err(|e| failed("CreateMultipartUpload", key, e))?;
        out.upload_id
            .ok_or_else(|| FileError::backend("CreateMultipartUpload", key, "S3 gave no upload id"))
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part: u32,
        body: Vec<u8>,
    ) -> Result<(), FileError> {
        check_part_number(key, part)?;
        let part_number = i32::try_from(part).map_err(|_| {
            FileError::backend("UploadPart", key, "the part number is out of range")
        })?;
        self.client
            .upload_part()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(part_number)
            .body(ByteStream::from(body))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| failed("UploadPart", key, e))
    }

    async fn complete_multipart(&self, key: &str, upload_id: &str) -> Result<(), FileError> {
        let Some(parts) = self.list_parts(key, upload_id).await? else {
            return self.completed_before(key, upload_id).await;
        };
        if parts.is_empty() {
            return Err(FileError::backend(
                "CompleteMultipartUpload",
                key,
                "the upload has no parts",
            ));
        }
        let result = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Completed by a concurrent or earlier call since the parts were listed.
            Err(e) if code(&e) == Some("NoSuchUpload") => {
                self.completed_before(key, upload_id).await
            }
            Err(e) => Err(failed("CompleteMultipartUpload", key, e)),
        }
    }

    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), FileError> {
        match self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if code(&e) == Some("NoSuchUpload") => Ok(()),
            Err(e) => Err(failed("AbortMultipartUpload", key, e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), FileError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| failed("DeleteObject", key, e))
    }
}

/// Signing for `ttl` from `now`, as a presigned request's `X-Amz-Date` and `X-Amz-Expires`.
fn presigning(key: &str, ttl: Duration, now: DateTime<Utc>) -> Result<PresigningConfig, FileError> {
    PresigningConfig::builder()
        .start_time(SystemTime::from(now))
        .expires_in(ttl)
        .build()
        .map_err(|e| failed("Presign", key, e))
}

fn presigned_request(
    method: &'static str,
    presigned: &aws_sdk_s3::presigning::PresignedRequest,
    expires_at: DateTime<Utc>,
) -> PresignedRequest {
    PresignedRequest {
        method,
        url: presigned.uri().to_owned(),
        headers: signed_headers(presigned.uri(), presigned.headers()),
        expires_at,
    }
}

/// The headers a client must send with a presigned request: those its signature covers
/// (`X-Amz-SignedHeaders`), but `host`, which the URL gives. On Lambda the SDK also attaches
/// the invocation's `x-amzn-trace-id`, unsigned: handing that on would only tie a client's
/// upload to one of our traces.
fn signed_headers<'a>(
    uri: &str,
    headers: impl Iterator<Item = (&'a str, &'a str)>,
) -> std::collections::BTreeMap<String, String> {
    let signed: Vec<String> = uri
        .split_once('?')
        .into_iter()
        .flat_map(|(_, query)| query.split('&'))
        .find_map(|pair| pair.strip_prefix("X-Amz-SignedHeaders="))
        .map(|list| {
            list.split("%3B")
                .flat_map(|l| l.split(';'))
                .map(str::to_ascii_lowercase)
                .collect()
        })
        .unwrap_or_default();
    headers
        .map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned()))
        .filter(|(name, _)| name != "host" && signed.contains(name))
        .collect()
}

/// The object's bytes as S3 sends them; a failure mid-body ends the stream with its error.
fn body_stream(key: &str, body: ByteStream) -> ObjectBody {
    let key = key.to_owned();
    Box::pin(futures::stream::try_unfold(body, move |mut body| {
        let key = key.clone();
        async move {
            match body.next().await {
                None => Ok(None),
                Some(Ok(bytes)) => Ok(Some((bytes, body))),
                Some(Err(e)) => Err(failed("GetObject", &key, e)),
            }
        }
    }))
}

fn code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> Option<&str> {
    e.as_service_error().and_then(|se| se.code())
}

fn status<E>(e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

/// The one way an S3 failure becomes a [`FileError`]: the whole error chain, with the query
/// of any presigned URL in it cut off.
fn failed(operation: &'static str, key: &str, e: impl std::error::Error) -> FileError {
    FileError::backend(
        operation,
        key,
        without_signatures(&DisplayErrorContext(e).to_string()),
    )
}

/// `text` with every word that carries a SigV4 signature or credential cut at its query: a
/// presigned URL is a credential until it expires.
fn without_signatures(text: &str) -> String {
    text.split_inclusive(char::is_whitespace)
        .map(|word| {
            let lower = word.to_ascii_lowercase();
            if !(lower.contains("x-amz-signature") || lower.contains("x-amz-credential")) {
                return word.to_owned();
            }
            let end = &word[word.trim_end().len()..];
            match word.find('?') {
                Some(at) => format!("{}?<signed query removed>{end}", &word[..at]),
                None => format!("<signed query removed>{end}"),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_presigned_url_in_an_error_loses_its_query() {
        let text = "dispatch failure: uri: \"http://127.0.0.1:5000/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256\
                    &X-Amz-Credential=AKIA%2F20260101&X-Amz-Signature=abc123\" refused\n\
                    next line x-amz-signature=def";

        let cleaned = without_signatures(text);

        assert_eq!(
            cleaned,
            "dispatch failure: uri: \"http://127.0.0.1:5000/b/k?<signed query removed> refused\n\
             next line <signed query removed>"
        );
        assert!(!cleaned.to_ascii_lowercase().contains("x-amz-signature"));
        assert_eq!(without_signatures("no url here"), "no url here");
    }

    #[test]
    fn a_presigned_request_hands_on_only_the_headers_its_signature_covers() {
        let uri = "https://b.s3.amazonaws.com/uploads/u?X-Amz-Algorithm=AWS4-HMAC-SHA256\
                   &X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost&X-Amz-Signature=ab";
        let headers = [
            ("Content-Length", "100"),
            ("content-type", "text/csv"),
            ("host", "b.s3.amazonaws.com"),
            // Added by the SDK on Lambda, outside the signature.
            (
                "x-amzn-trace-id",
                "Root=1-6b12a3a7-30d5a7cfe9abe806ec138eab",
            ),
        ];

        let kept = signed_headers(uri, headers.into_iter());

        assert_eq!(
            kept.into_iter().collect::<Vec<_>>(),
            [
                ("content-length".to_owned(), "100".to_owned()),
                ("content-type".to_owned(), "text/csv".to_owned())
            ]
        );
        assert!(signed_headers("https://b/k", headers.into_iter()).is_empty());
    }
}
