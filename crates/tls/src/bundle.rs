//! The sealed TLS material of the SignService: `sigil-tls-bundle` v1.
//!
//! ```json
//! {"format":"sigil-tls-bundle","version":1,
//!  "server_key_pem":"-----BEGIN PRIVATE KEY-----\n…","server_chain_pem":"-----BEGIN CERTIFICATE-----\n…",
//!  "client_ca_pem":"-----BEGIN CERTIFICATE-----\n…"}
//! ```
//!
//! Everything is checked on load: format and version first (so a newer file gets a version
//! error, not an unknown-field one), then no unknown field, one supported private key, a
//! non-empty chain whose leaf carries that key's public key, and at least one client CA usable
//! as a trust anchor. The key text and its DER live in zeroizing buffers; the loaded signing
//! key is ring's. `Debug` shows only public facts.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::server::{ParsedCertificate, WebPkiClientVerifier};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use x509_cert::der::Decode;
use zeroize::Zeroizing;

use crate::{ALPN_H2, TlsError, pem, provider};

/// The `format` field of a bundle.
pub const BUNDLE_FORMAT: &str = "sigil-tls-bundle";
/// The version this build reads and writes.
pub const BUNDLE_VERSION: u32 = 1;
/// The largest bundle accepted.
const MAX_BUNDLE_BYTES: usize = 1 << 20;

const KEY: &str = "server_key_pem";
const CHAIN: &str = "server_chain_pem";
const CLIENT_CA: &str = "client_ca_pem";

/// Format and version, read before anything else.
#[derive(Deserialize)]
struct Header {
    format: Option<String>,
    version: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    #[allow(dead_code)]
    format: String,
    #[allow(dead_code)]
    version: u64,
    server_key_pem: Zeroizing<String>,
    server_chain_pem: String,
    client_ca_pem: String,
}

#[derive(Serialize)]
struct WireOut<'a> {
    format: &'a str,
    version: u32,
    server_key_pem: &'a str,
    server_chain_pem: &'a str,
    client_ca_pem: &'a str,
}

/// The server's TLS key, its certificate chain and the CAs that issue client certificates;
/// validated (see the module documentation).
#[derive(Clone)]
pub struct TlsBundle {
    key_pem: Zeroizing<String>,
    chain_pem: String,
    client_ca_pem: String,
    certified: Arc<CertifiedKey>,
    client_roots: Arc<RootCertStore>,
    spki_sha256: [u8; 32],
    subject: String,
    not_before: String,
    not_after: String,
}

impl fmt::Debug for TlsBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsBundle")
            .field("server_key", &"<redacted>")
            .field("leaf_subject", &self.subject)
            .field("leaf_not_after", &self.not_after)
            .field("spki_sha256", &hex::encode(self.spki_sha256))
            .field("chain_len", &self.certified.cert.len())
            .field("client_cas", &self.client_roots.len())
            .finish()
    }
}

/// A serde_json message with every double-quoted part replaced: a value in the wrong place
/// (say, a key where the version belongs) must not reach an error message.
fn json_error(e: &serde_json::Error) -> TlsError {
    let mut out = String::new();
    for (i, part) in e.to_string().split('"').enumerate() {
        if i > 0 {
            out.push('"');
        }
        out.push_str(if i % 2 == 1 { "…" } else { part });
    }
    TlsError::Format(out)
}

impl TlsBundle {
    /// Parses and validates `sigil-tls-bundle` JSON.
    pub fn from_json(json: &[u8]) -> Result<TlsBundle, TlsError> {
        if json.len() > MAX_BUNDLE_BYTES {
            return Err(TlsError::Format(format!(
                "{} bytes, more than the {MAX_BUNDLE_BYTES} accepted",
                json.len()
            )));
        }
        let header: Header = serde_json::from_slice(json).map_err(|e| json_error(&e))?;
        match header.format.as_deref() {
            Some(BUNDLE_FORMAT) => {}
            Some(_) => {
                return Err(TlsError::Format(format!(
                    "the \"format\" field is not {BUNDLE_FORMAT:?}"
                )));
            }
            None => return Err(TlsError::Format("no \"format\" field".into())),
        }
        match header.version {
            Some(v) if v == u64::from(BUNDLE_VERSION) => {}
            Some(found) => return Err(TlsError::Version { found }),
            None => return Err(TlsError::Format("no \"version\" field".into())),
        }
        let wire: Wire = serde_json::from_slice(json).map_err(|e| json_error(&e))?;
        Self::from_pem(
            wire.server_key_pem,
            wire.server_chain_pem,
            wire.client_ca_pem,
        )
    }

