//! Signs callbacks as Plivo does, for the contract test (infra/tests/contract/hooks.py, which
//! starts it once): one request a line on stdin, `{"url": …, "form": …, "nonce": …}` (the URL
//! the callback is sent to, query included, and its form body exactly as it will be sent),
//! one V3 signature a line on stdout. The signed string is `sms_core`'s (`SignatureV3`), the
//! one the status callback verifies with, so no second copy of the rule exists.
//!
//! Settings: `PLIVO_AUTH_TOKEN`, the token to sign with.

use std::io::{BufRead, Write};

use serde_json::Value;
use sms_core::{
    config,
    plivo::{SignatureV3, SignedRequest},
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let token = config::required("PLIVO_AUTH_TOKEN")?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for line in std::io::stdin().lock().lines() {
        let request: Value = serde_json::from_str(&line?)?;
        let field = |name: &str| {
            request[name]
                .as_str()
                .map(str::to_owned)
                .ok_or(format!("each request needs \"{name}\", a string"))
        };
        let (url, form, nonce) = (field("url")?, field("form")?, field("nonce")?);
        // Decoded as the status callback decodes the body it verifies.
        let params: Vec<(String, String)> = url::form_urlencoded::parse(form.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let signature = SignatureV3::sign(
            &SignedRequest {
                method: "POST",
                url: &url,
                params: &params,
            },
            &nonce,
            &token,
        );
        writeln!(out, "{signature}")?;
        out.flush()?;
    }
    Ok(())
}
