//! The certificate authorities both HTTPS clients trust, the AWS SDK's and the Plivo client's:
//! Mozilla's root program, compiled in from the `webpki-root-certs` crate, and never the
//! system's store.
//!
//! Why: reading and parsing the system's store is most of a function's cold start, and each
//! client would do it once (about 4.8 ms for Debian's hashed directory, 1.4 ms for a single
//! bundle file like provided.al2023's), where the compiled-in roots take about 0.2 ms. The
//! endpoints the functions call, AWS's (Amazon Trust Services) and Plivo's, chain to roots in
//! Mozilla's program, and a root added there reaches the functions with a `cargo update` of
//! `webpki-root-certs`.

use aws_sdk_dynamodb::config::{HttpClient, RuntimeComponents, SharedHttpClient};
use aws_smithy_http_client::{
    Builder,
    tls::{Provider, TlsContext, TrustStore, rustls_provider::CryptoMode},
};
use aws_smithy_runtime_api::client::http::{HttpConnectorSettings, SharedHttpConnector};

/// Mozilla's roots as one PEM bundle, written by build.rs.
const MOZILLA_ROOTS_PEM: &str = include_str!(concat!(env!("OUT_DIR"), "/mozilla-roots.pem"));

/// The SDK's HTTPS client (rustls with aws-lc, as the SDK's default) over Mozilla's roots
/// only, building its TLS connector on the first request ([`OnFirstRequest`]).
pub fn aws_http_client() -> SharedHttpClient {
    SharedHttpClient::new(OnFirstRequest(https_client()))
}

fn https_client() -> SharedHttpClient {
    Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(tls_context())
        .build_https()
}

/// Mozilla's roots as the SDK's connectors take them (also `pricing`'s connector).
pub(crate) fn tls_context() -> TlsContext {
    let trust = TrustStore::empty().with_pem_certificate(MOZILLA_ROOTS_PEM.as_bytes());
    // `build` cannot fail in aws-smithy-http-client 1.5 (it only moves its fields); were it
    // ever to, the SDK's own default, the system's store, is the safe fallback.
    TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .unwrap_or_default()
}

/// An SDK HTTP client that builds its connector when a request first needs it. The SDK's own
/// client builds one as each service client is created (`validate_base_client_config`), so
/// a function with three clients parsed the roots three times before its first invocation;
/// through this wrapper they are parsed once, and only when the function first calls AWS.
/// Connectors are still cached by the inner client, per connector settings.
#[derive(Debug)]
struct OnFirstRequest(SharedHttpClient);

impl HttpClient for OnFirstRequest {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }
}

/// The roots for the Plivo client (reqwest's `tls_certs_only`).
pub fn plivo_roots() -> Result<Vec<reqwest::Certificate>, reqwest::Error> {
    webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .map(|der| reqwest::Certificate::from_der(der))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::{Engine, engine::general_purpose::STANDARD};

    /// The bundle the SDK gets is exactly the crate's roots, in order: build.rs lost, split or
    /// garbled none of them.
    #[test]
    fn the_pem_bundle_holds_every_mozilla_root() {
        let decoded: Vec<Vec<u8>> = MOZILLA_ROOTS_PEM
            .split("-----END CERTIFICATE-----\n")
            .filter(|block| !block.is_empty())
            .map(|block| {
                let body = block
                    .strip_prefix("-----BEGIN CERTIFICATE-----\n")
                    .expect("each block opens with the PEM header");
                assert!(body.lines().all(|line| line.len() <= 64), "RFC 7468 lines");
                STANDARD.decode(body.replace('\n', "")).expect("base64")
            })
            .collect();
        let roots: Vec<&[u8]> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .map(|der| der.as_ref())
            .collect();
        assert!(roots.len() > 100, "Mozilla's program has over 100 roots");
        assert_eq!(decoded, roots);
    }

    #[test]
    fn the_plivo_client_gets_every_root() {
        assert_eq!(
            plivo_roots().unwrap().len(),
            webpki_root_certs::TLS_SERVER_ROOT_CERTS.len()
        );
    }
}
