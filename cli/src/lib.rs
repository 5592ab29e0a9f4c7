//! smsctl, the service's command-line client. It speaks only the public HTTP API
//! (docs/api.md); docs/smsctl.md says what each command does and what its exit status means.

pub mod api;
pub mod cli;
pub mod commands;
pub mod config;
pub mod context;
pub mod duration;
pub mod exit;
pub mod failure;
pub mod job_view;
pub mod problem;
pub mod watch;

use std::io::IsTerminal;

use secrecy::SecretString;

use crate::{
    cli::{Cli, Command, Output},
    context::Context,
    failure::Failure,
    watch::Display,
};

/// Runs one command line; the caller turns the failure into an exit status.
pub async fn run(cli: Cli) -> Result<(), Failure> {
    let Cli { global, command } = cli;
    let settings = config::resolve(config::Given {
        api_url: global.api_url,
        api_key: global.api_key.map(SecretString::from),
        profile: global.profile,
        config: global.config,
    })?;
    // Bars only for a person at a terminal; logs, pipes and scripts get plain lines.
    let display = if global.no_progress
        || global.output == Output::Json
        || !std::io::stderr().is_terminal()
        || !std::io::stdout().is_terminal()
    {
        Display::Lines
    } else {
        Display::Bars
    };
    let ctx = Context {
        api: api::Api::new(settings)?,
        output: global.output,
        display,
        poll_interval: global.poll_interval,
    };
    match command {
        Command::Send(args) => commands::send::send(&ctx, args).await,
        Command::Message(args) => commands::send::message(&ctx, args).await,
        Command::Bulk(args) => commands::bulk::bulk(&ctx, args).await,
        Command::Job(args) => commands::job::show(&ctx, args).await,
        Command::Pause(args) => commands::job::pause(&ctx, args).await,
        Command::Resume(args) => commands::job::resume(&ctx, args).await,
        Command::Cancel(args) => commands::job::cancel(&ctx, args).await,
        Command::Results(args) => commands::results::results(&ctx, args).await,
    }
}