    /// The bundle as `sigil-tls-bundle` JSON (for tooling: it holds the private key).
    pub fn to_json(&self) -> Zeroizing<Vec<u8>> {
        let wire = WireOut {
            format: BUNDLE_FORMAT,
            version: BUNDLE_VERSION,
            server_key_pem: &self.key_pem,
            server_chain_pem: &self.chain_pem,
            client_ca_pem: &self.client_ca_pem,
        };
        // Sized first, so the buffer never reallocates and leaves a copy of the key behind.
        let mut counter = Counter(0);
        let mut out = Zeroizing::new(Vec::new());
        if serde_json::to_writer(&mut counter, &wire).is_ok() {
            out.reserve_exact(counter.0);
            // Writing strings into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, &wire);
        }
        out
    }

    /// Builds and validates a bundle from PEM files (for tooling such as `key-gen
    /// tls-bundle`). Errors name the file at fault.
    pub fn from_pem_files(
        server_key: &Path,
        server_chain: &Path,
        client_ca: &Path,
    ) -> Result<TlsBundle, TlsError> {
        let key = read_secret(server_key)?;
        let chain = read_public(server_chain)?;
        let ca = read_public(client_ca)?;
        Self::from_pem(key, chain, ca).map_err(|e| {
            e.in_file(KEY, server_key)
                .in_file(CHAIN, server_chain)
                .in_file(CLIENT_CA, client_ca)
        })
    }

    /// Builds and validates a bundle from PEM text.
    pub fn from_pem(
        server_key_pem: Zeroizing<String>,
        server_chain_pem: String,
        client_ca_pem: String,
    ) -> Result<TlsBundle, TlsError> {
        let key = pem::private_key(&server_key_pem, KEY)?;
        let chain = pem::certificates(&server_chain_pem, CHAIN)?;
        let leaf = chain.first().cloned().ok_or(TlsError::Pem {
            field: CHAIN,
            reason: "no certificate".into(),
        })?;
        let certified = certified_key(chain, key, (KEY, CHAIN), "the leaf certificate")?;
        let spki_sha256 = leaf_spki_sha256(&leaf)?;
        let cert =
            x509_cert::Certificate::from_der(leaf.as_ref()).map_err(|e| TlsError::Certificate {
                field: CHAIN,
                reason: format!("certificate 1 is not valid X.509: {e}"),
            })?;
        let tbs = cert.tbs_certificate();
        let client_roots = client_roots(&client_ca_pem)?;
        Ok(TlsBundle {
            key_pem: server_key_pem,
            chain_pem: server_chain_pem,
            client_ca_pem,
            certified: Arc::new(certified),
            client_roots: Arc::new(client_roots),
            spki_sha256,
            subject: tbs.subject().to_string(),
            not_before: tbs.validity().not_before.to_string(),
            not_after: tbs.validity().not_after.to_string(),
        })
    }

    /// SHA-256 of the leaf certificate's DER SubjectPublicKeyInfo: the value the enclave's
    /// attestation document carries as `user_data`, for a gateway to pin.
    pub fn spki_sha256(&self) -> [u8; 32] {
        self.spki_sha256
    }

    /// The leaf certificate's subject (RFC 4514).
    pub fn leaf_subject(&self) -> &str {
        &self.subject
    }

    /// The leaf certificate's notBefore (RFC 3339).
    pub fn leaf_not_before(&self) -> &str {
        &self.not_before
    }

    /// The leaf certificate's notAfter (RFC 3339).
    pub fn leaf_not_after(&self) -> &str {
        &self.not_after
    }

    /// The server chain, PEM (public).
    pub fn server_chain_pem(&self) -> &str {
        &self.chain_pem
    }

