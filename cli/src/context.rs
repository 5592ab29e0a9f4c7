//! What every command shares: the API, how to print, how to show progress.

use std::time::Duration;

use serde_json::Value;

use crate::{
    api::Api,
    cli::Output,
    watch::{Display, Pace},
};

pub struct Context {
    pub api: Api,
    pub output: Output,
    pub display: Display,
    pub poll_interval: Duration,
}

impl Context {
    /// Prints a command's result: the API's document under `--output json`, `text()`
    /// otherwise. Each command calls it once (a `--wait`/`--watch` with the final document).
    pub fn print(&self, document: &Value, text: impl FnOnce() -> String) {
        match self.output {
            Output::Json => println!(
                "{}",
                serde_json::to_string_pretty(document).unwrap_or_else(|_| document.to_string())
            ),
            Output::Text => println!("{}", text()),
        }
    }

    /// A line for a person on the way (what was started, how to follow it): stdout in text
    /// mode, nothing in JSON mode, where stdout holds only the one document.
    pub fn say(&self, text: impl FnOnce() -> String) {
        if self.output == Output::Text {
            println!("{}", text());
        }
    }

    /// Shows what a command started: as its result when that is all it does, as a line on
    /// the way when it goes on to follow it (whose end is then the result).
    pub fn started(&self, document: &Value, followed: bool, text: impl FnOnce() -> String) {
        if followed {
            self.say(text);
        } else {
            self.print(document, text);
        }
    }

    pub fn pace(&self, timeout: Option<Duration>) -> Pace {
        Pace {
            every: self.poll_interval,
            timeout,
        }
    }
}

/// Reads a string member of an API answer.
pub fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// A member of an answer that must be there; its absence means the answer is not the API's.
pub fn required<'a>(v: &'a Value, key: &str) -> Result<&'a str, crate::failure::Failure> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| crate::failure::Failure::Unexpected(format!("no {key} in the answer: {v}")))
}

/// Adds `key` to a request body when the option was given.
pub fn put(body: &mut Value, key: &str, value: Option<impl Into<Value>>) {
    if let (Some(value), Some(map)) = (value, body.as_object_mut()) {
        map.insert(key.to_owned(), value.into());
    }
}

/// Adds a `true` flag to a request body when it was given (absent means the API's default).
pub fn flag(body: &mut Value, key: &str, on: bool) {
    if on {
        put(body, key, Some(true));
    }
}
