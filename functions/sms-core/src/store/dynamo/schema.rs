//! The table's key schema, for tools that create it outside CloudFormation (the local stack
//! and tests). template.yaml declares the same table for AWS.
//!
//! One table (docs/architecture.md, "The table"): `pk` (S) hash key, `sk` (S) range key,
//! on-demand billing, TTL on `expires_at`, a stream of new and old images (read by function
//! report-counts, locally by the stream poller and the tests).

use std::time::Duration;

use aws_sdk_dynamodb::{
    Client,
    error::ProvideErrorMetadata,
    types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        StreamSpecification, StreamViewType, TableStatus, TimeToLiveSpecification,
        TimeToLiveStatus,
    },
};

use super::backend;
use crate::store::StoreError;
pub use crate::store::keys::TTL_ATTRIBUTE;

/// How long [`create_table`] waits for the table to become `ACTIVE`.
const ACTIVE_TIMEOUT: Duration = Duration::from_secs(120);
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Creates the table `name` if it does not exist, waits until it is `ACTIVE`, then enables
/// TTL on `expires_at`. Idempotent: an existing table (and TTL already on) is fine; an
/// existing table's key schema is not checked.
pub async fn create_table(client: &Client, name: &str) -> Result<(), StoreError> {
    let created = client
        .create_table()
        .table_name(name)
        .attribute_definitions(attribute("pk")?)
        .attribute_definitions(attribute("sk")?)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        .billing_mode(BillingMode::PayPerRequest)
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .map_err(|e| build_error("StreamSpecification", e))?,
        )
        .send()
        .await;
    match created {
        Ok(_) => {}
        // The table exists already (or is being created by someone else): wait for it below.
        Err(e)
            if e.as_service_error().and_then(|se| se.code()) == Some("ResourceInUseException") => {}
        Err(e) => return Err(backend("CreateTable", e)),
    }

    wait_until_active(client, name).await?;

    let ttl = client
        .describe_time_to_live()
        .table_name(name)
        .send()
        .await
        .map_err(|e| backend("DescribeTimeToLive", e))?;
    let ttl_on = ttl.time_to_live_description().is_some_and(|d| {
        d.attribute_name() == Some(TTL_ATTRIBUTE)
            && matches!(
                d.time_to_live_status(),
                Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
            )
    });
    if !ttl_on {
        let spec = TimeToLiveSpecification::builder()
            .attribute_name(TTL_ATTRIBUTE)
            .enabled(true)
            .build()
            .map_err(|e| build_error("TimeToLiveSpecification", e))?;
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(spec)
            .send()
            .await
            .map_err(|e| backend("UpdateTimeToLive", e))?;
    }
    Ok(())
}

async fn wait_until_active(client: &Client, name: &str) -> Result<(), StoreError> {
    let deadline = tokio::time::Instant::now() + ACTIVE_TIMEOUT;
    loop {
        let out = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|e| backend("DescribeTable", e))?;
        let status = out.table().and_then(|t| t.table_status()).cloned();
        if status == Some(TableStatus::Active) {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(StoreError::Backend {
                operation: "DescribeTable",
                reason: format!(
                    "table {name} is not ACTIVE after {}s (status {status:?})",
                    ACTIVE_TIMEOUT.as_secs()
                ),
            });
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

fn attribute(name: &str) -> Result<AttributeDefinition, StoreError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|e| build_error("AttributeDefinition", e))
}

fn key(name: &str, key_type: KeyType) -> Result<KeySchemaElement, StoreError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .map_err(|e| build_error("KeySchemaElement", e))
}

fn build_error(what: &str, e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Backend {
        operation: "CreateTable",
        reason: format!("{what}: {e}"),
    }
}
