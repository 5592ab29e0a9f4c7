//! Writes Mozilla's root certificates (the `webpki-root-certs` crate) into `OUT_DIR` as one PEM
//! bundle for src/tls.rs: the AWS SDK's HTTP client takes trust anchors only as PEM, and
//! encoding them here spares every cold start the work.

use std::{env, fs, path::PathBuf};

use base64::{Engine, engine::general_purpose::STANDARD};

fn main() {
    let mut pem = String::new();
    for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        let body = STANDARD.encode(cert.as_ref());
        // RFC 7468: 64 characters a line. Base64 is ASCII, so any byte offset is a char boundary.
        for start in (0..body.len()).step_by(64) {
            pem.push_str(&body[start..body.len().min(start + 64)]);
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR for build scripts"));
    fs::write(out.join("mozilla-roots.pem"), pem).expect("OUT_DIR is writable");
    println!("cargo::rerun-if-changed=build.rs");
}
