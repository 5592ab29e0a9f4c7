//! Cold-start wiring shared by the functions' `main`s: each client is built once from the
//! environment (docs/architecture.md, "The secret and the settings") and reused by every
//! invocation.

use std::time::Duration;

use crate::{
    config::{self, ConfigError},
    files::{S3Files, s3_client},
    pace::{Pacer, RequestRate},
    plivo::{PlivoClient, PlivoConfig},
    secrets::{SecretCache, SecretsManagerSource},
    store::DynamoStore,
};

pub fn sqs_queue(sdk: &aws_config::SdkConfig) -> Result<crate::queue::SqsQueue, ConfigError> {
    Ok(crate::queue::SqsQueue::new(
        aws_sdk_sqs::Client::new(sdk),
        config::required("SMS_QUEUE_URL")?,
    ))
}

/// The job-files function's queue, `SMS_FILES_QUEUE_URL`: send-bulk puts a plan task on it,
/// and job-files a task to go on from a checkpoint.
pub fn files_queue(sdk: &aws_config::SdkConfig) -> Result<crate::queue::SqsQueue, ConfigError> {
    Ok(crate::queue::SqsQueue::new(
        aws_sdk_sqs::Client::new(sdk),
        config::required("SMS_FILES_QUEUE_URL")?,
    ))
}

/// Scheduled jobs' starts: one-time schedules in `SCHEDULE_GROUP` that Scheduler delivers to
/// the files queue (`SMS_FILES_QUEUE_ARN`) as `SCHEDULER_ROLE_ARN`, and puts in
/// `SMS_FILES_DLQ_ARN` when it cannot.
pub fn start_schedules(
    sdk: &aws_config::SdkConfig,
) -> Result<crate::schedule::EventBridgeStarts, ConfigError> {
    Ok(crate::schedule::EventBridgeStarts::new(
        aws_sdk_scheduler::Client::new(sdk),
        config::required("SCHEDULE_GROUP")?,
        config::required("SMS_FILES_QUEUE_ARN")?,
        config::required("SCHEDULER_ROLE_ARN")?,
        config::optional("SMS_FILES_DLQ_ARN"),
    ))
}

pub fn dynamo_store(sdk: &aws_config::SdkConfig) -> Result<DynamoStore, ConfigError> {
    Ok(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(sdk),
        config::required("SMS_TABLE")?,
    ))
}

/// The bucket `SMS_BUCKET`, addressed in the path rather than the host name when
/// `S3_FORCE_PATH_STYLE` is `true` (locally: moto's endpoint is an IP address).
pub fn s3_files(sdk: &aws_config::SdkConfig) -> Result<S3Files, ConfigError> {
    let bucket = config::required("SMS_BUCKET")?;
    let force_path_style = config::flag(
        "S3_FORCE_PATH_STYLE",
        config::optional("S3_FORCE_PATH_STYLE").as_deref(),
    )?;
    Ok(S3Files::new(s3_client(sdk, force_path_style), bucket))
}

/// The secret named by `SMS_SECRET_ID`, cached for `SECRET_TTL_SECONDS` (default 300).
pub fn secret_cache(
    sdk: &aws_config::SdkConfig,
) -> Result<SecretCache<SecretsManagerSource>, ConfigError> {
    let source = SecretsManagerSource::new(
        aws_sdk_secretsmanager::Client::new(sdk),
        config::required("SMS_SECRET_ID")?,
    );
    let ttl = config::seconds(
        "SECRET_TTL_SECONDS",
        SecretCache::<SecretsManagerSource>::DEFAULT_TTL,
    )?;
    Ok(SecretCache::new(source, ttl))
}

/// Plivo at `PLIVO_BASE_URL` (default `https://api.plivo.com`), with request timeout
/// `PLIVO_TIMEOUT_SECONDS` (default 10).
pub fn plivo_client() -> Result<PlivoClient, ConfigError> {
    Ok(PlivoClient::new(plivo_config()?)?)
}

/// The Plivo settings from the environment, for callers that adjust them further.
pub fn plivo_config() -> Result<PlivoConfig, ConfigError> {
    let base = config::optional("PLIVO_BASE_URL")
        .unwrap_or_else(|| PlivoConfig::DEFAULT_BASE_URL.to_owned());
    let mut cfg = PlivoConfig::new(base);
    cfg.request_timeout = config::seconds("PLIVO_TIMEOUT_SECONDS", Duration::from_secs(10))?;
    Ok(cfg)
}

