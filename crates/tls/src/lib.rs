//! Mutual TLS for the SignService, terminated inside the enclave.
//!
//! The parent host is untrusted: it relays the gateway's TCP connection to the enclave's vsock
//! port, so the enclave terminates TLS itself and the parent sees only TLS records. Callers
//! authenticate with a client certificate issued by a configured client CA.
//!
//! - [`TlsBundle`]: the sealed TLS material (`sigil-tls-bundle` v1 JSON: server key, server
//!   chain, client CAs), validated on load; [`TlsBundle::server_config`] builds the rustls
//!   server configuration and [`TlsBundle::spki_sha256`] the value the enclave puts in its
//!   attestation document so a gateway can pin the attested enclave.
//! - [`ClientTls`]: the caller's side (CA, client certificate and key, server name, optional
//!   SPKI pin); [`ClientTls::config`] builds the rustls client configuration.
//! - [`accept_tls`]: turns a transport listener into a stream of established TLS connections,
//!   each handshake in its own task under a timeout and a cap.
//!
//! Every configuration uses rustls's `ring` provider explicitly ([`provider`]) and TLS 1.3
//! only; no process-wide default provider is needed or installed. Formats and operations:
//! docs/tls.md.

mod accept;
mod bundle;
mod client;
mod error;
mod pem;

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use rustls::server::ParsedCertificate;
use sha2::{Digest, Sha256};

pub use accept::{TlsIncoming, accept_tls};
pub use bundle::{BUNDLE_FORMAT, BUNDLE_VERSION, TlsBundle};
pub use client::ClientTls;
pub use error::TlsError;
/// The rustls version every configuration here is built with.
pub use rustls;
/// The tokio-rustls version [`accept_tls`] and [`ClientTls`] users connect with.
pub use tokio_rustls;

/// The ALPN protocol both sides offer: gRPC runs on HTTP/2.
pub const ALPN_H2: &[u8] = b"h2";

/// The crypto provider of every configuration: rustls's `ring` provider.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// SHA-256 of a certificate's DER SubjectPublicKeyInfo (the value of
/// [`TlsBundle::spki_sha256`], and what a client pins).
pub fn spki_sha256_of(cert: &CertificateDer<'_>) -> Result<[u8; 32], TlsError> {
    let parsed = ParsedCertificate::try_from(cert).map_err(|e| TlsError::Certificate {
        field: "certificate",
        reason: format!("does not parse: {e}"),
    })?;
    Ok(Sha256::digest(parsed.subject_public_key_info().as_ref()).into())
}
