//! The command line: global options and one subcommand each for what the API offers.

use std::{path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::{duration, exit};

/// The command-line client of the SMS service: single sends, bulk jobs from a file with live
/// progress, campaign control and results files, over the service's HTTP API.
#[derive(Parser)]
#[command(name = "smsctl", version, after_long_help = exit::HELP, after_help = exit::HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// No Debug: the API key is among these.
#[derive(Args)]
pub struct Global {
    /// The API's base URL (the stack's ApiUrl; http://127.0.0.1:3000 for `make dev`).
    #[arg(long, global = true, env = "SMS_API_URL", value_name = "URL")]
    pub api_url: Option<String>,
    /// The API key. Prefer SMS_API_KEY or a profile: a flag shows in the process list.
    #[arg(
        long,
        global = true,
        env = "SMS_API_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub api_key: Option<String>,
    /// The profile of the profile file to use (default: its default_profile, else `default`).
    #[arg(long, global = true, env = "SMS_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,
    /// The profile file (default: ~/.config/smsctl/config.toml).
    #[arg(long, global = true, env = "SMSCTL_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// `text` for people, `json` for scripts: the API's JSON answer, one document per command
    /// (the final one with --wait/--watch), problem documents included.
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// Plain progress lines instead of bars, even on a terminal.
    #[arg(long, global = true)]
    pub no_progress: bool,
    /// How often --wait and --watch ask the API.
    #[arg(long, global = true, value_name = "DURATION", default_value = "2s", value_parser = duration::parse)]
    pub poll_interval: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Subcommand)]
pub enum Command {
    /// Send one SMS (POST /v1/messages); with --wait, follow it to its final status.
    Send(SendArgs),
    /// Show one message (GET /v1/messages/{uuid}); with --wait, follow it to its final status.
    Message(MessageArgs),
    /// Send one text to every recipient of a CSV or lines file: upload it, start the job,
    /// and with --watch follow it with live progress.
    Bulk(BulkArgs),
    /// Show a job (GET /v1/bulk/{id}); with --watch, follow it until it ends.
    Job(JobArgs),
    /// Pause a job: no batch of it goes to Plivo until it is resumed.
    Pause(JobId),
    /// Resume a paused job, optionally raising its budget cap.
    Resume(ResumeArgs),
    /// Cancel a job: every batch not yet sent ends cancelled, for good.
    Cancel(JobId),
    /// Build a job's results file (a row per recipient) and download it.
    Results(ResultsArgs),
}

#[derive(Args, Debug)]
pub struct Waiting {
    /// Give up waiting after this long (the message or job goes on): exit 5.
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    pub timeout: Option<Duration>,
}

#[derive(Args, Debug)]
pub struct SendArgs {
    /// The recipient, E.164 (+14155550123).
    #[arg(long)]
    pub to: String,
    /// The message.
    #[arg(long)]
    pub text: String,
    /// A number, an alphanumeric sender ID or a Powerpack's UUID (default: the service's).
    #[arg(long)]
    pub from: Option<String>,
    /// Your own reference, kept with the message.
    #[arg(long)]
    pub reference: Option<String>,
    /// Send later: RFC 3339 with its offset (2026-12-08T10:00:00-05:00), up to 35 days ahead.
    #[arg(long, value_name = "TIME")]
    pub send_at: Option<String>,
    /// Seconds the message stays worth sending.
    #[arg(long, value_name = "SECONDS")]
    pub valid_for: Option<u64>,
    /// Send the text with its GSM-7 look-alikes replaced.
    #[arg(long)]
    pub smart_encoding: bool,
    /// Refuse a landline rather than send to it.
    #[arg(long)]
    pub skip_landlines: bool,
    /// Makes a retry safe: the same key and body within 24 h sends nothing more.
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,
    /// Follow the message until delivered, undelivered, failed or rejected (exit 0 only
    /// when delivered); a scheduled message's job until it ends.
    #[arg(long)]
    pub wait: bool,
    #[command(flatten)]
    pub waiting: Waiting,
}

#[derive(Args, Debug)]
pub struct MessageArgs {
    /// The message's uuid.
    pub uuid: String,
    /// Follow it until its status is final.
    #[arg(long)]
    pub wait: bool,
    #[command(flatten)]
    pub waiting: Waiting,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FileFormat {
    /// A header row, then a recipient a row; other columns fill {{placeholders}}.
    Csv,
    /// One number a line, no header.
    Lines,
}

impl FileFormat {
    pub fn api_name(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Lines => "lines",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv",
            Self::Lines => "text/plain",
        }
    }
}