/// Prices per destination country: `SMS_PRICES` (JSON, country code to price per segment;
/// optional), then Plivo's Pricing API at `PLIVO_BASE_URL` (`PRICING_FROM_PLIVO=false` turns
/// that off, for accounts whose rates are all in the table).
pub fn prices() -> Result<crate::pricing::Prices, ConfigError> {
    use crate::pricing::{PlivoPricing, PriceTable, Prices};
    let table = PriceTable::parse(&config::optional("SMS_PRICES").unwrap_or_default()).map_err(
        |reason| ConfigError::Invalid {
            name: "SMS_PRICES",
            reason,
        },
    )?;
    let from_plivo = match config::optional("PRICING_FROM_PLIVO").as_deref() {
        None | Some("true") => true,
        Some("false") => false,
        Some(other) => {
            return Err(ConfigError::Invalid {
                name: "PRICING_FROM_PLIVO",
                reason: format!("expected true or false, got {other:?}"),
            });
        }
    };
    let plivo = from_plivo.then(|| {
        let base = config::optional("PLIVO_BASE_URL")
            .unwrap_or_else(|| PlivoConfig::DEFAULT_BASE_URL.to_owned());
        PlivoPricing::new(base, Duration::from_secs(3))
    });
    Ok(Prices::new(table, plivo))
}

/// The Plivo client could not be built: a bad `PLIVO_BASE_URL`, or a TLS setting reqwest
/// refuses. The reason carries the whole
/// chain, since reqwest's own message is only "builder error".
impl From<reqwest::Error> for ConfigError {
    fn from(e: reqwest::Error) -> Self {
        ConfigError::Invalid {
            name: "PLIVO_BASE_URL",
            reason: crate::telemetry::error_chain(&e),
        }
    }
}

/// The account's request budget: `PLIVO_REQUESTS_PER_SECOND` (default
/// [`RequestRate::DEFAULT`]), booked in the table's `PACE` item, which every function that
/// calls Plivo shares.
pub fn pacer(store: &DynamoStore) -> Result<Pacer<DynamoStore>, ConfigError> {
    Ok(Pacer::new(store.clone(), request_rate()?))
}

pub fn request_rate() -> Result<RequestRate, ConfigError> {
    config::optional("PLIVO_REQUESTS_PER_SECOND").map_or(Ok(RequestRate::DEFAULT), |raw| {
        RequestRate::parse(&raw).map_err(|reason| ConfigError::Invalid {
            name: "PLIVO_REQUESTS_PER_SECOND",
            reason,
        })
    })
}

/// Recipients per batch: `PLIVO_BATCH_SIZE` (default and most: Plivo's 1,000 a request).
pub fn batch_size() -> Result<usize, ConfigError> {
    crate::domain::bulk::batch_size(config::optional("PLIVO_BATCH_SIZE").as_deref()).map_err(
        |reason| ConfigError::Invalid {
            name: "PLIVO_BATCH_SIZE",
            reason,
        },
    )
}

/// The fallback provider (`FALLBACK`, `FALLBACK_ORIGINATION`, `FALLBACK_MESSAGES_PER_SECOND`):
/// None when it is off, the default.
pub fn fallback(
    sdk: &aws_config::SdkConfig,
) -> Result<Option<crate::fallback::Fallback>, ConfigError> {
    use crate::fallback::{Fallback, FallbackPolicy, SnsSms};
    let policy = FallbackPolicy::parse(
        config::optional("FALLBACK").as_deref(),
        config::optional("FALLBACK_ORIGINATION").as_deref(),
    )?;
    let origination = match &policy {
        FallbackPolicy::Off => return Ok(None),
        FallbackPolicy::JobsThatAsk(o) | FallbackPolicy::AllJobs(o) => o.clone(),
    };
    let messages_per_second = config::positive(
        "FALLBACK_MESSAGES_PER_SECOND",
        config::optional("FALLBACK_MESSAGES_PER_SECOND").as_deref(),
        Fallback::DEFAULT_MESSAGES_PER_SECOND.into(),
    )?;
    Ok(Some(Fallback {
        sms: Box::new(SnsSms::new(aws_sdk_sns::Client::new(sdk), origination)),
        policy,
        rule: crate::store::CircuitRule::default(),
        messages_per_second: u32::try_from(messages_per_second).unwrap_or(u32::MAX),
    }))
}
