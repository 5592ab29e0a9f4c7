//! The object store port (`sms_core::files`): each scenario runs against S3 in moto and
//! against the in-memory store (`both_object_stores!`), which must behave alike; the
//! presigned requests are also sent, with reqwest, to moto's S3 (`mod presigned`).
//!
//! Needs moto: run through `make test` or
//! `infra/tests/with-moto.sh cargo test -p sms-core --test object_store`.

use bytes::Bytes;
use futures::TryStreamExt;
use sms_core::files::{FileError, ObjectStore};

/// Everything a read gives, joined.
async fn read_all<F: ObjectStore>(
    files: &F,
    key: &str,
    etag: &str,
    start: u64,
    len: Option<u64>,
) -> Result<Vec<u8>, FileError> {
    let chunks: Vec<Bytes> = files
        .read(key, etag, start, len)
        .await?
        .try_collect()
        .await?;
    Ok(chunks.concat())
}

/// `size` bytes that differ along their length, so a misplaced range shows.
fn pattern(size: usize, seed: u8) -> Vec<u8> {
    (0..size).map(|i| (i % 251) as u8 ^ seed).collect()
}

mod scenarios {
    use std::time::Duration;

    use chrono::Utc;
    use sms_core::domain::ids::JobId;
    use sms_core::files::{FileError, MIN_PART_SIZE, ObjectStore, keys};

    use super::{pattern, read_all};

    pub async fn a_presigned_put_signs_its_size_and_type<F: ObjectStore>(files: &F) {
        let now = Utc::now();

        let put = files
            .presign_put("uploads/a", 1234, "text/csv", Duration::from_secs(900), now)
            .await
            .unwrap();

        assert_eq!(put.method, "PUT");
        assert!(put.url.contains("uploads/a?"), "{}", put.url);
        assert_eq!(
            put.headers.iter().collect::<Vec<_>>(),
            [
                (&"content-length".to_owned(), &"1234".to_owned()),
                (&"content-type".to_owned(), &"text/csv".to_owned()),
            ]
        );
        assert_eq!(put.expires_at, now + chrono::Duration::seconds(900));
    }

    pub async fn a_presigned_get_names_the_download<F: ObjectStore>(files: &F) {
        let now = Utc::now();

        let get = files
            .presign_get(
                "jobs/j/results.csv",
                "results \"1\".csv",
                Duration::from_secs(60),
                now,
            )
            .await
            .unwrap();

        assert_eq!(get.method, "GET");
        assert!(get.headers.is_empty(), "{:?}", get.headers);
        // attachment; filename="results _1_.csv", percent-encoded as S3's query is.
        assert!(
            get.url.contains(
                "response-content-disposition=attachment%3B%20filename%3D%22results%20_1_.csv%22"
            ),
            "{}",
            get.url
        );
        assert_eq!(get.expires_at, now + chrono::Duration::seconds(60));
    }

    pub async fn a_presigned_request_lasts_a_week_at_most<F: ObjectStore>(files: &F) {
        let week = Duration::from_secs(7 * 24 * 3600);

        let longest = files
            .presign_put("k", 1, "text/csv", week, Utc::now())
            .await;
        let longer = files
            .presign_get("k", "k.csv", week + Duration::from_secs(1), Utc::now())
            .await;

        assert!(longest.is_ok(), "{longest:?}");
        let err = longer.unwrap_err();
        assert!(matches!(err, FileError::Backend { .. }), "{err:?}");
        assert!(err.to_string().contains('k'), "{err}");
    }