/// Quiet hours as `21:00-08:00`: local hours of each recipient in which nothing is sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuietHours {
    pub from: String,
    pub to: String,
}

impl QuietHours {
    /// Reads `HH:MM-HH:MM`. The API checks the hours themselves; this only splits them.
    pub fn parse(text: &str) -> Result<Self, String> {
        let is_hh_mm = |s: &str| {
            let b = s.as_bytes();
            b.len() == 5 && b[2] == b':' && s.chars().filter(char::is_ascii_digit).count() == 4
        };
        match text.trim().split_once('-') {
            Some((from, to)) if is_hh_mm(from.trim()) && is_hh_mm(to.trim()) => Ok(Self {
                from: from.trim().to_owned(),
                to: to.trim().to_owned(),
            }),
            _ => Err(format!(
                "{text:?} is not quiet hours: write FROM-TO in 24-hour HH:MM, e.g. 21:00-08:00"
            )),
        }
    }
}

#[derive(Args, Debug)]
pub struct BulkArgs {
    /// The recipient file: CSV with a header (the numbers in a `phone` or `to` column) or,
    /// with --format lines, a number a line.
    pub file: PathBuf,
    /// The message; in a CSV job it may hold {{column}} and {{column|default}}.
    #[arg(long)]
    pub text: String,
    /// A number, an alphanumeric sender ID or a Powerpack's UUID (default: the service's).
    #[arg(long)]
    pub from: Option<String>,
    /// Your own reference, kept with the job.
    #[arg(long)]
    pub reference: Option<String>,
    /// Check, price and preview the job; write and send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Start later: RFC 3339 with its offset, up to 35 days ahead.
    #[arg(long, value_name = "TIME")]
    pub send_at: Option<String>,
    /// Local hours of each recipient in which nothing is sent, FROM-TO (21:00-08:00).
    #[arg(long, value_name = "FROM-TO", value_parser = QuietHours::parse)]
    pub quiet_hours: Option<QuietHours>,
    #[arg(long, value_enum, default_value_t = FileFormat::Csv)]
    pub format: FileFormat,
    /// The CSV's number column (default: `phone` or `to`).
    #[arg(long, value_name = "COLUMN")]
    pub phone_column: Option<String>,
    /// The most the job may cost (25, 12.50): refused over it, paused before crossing it.
    #[arg(long, value_name = "AMOUNT")]
    pub max_cost: Option<String>,
    /// The most message segments the job may take.
    #[arg(long, value_name = "N")]
    pub max_segments: Option<u64>,
    /// Seconds the messages stay worth sending.
    #[arg(long, value_name = "SECONDS")]
    pub valid_for: Option<u64>,
    /// Send each text with its GSM-7 look-alikes replaced.
    #[arg(long)]
    pub smart_encoding: bool,
    /// Do not send to landlines.
    #[arg(long)]
    pub skip_landlines: bool,
    /// Makes a retry safe: the same key, body and file start the job once.
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,
    /// Follow the job with live progress until it is done or cancelled.
    #[arg(long)]
    pub watch: bool,
    #[command(flatten)]
    pub waiting: Waiting,
}

/// The positional job id every job command starts with.
#[derive(Args, Debug)]
pub struct JobId {
    /// The job's id.
    pub job_id: String,
}

#[derive(Args, Debug)]
pub struct JobArgs {
    #[command(flatten)]
    pub job: JobId,
    /// Follow the job with live progress until it is done, cancelled or failed.
    #[arg(long)]
    pub watch: bool,
    #[command(flatten)]
    pub waiting: Waiting,
}

#[derive(Args, Debug)]
pub struct ResumeArgs {
    #[command(flatten)]
    pub job: JobId,
    /// Raise the job's cost cap (a job paused by its budget).
    #[arg(long, value_name = "AMOUNT")]
    pub max_cost: Option<String>,
    /// Raise the job's segment cap.
    #[arg(long, value_name = "N")]
    pub max_segments: Option<u64>,
}

#[derive(Args, Debug)]
pub struct ResultsArgs {
    #[command(flatten)]
    pub job: JobId,
    /// Where to write the CSV.
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub out: PathBuf,
    /// Give up waiting for the file after this long (default 10m).
    #[arg(long, value_name = "DURATION", value_parser = duration::parse, default_value = "10m")]
    pub timeout: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_hours_are_from_and_to() {
        assert_eq!(
            QuietHours::parse("21:00-08:00"),
            Ok(QuietHours {
                from: "21:00".into(),
                to: "08:00".into()
            })
        );
        assert!(QuietHours::parse("21-8").is_err());
        assert!(QuietHours::parse("21:00").is_err());
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
