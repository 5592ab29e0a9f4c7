//! Creates the AWS resources of template.yaml in an emulator (moto): the table, the batch
//! queue with its dead-letter queue, the secret, the files' bucket and the schedule group.
//! Every call is idempotent, so `make dev` can run it on every start.

pub mod api_gateway;
pub mod events;
pub mod events_check;
pub mod invoke;
pub mod schedules;
pub mod streams;

use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use sms_core::store::schema;

#[derive(Debug, thiserror::Error)]
#[error("{what}: {reason}")]
pub struct ProvisionError {
    what: String,
    reason: String,
}

fn failed(what: impl Into<String>, e: impl std::fmt::Display) -> ProvisionError {
    ProvisionError {
        what: what.into(),
        reason: e.to_string(),
    }
}

/// The table of docs/architecture.md, "The table".
pub async fn table(client: &aws_sdk_dynamodb::Client, name: &str) -> Result<(), ProvisionError> {
    schema::create_table(client, name)
        .await
        .map_err(|e| failed(format!("creating table {name}"), e))
}

/// A queue whose messages move to `<name>-dlq` after `max_receive` receives, as in the
/// template. Returns the queue's and the dead-letter queue's URLs.
pub async fn queue_with_dlq(
    client: &aws_sdk_sqs::Client,
    name: &str,
    max_receive: u32,
    visibility_timeout_seconds: u32,
) -> Result<(String, String), ProvisionError> {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let dlq_name = format!("{name}-dlq");
    let dlq_url = client
        .create_queue()
        .queue_name(&dlq_name)
        .send()
        .await
        .map_err(|e| {
            failed(
                format!("creating queue {dlq_name}"),
                aws_sdk_sqs::error::DisplayErrorContext(e),
            )
        })?
        .queue_url
        .unwrap_or_default();
    let dlq_arn = queue_arn(client, &dlq_url).await?;
    let redrive =
        serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive})
            .to_string();
    let queue_url = client
        .create_queue()
        .queue_name(name)
        .attributes(A::RedrivePolicy, &redrive)
        .attributes(A::VisibilityTimeout, visibility_timeout_seconds.to_string())
        .send()
        .await
        .map_err(|e| {
            failed(
                format!("creating queue {name}"),
                aws_sdk_sqs::error::DisplayErrorContext(e),
            )
        })?
        .queue_url
        .unwrap_or_default();
    // create_queue returns an existing queue untouched: make the settings current.
    client
        .set_queue_attributes()
        .queue_url(&queue_url)
        .attributes(A::RedrivePolicy, redrive)
        .attributes(A::VisibilityTimeout, visibility_timeout_seconds.to_string())
        .send()
        .await
        .map_err(|e| {
            failed(
                format!("configuring queue {name}"),
                aws_sdk_sqs::error::DisplayErrorContext(e),
            )
        })?;
    Ok((queue_url, dlq_url))
}

/// The ARN of the queue at `url`.
pub async fn queue_arn(client: &aws_sdk_sqs::Client, url: &str) -> Result<String, ProvisionError> {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::QueueArn)
        .send()
        .await
        .map_err(|e| {
            failed(
                format!("reading the ARN of {url}"),
                aws_sdk_sqs::error::DisplayErrorContext(e),
            )
        })?
        .attributes
        .and_then(|mut a| a.remove(&A::QueueArn))
        .ok_or_else(|| failed(format!("reading the ARN of {url}"), "no QueueArn attribute"))
}

/// The schedule group scheduled jobs' starts go in (the template's `StartScheduleGroup`).
pub async fn schedule_group(
    client: &aws_sdk_scheduler::Client,
    name: &str,
) -> Result<(), ProvisionError> {
    match client.create_schedule_group().name(name).send().await {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some("ConflictException") => Ok(()),
        Err(e) => Err(failed(
            format!("creating schedule group {name}"),
            aws_sdk_scheduler::error::DisplayErrorContext(e),
        )),
    }
}

/// Creates the secret, or replaces its value if it exists.
pub async fn secret(
    client: &aws_sdk_secretsmanager::Client,
    id: &str,
    json: &str,
) -> Result<(), ProvisionError> {
    let created = client
        .create_secret()
        .name(id)
        .secret_string(json)
        .send()
        .await;
    match created {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some("ResourceExistsException") => client
            .put_secret_value()
            .secret_id(id)
            .secret_string(json)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                failed(
                    format!("updating secret {id}"),
                    aws_sdk_secretsmanager::error::DisplayErrorContext(e),
                )
            }),
        Err(e) => Err(failed(
            format!("creating secret {id}"),
            aws_sdk_secretsmanager::error::DisplayErrorContext(e),
        )),
    }
}

/// The files' bucket, private: every public access blocked, objects encrypted at rest with
/// S3-managed keys (SSE-S3) by default. `client` should address buckets in the path
/// ([`sms_core::files::s3_client`] with `force_path_style`): moto's endpoint is an IP address.
pub async fn bucket(client: &aws_sdk_s3::Client, name: &str) -> Result<(), ProvisionError> {
    use aws_sdk_s3::{
        error::DisplayErrorContext,
        types::{
            BucketLocationConstraint, CreateBucketConfiguration, PublicAccessBlockConfiguration,
            ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
            ServerSideEncryptionRule,
        },
    };
    let mut create = client.create_bucket().bucket(name);
    // us-east-1 is S3's default location and must not be named; any other region must be.
    if let Some(region) = client
        .config()
        .region()
        .map(|r| r.as_ref())
        .filter(|r| *r != "us-east-1")
    {
        create = create.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region))
                .build(),
        );
    }
    match create.send().await {
        Ok(_) => {}
        Err(e) if e.code() == Some("BucketAlreadyOwnedByYou") => {}
        Err(e) => {
            return Err(failed(
                format!("creating bucket {name}"),
                DisplayErrorContext(e),
            ));
        }
    }
    client
        .put_public_access_block()
        .bucket(name)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .map_err(|e| {
            failed(
                format!("blocking public access to bucket {name}"),
                DisplayErrorContext(e),
            )
        })?;
    let sse_s3 = ServerSideEncryptionByDefault::builder()
        .sse_algorithm(ServerSideEncryption::Aes256)
        .build()
        .map_err(|e| failed(format!("encrypting bucket {name}"), e))?;
    let encryption = ServerSideEncryptionConfiguration::builder()
        .rules(
            ServerSideEncryptionRule::builder()
                .apply_server_side_encryption_by_default(sse_s3)
                .build(),
        )
        .build()
        .map_err(|e| failed(format!("encrypting bucket {name}"), e))?;
    client
        .put_bucket_encryption()
        .bucket(name)
        .server_side_encryption_configuration(encryption)
        .send()
        .await
        .map_err(|e| failed(format!("encrypting bucket {name}"), DisplayErrorContext(e)))?;
    Ok(())
}