    pub async fn an_object_reads_back_whole_and_by_range<F: ObjectStore>(files: &F) {
        let key = keys::results(&JobId::random());
        let bytes = pattern(300 * 1024, 0);
        files.put(&key, bytes.clone(), "text/csv").await.unwrap();

        let info = files.head(&key).await.unwrap().unwrap();
        let whole = read_all(files, &key, &info.etag, 0, None).await.unwrap();
        let tail = read_all(files, &key, &info.etag, 1000, None).await.unwrap();
        let middle = read_all(files, &key, &info.etag, 1000, Some(10))
            .await
            .unwrap();
        let past_the_end = read_all(files, &key, &info.etag, info.size - 5, Some(100))
            .await
            .unwrap();

        assert_eq!(info.size, bytes.len() as u64);
        assert_eq!(whole, bytes);
        assert_eq!(tail, &bytes[1000..]);
        assert_eq!(middle, &bytes[1000..1010]);
        assert_eq!(past_the_end, &bytes[bytes.len() - 5..]);
    }

    pub async fn a_replaced_object_has_a_new_etag_and_the_old_one_reads_nothing<F: ObjectStore>(
        files: &F,
    ) {
        let key = keys::upload(&uuid::Uuid::new_v4());
        files
            .put(&key, b"first,version\n".to_vec(), "text/csv")
            .await
            .unwrap();
        let first = files.head(&key).await.unwrap().unwrap();
        files
            .put(&key, b"second\n".to_vec(), "text/csv")
            .await
            .unwrap();

        let second = files.head(&key).await.unwrap().unwrap();
        // The read sends If-Match: S3, and moto too, answer 412 for an older version.
        let stale = files.read(&key, &first.etag, 0, None).await;
        let stale_from_the_end = files.read(&key, &first.etag, second.size, None).await;
        let current = read_all(files, &key, &second.etag, 0, None).await.unwrap();

        assert_ne!(first.etag, second.etag);
        assert!(
            matches!(&stale, Err(FileError::Changed { key: k }) if *k == key),
            "{:?}",
            stale.err()
        );
        assert!(
            matches!(stale_from_the_end, Err(FileError::Changed { .. })),
            "{:?}",
            stale_from_the_end.err()
        );
        assert_eq!(current, b"second\n");
    }

    pub async fn a_missing_object_is_none_and_missing<F: ObjectStore>(files: &F) {
        let key = keys::upload(&uuid::Uuid::new_v4());

        let info = files.head(&key).await.unwrap();
        let read = files
            .read(&key, "\"d41d8cd98f00b204e9800998ecf8427e\"", 0, None)
            .await;
        let deleted = files.delete(&key).await;

        assert_eq!(info, None);
        assert!(
            matches!(&read, Err(FileError::Missing { key: k }) if *k == key),
            "{:?}",
            read.err()
        );
        assert!(deleted.is_ok(), "{deleted:?}");
    }

    pub async fn a_read_from_the_very_end_is_empty<F: ObjectStore>(files: &F) {
        let key = keys::checkpoint(&JobId::random());
        files
            .put(&key, b"0123456789".to_vec(), "application/octet-stream")
            .await
            .unwrap();
        let etag = files.head(&key).await.unwrap().unwrap().etag;

        // S3 (and moto) answer 416 InvalidRange to `bytes=10-` of a 10-byte object.
        let at_the_end = read_all(files, &key, &etag, 10, None).await.unwrap();
        let at_the_end_bounded = read_all(files, &key, &etag, 10, Some(5)).await.unwrap();
        let nothing_inside = read_all(files, &key, &etag, 3, Some(0)).await.unwrap();
        let past_the_end = files.read(&key, &etag, 11, None).await;

        assert!(at_the_end.is_empty());
        assert!(at_the_end_bounded.is_empty());
        assert!(nothing_inside.is_empty());
        let err = past_the_end.err().unwrap();
        assert!(
            matches!(
                err,
                FileError::Backend {
                    operation: "GetObject",
                    ..
                }
            ),
            "{err:?}"
        );
    }

