//! smsctl: parses the command line, runs it, and turns the outcome into an exit status
//! (exit.rs; `smsctl --help` lists them).

use std::process::ExitCode;

use clap::Parser;
use smsctl::cli::{Cli, Output};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // clap exits 2 on a usage error, with its own message.
    let cli = Cli::parse();
    let output = cli.global.output;
    match smsctl::run(cli).await {
        Ok(()) => ExitCode::from(smsctl::exit::SUCCESS),
        Err(failure) => {
            // Scripts get the problem document as the command's one JSON document.
            if let (Output::Json, Some(problem)) = (output, failure.problem()) {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&problem.document)
                        .unwrap_or_else(|_| problem.document.to_string())
                );
            }
            eprintln!("smsctl: {failure}");
            ExitCode::from(failure.exit_code())
        }
    }
}
