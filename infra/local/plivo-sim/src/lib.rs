//! A local stand-in for Plivo's Message API (docs/plivo.md): sending, and listing and getting
//! the messages sent (`messages.rs`); Basic auth, `<`-joined destinations, `invalid_number`,
//! signed delivery reports to the message's `url`, an enforced request-rate limit, and
//! injectable latency, 429s, 5xx and slow answers. Everything it received can be read back
//! under `/__sim/`. See README.md beside this crate for the
//! settings and number ranges.

mod auth;
pub mod config;
mod faults;
mod inspect;
pub mod messages;
mod order;
mod pricing;
pub mod rate_limit;
pub mod reports;
pub mod request;
mod send;
pub mod state;

use std::{future::Future, io, net::SocketAddr};

use axum::{
    Router,
    routing::{get, post},
};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

pub use config::{ReportMode, Settings, SettingsPatch, SimConfig};
pub use rate_limit::{RateLimit, RateLimitSetting};
pub use request::POWERPACK_NUMBER;
pub use state::{Outcome, RateLimitStats, RequestRecord, SimState, Stats, StoredMessage};

pub fn router(state: SimState) -> Router {
    Router::new()
        .route(
            "/v1/Account/{auth_id}/Message/",
            post(send::send_message).get(messages::list_messages),
        )
        .route(
            "/v1/Account/{auth_id}/Message",
            post(send::send_message).get(messages::list_messages),
        )
        .route(
            "/v1/Account/{auth_id}/Message/{message_uuid}/",
            get(messages::get_message),
        )
        .route(
            "/v1/Account/{auth_id}/Message/{message_uuid}",
            get(messages::get_message),
        )
        .route("/v1/Account/{auth_id}/Pricing/", get(pricing::get_pricing))
        .route("/v1/Account/{auth_id}/Pricing", get(pricing::get_pricing))
        .route("/health", get(inspect::health))
        .route("/__sim/requests", get(inspect::requests))
        .route("/__sim/stats", get(inspect::stats))
        .route("/__sim/reset", post(inspect::reset))
        .route(
            "/__sim/config",
            get(inspect::get_config).post(inspect::post_config),
        )
        .fallback(inspect::not_found)
        .with_state(state)
}

/// A simulator serving in the background, for tests. Dropping it stops the server.
pub struct RunningSim {
    addr: SocketAddr,
    state: SimState,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<io::Result<()>>,
}

impl RunningSim {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`: what a Plivo client takes as its base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The message endpoint for the configured account.
    pub fn message_url(&self) -> String {
        format!(
            "{}/v1/Account/{}/Message/",
            self.url(),
            self.state.credentials().auth_id
        )
    }

    pub fn state(&self) -> &SimState {
        &self.state
    }

    /// Stops accepting, lets requests in flight finish, and waits for the server to end.
    pub async fn stop(mut self) -> io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.map_err(io::Error::other)?
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn state_for(config: &SimConfig) -> io::Result<SimState> {
    SimState::new(config).map_err(io::Error::other)
}

/// Binds `config.addr` (port 0 picks a free one) and serves in the background.
pub async fn start(config: SimConfig) -> io::Result<RunningSim> {
    let state = state_for(&config)?;
    let listener = TcpListener::bind(config.addr).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let app = router(state.clone());
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                // A dropped sender is a stop too.
                let _ = stopped.await;
            })
            .await
    });
    Ok(RunningSim {
        addr,
        state,
        stop: Some(stop),
        task,
    })
}

/// Serves on `config.addr` until Ctrl-C or SIGTERM.
pub async fn serve(config: SimConfig) -> io::Result<()> {
    serve_until(config, shutdown_signal()).await
}

/// Serves on `config.addr` until `shutdown` completes, then lets requests in flight finish.
pub async fn serve_until(
    config: SimConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let state = state_for(&config)?;
    let listener = TcpListener::bind(config.addr).await?;
    tracing::info!(
        addr = %listener.local_addr()?,
        auth_id = %config.credentials.auth_id,
        settings = ?config.settings,
        report_concurrency = config.report_concurrency,
        "Plivo simulator listening"
    );
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Ctrl-C or SIGTERM (what `kill` and process supervisors send). If a signal cannot be
/// watched, that one simply never fires, rather than stopping the server at once.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