    pub async fn parts_in_any_order_and_retried_make_the_concatenation<F: ObjectStore>(files: &F) {
        let key = keys::rejects_segment(&JobId::random(), 1);
        let (first, second, last) = (
            pattern(MIN_PART_SIZE, 1),
            pattern(MIN_PART_SIZE, 2),
            b"last,row\n".to_vec(),
        );
        let upload = files.start_multipart(&key, "text/csv").await.unwrap();

        files
            .upload_part(&key, &upload, 3, last.clone())
            .await
            .unwrap();
        files
            .upload_part(&key, &upload, 2, pattern(MIN_PART_SIZE, 9))
            .await
            .unwrap();
        files
            .upload_part(&key, &upload, 1, first.clone())
            .await
            .unwrap();
        // A retried page replaces the part it uploaded before.
        files
            .upload_part(&key, &upload, 2, second.clone())
            .await
            .unwrap();
        files.complete_multipart(&key, &upload).await.unwrap();
        let again = files.complete_multipart(&key, &upload).await;

        assert!(again.is_ok(), "a retried completion: {again:?}");
        let info = files.head(&key).await.unwrap().unwrap();
        let stored = read_all(files, &key, &info.etag, 0, None).await.unwrap();
        assert_eq!(info.size as usize, 2 * MIN_PART_SIZE + last.len());
        assert!(
            stored == [first, second, last].concat(),
            "not the parts in order"
        );
    }

