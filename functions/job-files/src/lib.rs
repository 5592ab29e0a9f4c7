//! job-files: the work on a job's files that does not fit in an API call
//! (docs/architecture.md, "A job from an upload"). Each SQS record is one `FileTask`:
//!
//! - `plan`: read the job's upload into its ledger (validate, render, de-duplicate, screen,
//!   batch), write the rejects file, commit the job and enqueue its batches, resuming from a
//!   checkpoint when one invocation is not enough (`planning.rs`).
//! - `results`: write the job's results file, a row per recipient, part by part from the
//!   ledger and its messages' reports, resuming from a checkpoint likewise (`results.rs`,
//!   its rows in `outcomes.rs`).
//!
//! - `sweep`: bring a job's ledger in line with its control after a resume or a cancel:
//!   parked batches enqueued again, unsent ones cancelled (`sweep.rs`).
//! - `schedule` and `start`: arrange a scheduled job's start (its one-time schedule), and
//!   start it when that schedule fires: running, then swept (`start.rs`).
//! - `reconcile`: settle a batch whose outcome is unknown from Plivo's records and reports:
//!   `sent`, or proved absent and enqueued again, once (`reconcile.rs`).
//!
//! Like the sender, it reports only records worth another delivery as `batchItemFailures`.

mod outcomes;
mod planning;
mod reconcile;
mod results;
mod start;
mod sweep;

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use chrono::{DateTime, TimeZone, Utc};
use futures::future::BoxFuture;
use lambda_runtime::LambdaEvent;
use sms_core::{
    domain::{bulk::FileTask, estimate::Rate},
    files::ObjectStore,
    pricing::Prices,
    queue::BatchQueue,
    schedule::StartSchedules,
    secrets::{SecretError, SecretProvider, ServiceSecret},
    store::{
        JobControls, JobStore, MessageStore, PlanStore, ResultsStore, SuppressionList,
        UnknownBatches,
    },
};
use tracing::{Instrument, error, info_span};

pub use outcomes::RESULTS_HEADER;
pub use planning::{PlanOutcome, plan};
pub use reconcile::{ReconcileOutcome, ReconcileSettings, Records, reconcile};
pub use results::{ResultsOutcome, build_results};
pub use start::{StartOutcome, arrange_start, start};
pub use sweep::{SweepOutcome, sweep};

pub struct App<S, F, Q, T, C> {
    pub store: S,
    pub files: F,
    /// The batch queue the sender reads.
    pub batches: Q,
    /// This function's own queue: where a plan that stopped at a checkpoint goes on.
    pub tasks: T,
    /// Scheduled jobs' starts (EventBridge Scheduler).
    pub schedules: C,
    pub settings: Settings,
    /// Prices for a capped plan's estimate (docs/api.md, "Budget").
    pub pricing: Pricing,
    /// Plivo's records, which settle unknown batches.
    pub records: Records,
}

/// What a capped plan is priced with, as send-bulk prices a list: the deployment's table
/// (`SMS_PRICES`), then Plivo's Pricing API with the service secret's credentials.
pub struct Pricing {
    pub prices: Prices,
    /// The service secret; None: the table alone (a country it lacks has no price).
    pub secrets: Option<Box<dyn Credentials>>,
}

/// The service secret, boxed: the secret provider's own future is not object-safe, and one
/// more type parameter on [`App`] would reach every task for the planner's sake.
pub trait Credentials: Send + Sync {
    fn secret(&self) -> BoxFuture<'_, Result<Arc<ServiceSecret>, SecretError>>;
}

impl<P: SecretProvider> Credentials for P {
    fn secret(&self) -> BoxFuture<'_, Result<Arc<ServiceSecret>, SecretError>> {
        Box::pin(self.current())
    }
}

impl Pricing {
    /// From the table alone.
    pub fn table(prices: Prices) -> Self {
        Self {
            prices,
            secrets: None,
        }
    }

    /// Each country's rate, as send-bulk's estimate reads it: a secret that cannot be read
    /// leaves the countries the table lacks `Unavailable` (worth a retry), not unpriced.
    pub async fn rates<'a>(
        &self,
        countries: impl IntoIterator<Item = &'a str>,
    ) -> BTreeMap<String, Rate> {
        let Some(secrets) = &self.secrets else {
            return self.prices.rates(countries, None).await;
        };
        let secret = secrets.secret().await;
        self.prices
            .rates_with_secret(countries, secret.as_deref())
            .await
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Recipients per batch (`PLIVO_BATCH_SIZE`).
    pub batch_size: usize,
    /// Rows one invocation reads before it saves a checkpoint and hands the rest on
    /// (`PLANNER_ROWS_PER_INVOCATION`); the invocation's deadline stops it sooner if need be.
    pub rows_per_invocation: u64,
}

impl Settings {
    /// Far more than one invocation needs for a million rows (docs/operations.md).
    pub const DEFAULT_ROWS_PER_INVOCATION: u64 = 5_000_000;
}

/// What the store must offer job-files.
pub trait FilesStore:
    PlanStore + JobStore + JobControls + SuppressionList + ResultsStore + UnknownBatches + MessageStore
{
}
impl<
    T: PlanStore
        + JobStore
        + JobControls
        + SuppressionList
        + ResultsStore
        + UnknownBatches
        + MessageStore,
> FilesStore for T
{
}

/// Used when the invocation has no usable deadline (never on Lambda): Lambda's longest.
const FALLBACK_DEADLINE: Duration = Duration::from_secs(900);

pub async fn handle<S, F, Q, T, C>(
    event: LambdaEvent<SqsEvent>,
    app: &App<S, F, Q, T, C>,
) -> SqsBatchResponse
where
    S: FilesStore,
    F: ObjectStore,
    Q: BatchQueue,
    T: BatchQueue,
    C: StartSchedules,
{
    let request_id = event.context.request_id.clone();
    let deadline = deadline(event.context.deadline, Utc::now());
    let mut response = SqsBatchResponse::default();
    // One record at a time: a plan may use the whole invocation.
    for record in &event.payload.records {
        let message_id = record.message_id.clone().unwrap_or_default();
        let span = info_span!("task", %request_id, %message_id, job_id = tracing::field::Empty);
        let retry = async {
            let Some(task) = record
                .body
                .as_deref()
                .and_then(|body| serde_json::from_str::<FileTask>(body).ok())
            else {
                error!("malformed record; it goes to the dead-letter queue");
                return true;
            };
            tracing::Span::current().record("job_id", task.job_id().as_str());
            match task {
                FileTask::Plan { job_id } => plan(&job_id, app, deadline).await.retry(),
                FileTask::Results { job_id, generation } => {
                    build_results(&job_id, generation, app, deadline)
                        .await
                        .retry()
                }
                FileTask::Sweep { job_id, from } => {
                    sweep(&job_id, from, app, deadline).await.retry()
                }
                FileTask::Schedule { job_id, at } => {
                    arrange_start(&job_id, at, app, deadline).await.retry()
                }
                FileTask::Start { job_id } => start(&job_id, app, deadline).await.retry(),
                FileTask::Reconcile {
                    job_id,
                    batch,
                    round,
                } => reconcile(&job_id, batch, round, app).await.retry(),
            }
        }
        .instrument(span)
        .await;
        if retry {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = message_id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

fn deadline(deadline_ms: u64, now: DateTime<Utc>) -> DateTime<Utc> {
    i64::try_from(deadline_ms)
        .ok()
        .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
        .filter(|d| *d > now)
        .unwrap_or_else(|| now + chrono::Duration::from_std(FALLBACK_DEADLINE).unwrap_or_default())
}
