//! The fixtures themselves, against moto: fresh resources that work as documented.
//!
//! Needs moto: run through `make test` or `infra/tests/with-moto.sh cargo test`.

use aws_sdk_sqs::types::QueueAttributeName;

#[test]
fn unique_names_differ_and_keep_their_prefix() {
    let a = sms_test_support::unique("sms-test");
    let b = sms_test_support::unique("sms-test");
    assert_ne!(a, b);
    assert!(a.starts_with("sms-test-"), "{a}");
}

#[tokio::test]
async fn a_fresh_table_is_active_and_empty() {
    let (client, table) = sms_test_support::table().await;

    let scan = client.scan().table_name(&table).send().await.unwrap();

    assert_eq!(scan.count(), 0);
}

#[tokio::test]
async fn a_fresh_secret_holds_the_given_string() {
    let (client, id) = sms_test_support::secret(r#"{"a":1}"#).await;

    let value = client
        .get_secret_value()
        .secret_id(&id)
        .send()
        .await
        .unwrap();

    assert_eq!(value.secret_string(), Some(r#"{"a":1}"#));
}

#[tokio::test]
async fn a_message_received_max_receive_times_moves_to_the_dead_letter_queue() {
    // Arrange
    let (client, queue, dlq) = sms_test_support::queue_with_dlq(2).await;
    let attrs = client
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(QueueAttributeName::RedrivePolicy)
        .send()
        .await
        .unwrap();
    let policy = &attrs.attributes().unwrap()[&QueueAttributeName::RedrivePolicy];
    let policy: serde_json::Value = serde_json::from_str(policy).unwrap();
    assert_eq!(
        policy["maxReceiveCount"].to_string().trim_matches('"'),
        "2",
        "{policy}"
    );
    assert!(
        policy["deadLetterTargetArn"]
            .as_str()
            .unwrap()
            .ends_with("-dlq"),
        "{policy}"
    );
    client
        .send_message()
        .queue_url(&queue)
        .message_body("poison")
        .send()
        .await
        .unwrap();

    // Act: receive it twice without deleting it, making it visible again each time.
    for _ in 0..2 {
        let received = client
            .receive_message()
            .queue_url(&queue)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        let message = &received.messages()[0];
        assert_eq!(message.body(), Some("poison"));
        client
            .change_message_visibility()
            .queue_url(&queue)
            .receipt_handle(message.receipt_handle().unwrap())
            .visibility_timeout(0)
            .send()
            .await
            .unwrap();
    }
    let third = client
        .receive_message()
        .queue_url(&queue)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();

    // Assert
    assert!(third.messages().is_empty(), "{third:?}");
    let dead = client
        .receive_message()
        .queue_url(&dlq)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    assert_eq!(dead.messages().len(), 1);
    assert_eq!(dead.messages()[0].body(), Some("poison"));
}

#[tokio::test]
async fn a_fresh_bucket_is_private_encrypted_and_provisioned_again_unchanged() {
    let (client, bucket) = sms_test_support::bucket().await;

    // Provisioning is idempotent: `make dev` runs it on every start.
    local_stack::bucket(&client, &bucket).await.unwrap();
    let access = client
        .get_public_access_block()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let encryption = client
        .get_bucket_encryption()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let listed = client
        .list_objects_v2()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();

    let block = access.public_access_block_configuration().unwrap();
    assert_eq!(
        (
            block.block_public_acls(),
            block.ignore_public_acls(),
            block.block_public_policy(),
            block.restrict_public_buckets()
        ),
        (Some(true), Some(true), Some(true), Some(true))
    );
    let rules = encryption
        .server_side_encryption_configuration()
        .unwrap()
        .rules();
    assert_eq!(
        rules[0]
            .apply_server_side_encryption_by_default()
            .unwrap()
            .sse_algorithm(),
        &aws_sdk_s3::types::ServerSideEncryption::Aes256
    );
    assert_eq!(listed.key_count(), Some(0));
}
