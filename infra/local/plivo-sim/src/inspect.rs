//! The test-facing endpoints under `/__sim/`, and `/health`.

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::{config::SettingsPatch, send::plivo_error, state::SimState};

pub async fn health() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

pub async fn requests(State(state): State<SimState>) -> Response {
    Json(state.requests()).into_response()
}

pub async fn stats(State(state): State<SimState>) -> Response {
    Json(state.stats()).into_response()
}

pub async fn reset(State(state): State<SimState>) -> Response {
    state.reset();
    tracing::info!("simulator reset");
    Json(json!({"reset": true})).into_response()
}

pub async fn get_config(State(state): State<SimState>) -> Response {
    Json(state.settings()).into_response()
}

/// A partial update; unknown fields and out-of-range values are refused with a 400 that
/// names them, and then nothing changes.
pub async fn post_config(State(state): State<SimState>, body: Bytes) -> Response {
    // The path names the field whose value could not be read (`rate_limit: expected ...`).
    let patch: SettingsPatch =
        match serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(&body)) {
            Ok(p) => p,
            Err(e) => {
                return plivo_error(StatusCode::BAD_REQUEST, &format!("invalid settings: {e}"));
            }
        };
    match state.update_settings(patch) {
        Ok(settings) => {
            tracing::info!(?settings, "settings changed");
            Json(settings).into_response()
        }
        Err(e) => plivo_error(StatusCode::BAD_REQUEST, &format!("invalid settings: {e}")),
    }
}

pub async fn not_found() -> Response {
    plivo_error(StatusCode::NOT_FOUND, "no such resource")
}