    /// The client CAs, PEM (public).
    pub fn client_ca_pem(&self) -> &str {
        &self.client_ca_pem
    }

    /// Number of client CA certificates.
    pub fn client_ca_count(&self) -> usize {
        self.client_roots.len()
    }

    /// The server configuration: TLS 1.3 only, the ring provider, client certificates required
    /// and verified against the client CAs, ALPN `h2`.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let provider = provider();
        let verifier = WebPkiClientVerifier::builder_with_provider(
            self.client_roots.clone(),
            provider.clone(),
        )
        .build()
        .map_err(|e| TlsError::Config(format!("client certificate verifier: {e}")))?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(Arc::new(SingleCertAndKey::from(self.certified.clone())));
        config.alpn_protocols = vec![ALPN_H2.to_vec()];
        Ok(Arc::new(config))
    }
}

fn leaf_spki_sha256(leaf: &CertificateDer<'_>) -> Result<[u8; 32], TlsError> {
    let parsed = ParsedCertificate::try_from(leaf).map_err(|e| TlsError::Certificate {
        field: CHAIN,
        reason: format!("the leaf certificate does not parse: {e}"),
    })?;
    Ok(Sha256::digest(parsed.subject_public_key_info().as_ref()).into())
}

/// The client CAs as trust anchors; every certificate must be usable as one.
pub(crate) fn client_roots(text: &str) -> Result<RootCertStore, TlsError> {
    roots(text, CLIENT_CA)
}

/// Pairs a certificate chain with its private key (ring), refusing an unsupported key or a
/// key that is not the leaf's; `fields` are (key, chain) for the errors, `what` names the
/// leaf. The parsed key is dropped (wiped) once the signing key holds it.
pub(crate) fn certified_key(
    chain: Vec<CertificateDer<'static>>,
    key: Zeroizing<rustls::pki_types::PrivateKeyDer<'static>>,
    (key_field, chain_field): (&'static str, &'static str),
    what: &str,
) -> Result<CertifiedKey, TlsError> {
    let signing = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|_| TlsError::UnsupportedKey { field: key_field })?;
    drop(key);
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        Ok(()) => Ok(certified),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(TlsError::KeyMismatch {
                field: key_field,
                chain_field,
            })
        }
        Err(rustls::Error::InconsistentKeys(_)) => {
            Err(TlsError::UnsupportedKey { field: key_field })
        }
        Err(e) => Err(TlsError::Certificate {
            field: chain_field,
            reason: format!("{what} is unusable: {e}"),
        }),
    }
}

/// Trust anchors from PEM certificates in `field`; every one must be usable.
pub(crate) fn roots(text: &str, field: &'static str) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    for (i, cert) in pem::certificates(text, field)?.into_iter().enumerate() {
        store.add(cert).map_err(|e| TlsError::Certificate {
            field,
            reason: format!("certificate {} is not usable as a trust anchor: {e}", i + 1),
        })?;
    }
    Ok(store)
}

/// Reads a file holding a secret into a zeroizing string sized from its length.
pub(crate) fn read_secret(path: &Path) -> Result<Zeroizing<String>, TlsError> {
    use std::io::Read;
    let err = |source| TlsError::Read {
        path: path.display().to_string(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(err)?;
    let len = file.metadata().map_err(err)?.len();
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    if len > MAX_BUNDLE_BYTES {
        return Err(TlsError::InFile {
            path: path.display().to_string(),
            error: Box::new(TlsError::Format(format!(
                "{len} bytes, more than the {MAX_BUNDLE_BYTES} accepted"
            ))),
        });
    }
    // One byte more than the size, so reading to the end never grows the buffer.
    let mut bytes = Zeroizing::new(Vec::with_capacity(len + 1));
    file.by_ref()
        .take(MAX_BUNDLE_BYTES as u64)
        .read_to_end(&mut bytes)
        .map_err(err)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| TlsError::InFile {
        path: path.display().to_string(),
        error: Box::new(TlsError::Format("not UTF-8 text".into())),
    })?;
    Ok(Zeroizing::new(text.to_owned()))
}

/// Reads a file of public PEM text.
pub(crate) fn read_public(path: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|source| TlsError::Read {
        path: path.display().to_string(),
        source,
    })
}

struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
