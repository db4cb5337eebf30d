//! The caller's side of the mutual TLS: the CA that issued the server's certificate, the
//! caller's client certificate and key, the name the server's certificate must carry, and an
//! optional pin of the server's SubjectPublicKeyInfo (the value the enclave attests).

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::DigitallySignedStruct;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::sign::SingleCertAndKey;
use zeroize::Zeroizing;

use crate::bundle::{certified_key, read_public, read_secret, roots};
use crate::{ALPN_H2, TlsError, pem, provider, spki_sha256_of};

const CA: &str = "ca_pem";
const CERT: &str = "cert_pem";
const KEY: &str = "key_pem";

/// What a client needs to call the SignService over mutual TLS.
#[derive(Clone)]
pub struct ClientTls {
    /// The CA(s) that issue the server's certificate, PEM.
    pub ca_pem: String,
    /// The client certificate chain (leaf first), PEM.
    pub cert_pem: String,
    /// The client's private key, PEM.
    pub key_pem: Zeroizing<String>,
    /// The name the server's certificate must be valid for (DNS name or IP address).
    pub server_name: String,
    /// If set, the server's leaf SubjectPublicKeyInfo must also hash (SHA-256) to this value:
    /// the `user_data` of the enclave's attestation document.
    pub pin_spki_sha256: Option<[u8; 32]>,
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTls")
            .field("server_name", &self.server_name)
            .field("pin_spki_sha256", &self.pin_spki_sha256.map(hex::encode))
            .field("key", &"<redacted>")
            .finish()
    }
}

impl ClientTls {
    /// Reads the CA, client certificate and client key from PEM files. Nothing is validated
    /// until [`ClientTls::config`], except that the files exist and are text.
    pub fn from_files(
        ca: &Path,
        cert: &Path,
        key: &Path,
        server_name: impl Into<String>,
        pin_spki_sha256: Option<[u8; 32]>,
    ) -> Result<ClientTls, TlsError> {
        let tls = ClientTls {
            ca_pem: read_public(ca)?,
            cert_pem: read_public(cert)?,
            key_pem: read_secret(key)?,
            server_name: server_name.into(),
            pin_spki_sha256,
        };
        // Validate now so errors name the files.
        tls.config()
            .map_err(|e| e.in_file(CA, ca).in_file(CERT, cert).in_file(KEY, key))?;
        Ok(tls)
    }

    /// The name to send and verify.
    pub fn server_name(&self) -> Result<ServerName<'static>, TlsError> {
        ServerName::try_from(self.server_name.clone())
            .map_err(|_| TlsError::ServerName(self.server_name.clone()))
    }

    /// The client configuration: TLS 1.3 only, the ring provider, the server verified against
    /// `ca_pem` for `server_name` (and the pin, if set), the client certificate offered, ALPN
    /// `h2`.
    pub fn config(&self) -> Result<Arc<rustls::ClientConfig>, TlsError> {
        self.server_name()?;
        let provider = provider();
        let roots = Arc::new(roots(&self.ca_pem, CA)?);
        let chain = pem::certificates(&self.cert_pem, CERT)?;
        let key = pem::private_key(&self.key_pem, KEY)?;
        let certified = certified_key(chain, key, (KEY, CERT), "the client certificate")?;
        let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(|e| TlsError::Config(format!("server certificate verifier: {e}")))?;
        let verifier: Arc<dyn ServerCertVerifier> = match self.pin_spki_sha256 {
            Some(pin) => Arc::new(PinnedServer { webpki, pin }),
            None => webpki,
        };
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| TlsError::Config(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
        config.alpn_protocols = vec![ALPN_H2.to_vec()];
        Ok(Arc::new(config))
    }
}

/// The webpki verifier, and then the pin: the server's leaf SPKI must hash to `pin`.
#[derive(Debug)]
struct PinnedServer {
    webpki: Arc<WebPkiServerVerifier>,
    pin: [u8; 32],
}

impl ServerCertVerifier for PinnedServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        let presented = spki_sha256_of(end_entity).map_err(|_| {
            rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)
        })?;
        if presented != self.pin {
            return Err(rustls::Error::General(format!(
                "the server's public key (SPKI SHA-256 {}) is not the pinned one ({})",
                hex::encode(presented),
                hex::encode(self.pin)
            )));
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}
