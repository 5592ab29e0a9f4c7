//! Where smsctl sends its requests and with which key: flags, then the environment, then
//! the profile file. Three wiremock APIs stand for three places; the one that is asked shows
//! which setting won. The key is never printed.

mod common;

use common::{Dir, KEY, command, command_against, finish, json_response, on, problem, requests};
use serde_json::json;
use wiremock::{
    Mock, MockServer,
    matchers::{header, method},
};

const UUID: &str = "4f8a0c3e-1111-4222-8333-944455556666";

/// An API that answers GET /v1/messages/{UUID} to the bearer of `key` only.
async fn api_for(key: &str) -> MockServer {
    let api = MockServer::start().await;
    on("GET", format!("/v1/messages/{UUID}"))
        .and(header("authorization", format!("Bearer {key}").as_str()))
        .respond_with(json_response(
            200,
            json!({"message_uuid": UUID, "status": "delivered", "to": "+14155550123"}),
        ))
        .mount(&api)
        .await;
    api
}

async fn asked(api: &MockServer) -> usize {
    requests(api).await.len()
}

fn profile_file(home: &Dir, profiles: &[(&str, &str, &str)]) {
    let mut text = String::new();
    for (name, url, key) in profiles {
        text.push_str(&format!(
            "[profiles.{name}]\napi_url = \"{url}\"\napi_key = \"{key}\"\n"
        ));
    }
    std::fs::create_dir_all(home.0.join("config/smsctl")).unwrap();
    std::fs::write(home.0.join("config/smsctl/config.toml"), text).unwrap();
}

#[tokio::test]
async fn a_flag_comes_before_the_environment_which_comes_before_the_profile() {
    let (by_flag, by_env, by_profile) = (
        api_for("flag-key").await,
        api_for("env-key").await,
        api_for(KEY).await,
    );
    let home = Dir::new("precedence");
    profile_file(&home, &[("default", &by_profile.uri(), KEY)]);

    // The profile alone.
    let run = finish(command(&home).args(["message", UUID])).await;
    run.assert_code(0);
    assert_eq!(asked(&by_profile).await, 1);

    // The environment over the profile.
    let run =
        finish(command_against(&home, &by_env.uri(), "env-key").args(["message", UUID])).await;
    run.assert_code(0);
    assert_eq!(asked(&by_env).await, 1);

    // Flags over the environment.
    let run = finish(command_against(&home, &by_env.uri(), "env-key").args([
        "--api-url",
        &by_flag.uri(),
        "--api-key",
        "flag-key",
        "message",
        UUID,
    ]))
    .await;
    run.assert_code(0);
    assert_eq!((asked(&by_flag).await, asked(&by_env).await), (1, 1));
}

#[tokio::test]
async fn sms_profile_or_profile_chooses_a_named_profile() {
    let (staging, prod) = (api_for(KEY).await, api_for(KEY).await);
    let home = Dir::new("named-profiles");
    profile_file(
        &home,
        &[("staging", &staging.uri(), KEY), ("prod", &prod.uri(), KEY)],
    );

    let run = finish(
        command(&home)
            .env("SMS_PROFILE", "staging")
            .args(["message", UUID]),
    )
    .await;
    run.assert_code(0);
    let run = finish(command(&home).env("SMS_PROFILE", "staging").args([
        "--profile",
        "prod",
        "message",
        UUID,
    ]))
    .await;
    run.assert_code(0);
    assert_eq!((asked(&staging).await, asked(&prod).await), (1, 1));
}

#[tokio::test]
async fn no_url_or_key_anywhere_is_a_usage_error_saying_where_to_set_them() {
    let home = Dir::new("nothing-configured");
    let run = finish(command(&home).args(["message", UUID])).await;
    run.assert_code(2);
    run.assert_stderr_has("SMS_API_URL");

    let run = finish(command(&home).args(["--profile", "prod", "message", UUID])).await;
    run.assert_code(2);
    run.assert_stderr_has("no profile \"prod\"");
}

#[tokio::test]
async fn the_key_shows_neither_in_help_nor_in_a_refusal() {
    let api = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(json_response(
            403,
            problem(403, "forbidden", "Forbidden", "the API key is not valid"),
        ))
        .mount(&api)
        .await;
    let home = Dir::new("secret");
    // `finish` checks that neither stream holds KEY.
    let help = finish(command(&home).env("SMS_API_KEY", KEY).arg("--help")).await;
    help.assert_code(0);
    help.assert_stdout_has("Exit codes:");
    let refused = finish(command_against(&home, &api.uri(), KEY).args(["message", UUID])).await;
    refused.assert_code(3);
    refused.assert_stderr_has("403 Forbidden");
}

#[tokio::test]
async fn a_usage_error_of_the_command_line_exits_2() {
    let home = Dir::new("usage");
    let run = finish(command(&home).args(["send", "--to", "+14155550123"])).await;
    run.assert_code(2);
    run.assert_stderr_has("--text");
}
