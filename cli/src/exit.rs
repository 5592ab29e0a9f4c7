//! What smsctl's exit status means. One scheme for every command, so a script can tell "try
//! again later" from "fix the request" from "it was sent but did not arrive".

/// Everything asked for was done (and, with `--wait` or `--watch`, ended well).
pub const SUCCESS: u8 = 0;
/// The service or the network failed: a 5xx, no answer, an answer that is not the API's.
/// Trying again later may work.
pub const SERVICE: u8 = 1;
/// The command line or the configuration is wrong (clap uses 2 for its own errors too).
pub const USAGE: u8 = 2;
/// The API refused the request (a 4xx problem document): fix the request.
pub const REFUSED: u8 = 3;
/// What was waited for ended badly: a message `undelivered`, `failed` or `rejected`; a job
/// `cancelled`, whose planning failed, or that ended with failed or unknown batches or
/// failed, undelivered or rejected messages.
pub const ENDED_BADLY: u8 = 4;
/// `--wait`, `--watch` or a results file ran past `--timeout`; the message or job goes on.
pub const TIMED_OUT: u8 = 5;
/// Ctrl-C while waiting or watching; the message or job goes on.
pub const INTERRUPTED: u8 = 130;

/// The table `smsctl --help` ends with; README and docs/smsctl.md repeat it.
pub const HELP: &str = "\
Exit codes:
  0    success (with --wait/--watch: the message was delivered, the job ended done without failures)
  1    the service or the network failed (5xx, no answer); trying again later may work
  2    usage: bad arguments, or no API URL or key configured
  3    the API refused the request (4xx); its problem document is printed
  4    the message ended undelivered, failed or rejected; or the job ended cancelled, failed,
       or with failed batches or failed/undelivered/rejected messages
  5    --wait, --watch or results ran past --timeout (the message or job goes on)
  130  interrupted (Ctrl-C) while waiting or watching (the message or job goes on)

Configuration: --api-url/--api-key, else SMS_API_URL/SMS_API_KEY, else the profile
(--profile or SMS_PROFILE, default `default`) in ~/.config/smsctl/config.toml
(--config or SMSCTL_CONFIG to name another file).";