    pub async fn a_small_part_before_the_last_fails_completion<F: ObjectStore>(files: &F) {
        let key = keys::results(&JobId::random());
        let upload = files.start_multipart(&key, "text/csv").await.unwrap();
        files
            .upload_part(&key, &upload, 1, b"too,small\n".to_vec())
            .await
            .unwrap();
        files
            .upload_part(&key, &upload, 2, b"last\n".to_vec())
            .await
            .unwrap();

        let completed = files.complete_multipart(&key, &upload).await;

        // S3 (and moto) answer 400 EntityTooSmall; the memory store says the same.
        let err = completed.unwrap_err();
        assert!(
            matches!(
                err,
                FileError::Backend {
                    operation: "CompleteMultipartUpload",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("EntityTooSmall"), "{err}");
        assert!(err.to_string().contains(&key), "{err}");
        assert_eq!(files.head(&key).await.unwrap(), None);
        // The upload stays open: the part can be uploaded again, large enough this time.
        let large = pattern(MIN_PART_SIZE, 4);
        files
            .upload_part(&key, &upload, 1, large.clone())
            .await
            .unwrap();
        files.complete_multipart(&key, &upload).await.unwrap();
        let info = files.head(&key).await.unwrap().unwrap();
        let stored = read_all(files, &key, &info.etag, 0, None).await.unwrap();
        assert!(stored == [large, b"last\n".to_vec()].concat());
    }

    pub async fn aborting_twice_is_harmless<F: ObjectStore>(files: &F) {
        let key = keys::results(&JobId::random());
        let upload = files.start_multipart(&key, "text/csv").await.unwrap();
        files
            .upload_part(&key, &upload, 1, b"row\n".to_vec())
            .await
            .unwrap();

        let first = files.abort_multipart(&key, &upload).await;
        // As a retried clean-up would: S3 answers NoSuchUpload, which is what was wanted.
        let again = files.abort_multipart(&key, &upload).await;

        assert!(first.is_ok(), "{first:?}");
        assert!(again.is_ok(), "{again:?}");
    }

    pub async fn an_aborted_upload_cannot_be_completed<F: ObjectStore>(files: &F) {
        let key = keys::results(&JobId::random());
        let upload = files.start_multipart(&key, "text/csv").await.unwrap();
        files
            .upload_part(&key, &upload, 1, b"row\n".to_vec())
            .await
            .unwrap();
        files.abort_multipart(&key, &upload).await.unwrap();

        let completed = files.complete_multipart(&key, &upload).await;
        let late_part = files.upload_part(&key, &upload, 2, b"row\n".to_vec()).await;

        assert!(
            matches!(completed, Err(FileError::Backend { .. })),
            "{completed:?}"
        );
        assert!(
            matches!(late_part, Err(FileError::Backend { .. })),
            "{late_part:?}"
        );
        assert_eq!(files.head(&key).await.unwrap(), None);
    }

    pub async fn a_part_number_outside_s3s_range_is_refused<F: ObjectStore>(files: &F) {
        let key = keys::results(&JobId::random());
        let upload = files.start_multipart(&key, "text/csv").await.unwrap();

        let zero = files.upload_part(&key, &upload, 0, b"x".to_vec()).await;
        let too_high = files
            .upload_part(&key, &upload, 10_001, b"x".to_vec())
            .await;

        assert!(matches!(zero, Err(FileError::Backend { .. })), "{zero:?}");
        assert!(
            matches!(too_high, Err(FileError::Backend { .. })),
            "{too_high:?}"
        );
        files.abort_multipart(&key, &upload).await.unwrap();
    }

    pub async fn a_deleted_object_is_gone<F: ObjectStore>(files: &F) {
        let key = keys::rejects(&JobId::random());
        files.put(&key, b"a\n".to_vec(), "text/csv").await.unwrap();

        files.delete(&key).await.unwrap();

        assert_eq!(files.head(&key).await.unwrap(), None);
    }

    pub async fn errors_name_the_key_and_never_a_signature<F: ObjectStore>(files: &F) {
        let key = keys::upload(&uuid::Uuid::new_v4());
        let missing = files.read(&key, "\"0\"", 0, None).await.err().unwrap();
        files.put(&key, b"v1".to_vec(), "text/csv").await.unwrap();
        let etag = files.head(&key).await.unwrap().unwrap().etag;
        let past_the_end = files.read(&key, &etag, 100, None).await.err().unwrap();
        files
            .put(&key, b"v2, longer".to_vec(), "text/csv")
            .await
            .unwrap();
        let changed = files.read(&key, &etag, 0, None).await.err().unwrap();
        let upload = files.start_multipart(&key, "text/csv").await.unwrap();
        files
            .upload_part(&key, &upload, 1, b"small".to_vec())
            .await
            .unwrap();
        files
            .upload_part(&key, &upload, 2, b"small".to_vec())
            .await
            .unwrap();
        let too_small = files.complete_multipart(&key, &upload).await.err().unwrap();
        let too_long = files
            .presign_put(
                &key,
                1,
                "text/csv",
                Duration::from_secs(8 * 24 * 3600),
                Utc::now(),
            )
            .await
            .err()
            .unwrap();

        for err in [missing, past_the_end, changed, too_small, too_long] {
            let (shown, debug) = (err.to_string(), format!("{err:?}"));
            assert!(shown.contains(&key), "{shown}");
            for text in [&shown, &debug] {
                assert!(
                    !text.to_ascii_lowercase().contains("x-amz-signature"),
                    "{text}"
                );
                assert!(
                    !text.to_ascii_lowercase().contains("x-amz-credential"),
                    "{text}"
                );
            }
        }
        files.abort_multipart(&key, &upload).await.unwrap();
    }
}

sms_test_support::both_object_stores!(
    crate::scenarios;
    a_presigned_put_signs_its_size_and_type,
    a_presigned_get_names_the_download,
    a_presigned_request_lasts_a_week_at_most,
    an_object_reads_back_whole_and_by_range,
    a_replaced_object_has_a_new_etag_and_the_old_one_reads_nothing,
    a_missing_object_is_none_and_missing,
    a_read_from_the_very_end_is_empty,
    parts_in_any_order_and_retried_make_the_concatenation,
    a_small_part_before_the_last_fails_completion,
    aborting_twice_is_harmless,
    an_aborted_upload_cannot_be_completed,
    a_part_number_outside_s3s_range_is_refused,
    a_deleted_object_is_gone,
    errors_name_the_key_and_never_a_signature,
);

/// The presigned requests, sent as a client would send them, to moto's S3.
mod presigned {
    use std::time::Duration;

    use chrono::Utc;
    use sms_core::{
        domain::ids::JobId,
        files::{ObjectStore, keys},
    };

    use super::{pattern, read_all};

    /// A PUT of `body` to a presigned request, with the headers it names (Content-Length
    /// as reqwest derives it from the body, so that a wrong size can be sent).
    async fn send_put(put: &sms_core::files::PresignedRequest, body: Vec<u8>) -> reqwest::Response {
        let mut request = reqwest::Client::new().put(&put.url);
        for (name, value) in &put.headers {
            if name != "content-length" {
                request = request.header(name, value);
            }
        }
        request.body(body).send().await.unwrap()
    }

    #[tokio::test]
    async fn a_presigned_put_of_exactly_its_size_is_stored_and_reads_back() {
        let files = sms_test_support::s3_files().await;
        let key = keys::upload(&uuid::Uuid::new_v4());
        let body = pattern(70_000, 3);
        let put = files
            .presign_put(
                &key,
                body.len() as u64,
                "text/csv",
                Duration::from_secs(300),
                Utc::now(),
            )
            .await
            .unwrap();

        let answer = send_put(&put, body.clone()).await;

        assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap());
        let info = files.head(&key).await.unwrap().unwrap();
        assert_eq!(info.size, body.len() as u64);
        assert_eq!(
            read_all(&files, &key, &info.etag, 0, None).await.unwrap(),
            body
        );
        assert_eq!(
            read_all(&files, &key, &info.etag, 65_536, Some(1000))
                .await
                .unwrap(),
            &body[65_536..66_536]
        );
    }

    /// The query parameter `name` of a presigned URL.
    fn query(url: &str, name: &str) -> Option<String> {
        url::Url::parse(url)
            .unwrap()
            .query_pairs()
            .find(|(n, _)| n == name)
            .map(|(_, value)| value.into_owned())
    }

    #[tokio::test]
    async fn a_presigned_put_signs_its_length_and_type() {
        let files = sms_test_support::s3_files().await;
        let key = keys::upload(&uuid::Uuid::new_v4());
        let now = Utc::now();
        let ttl = Duration::from_secs(300);
        let put = files
            .presign_put(&key, 10, "text/csv", ttl, now)
            .await
            .unwrap();
        let other_size = files
            .presign_put(&key, 11, "text/csv", ttl, now)
            .await
            .unwrap();
        let other_type = files
            .presign_put(&key, 10, "text/plain", ttl, now)
            .await
            .unwrap();

        let wrong_size = send_put(&put, b"0123456789+".to_vec()).await.status();

        // S3 refuses a request whose Content-Length or Content-Type differs from the signed
        // one: both are in X-Amz-SignedHeaders, so the request no longer matches its
        // signature (403 SignatureDoesNotMatch). That they are signed shows here: the same
        // request for another size or type has another signature.
        assert_eq!(
            query(&put.url, "X-Amz-SignedHeaders").as_deref(),
            Some("content-length;content-type;host"),
            "{}",
            put.url
        );
        let signature = |url: &str| query(url, "X-Amz-Signature").unwrap();
        assert_ne!(signature(&put.url), signature(&other_size.url));
        assert_ne!(signature(&put.url), signature(&other_type.url));
        assert_eq!(query(&put.url, "X-Amz-Expires").as_deref(), Some("300"));
        // moto does not check the signature of a presigned request at all (its request
        // authentication is off unless configured with IAM users), so it stores a body of
        // another size. If this starts failing, moto enforces signatures: assert 403 instead.
        assert_eq!(wrong_size, 200, "moto now refuses a wrong size");
    }

    #[tokio::test]
    async fn a_presigned_get_downloads_the_file_as_an_attachment() {
        let files = sms_test_support::s3_files().await;
        let key = keys::results(&JobId::random());
        files
            .put(
                &key,
                b"number,status\n+14155550123,sent\n".to_vec(),
                "text/csv",
            )
            .await
            .unwrap();
        let get = files
            .presign_get(&key, "results.csv", Duration::from_secs(300), Utc::now())
            .await
            .unwrap();

        let answer = reqwest::get(&get.url).await.unwrap();

        assert_eq!(answer.status(), 200);
        assert_eq!(
            answer.headers()["content-disposition"],
            "attachment; filename=\"results.csv\""
        );
        assert_eq!(
            answer.bytes().await.unwrap(),
            &b"number,status\n+14155550123,sent\n"[..]
        );
    }
}
