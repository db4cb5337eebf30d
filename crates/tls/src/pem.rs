//! PEM fields: one private key, or a non-empty list of X.509 certificates, parsed with
//! rustls-pki-types's PEM reader. Errors describe what is wrong without echoing the input (a
//! malformed line of a key file would otherwise end up in a log).

use rustls::pki_types::pem::{self, PemObject, SectionKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use x509_cert::der::Decode;
use zeroize::{Zeroize, Zeroizing};

use crate::TlsError;

/// The largest PEM field accepted (a long chain or CA list is a few tens of KiB).
const MAX_PEM_BYTES: usize = 256 * 1024;

/// What is wrong with PEM text, without its content.
fn reason(e: &pem::Error) -> String {
    match e {
        pem::Error::MissingSectionEnd { .. } => "a PEM section has no END line".into(),
        pem::Error::IllegalSectionStart { .. } => "a PEM BEGIN line is malformed".into(),
        pem::Error::Base64Decode(_) => "a PEM section is not valid base64".into(),
        pem::Error::NoItemsFound => "no PEM section of the expected kind".into(),
        pem::Error::SectionTooLarge => "a PEM section is too large".into(),
        pem::Error::Io(_) => "the PEM text could not be read".into(),
        _ => "the PEM text is malformed".into(),
    }
}

fn check_size(text: &str, field: &'static str) -> Result<(), TlsError> {
    if text.len() > MAX_PEM_BYTES {
        return Err(TlsError::Pem {
            field,
            reason: format!(
                "{} bytes, more than the {MAX_PEM_BYTES} accepted",
                text.len()
            ),
        });
    }
    Ok(())
}

/// The one private key in `text` (PKCS#8, SEC1 or PKCS#1). Other sections (such as the `EC
/// PARAMETERS` that `openssl ecparam -genkey` writes first) are ignored; two keys are refused.
pub(crate) fn private_key(
    text: &str,
    field: &'static str,
) -> Result<Zeroizing<PrivateKeyDer<'static>>, TlsError> {
    check_size(text, field)?;
    let mut found: Option<Zeroizing<PrivateKeyDer<'static>>> = None;
    for item in PrivateKeyDer::pem_slice_iter(text.as_bytes()) {
        let key = Zeroizing::new(item.map_err(|e| TlsError::Pem {
            field,
            reason: reason(&e),
        })?);
        if found.is_some() {
            return Err(TlsError::Pem {
                field,
                reason: "more than one private key".into(),
            });
        }
        found = Some(key);
    }
    found.ok_or(TlsError::Pem {
        field,
        reason: "no PEM private key (PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY)".into(),
    })
}

/// The certificates in `text`, in order; at least one, each a parseable X.509 certificate. A
/// private key in a certificate field is refused (it would be published with the chain).
pub(crate) fn certificates(
    text: &str,
    field: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    check_size(text, field)?;
    let mut certs = Vec::new();
    for item in <(SectionKind, Vec<u8>)>::pem_slice_iter(text.as_bytes()) {
        let (kind, mut der) = item.map_err(|e| TlsError::Pem {
            field,
            reason: reason(&e),
        })?;
        match kind {
            SectionKind::Certificate => {
                x509_cert::Certificate::from_der(&der).map_err(|e| TlsError::Certificate {
                    field,
                    reason: format!("certificate {} is not valid X.509: {e}", certs.len() + 1),
                })?;
                certs.push(CertificateDer::from(der));
            }
            SectionKind::PrivateKey | SectionKind::EcPrivateKey | SectionKind::RsaPrivateKey => {
                der.zeroize();
                return Err(TlsError::Pem {
                    field,
                    reason: "holds a private key; only certificates belong here".into(),
                });
            }
            _ => {}
        }
    }
    if certs.is_empty() {
        return Err(TlsError::Pem {
            field,
            reason: "no PEM CERTIFICATE section".into(),
        });
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn errors_do_not_echo_the_input() {
        let secret = "-----BEGIN PRIVATE KEY-----\nSECRETSECRET!!!\n-----END PRIVATE KEY-----\n";
        let e = private_key(secret, "server_key_pem")
            .unwrap_err()
            .to_string();
        assert!(e.contains("base64"), "{e}");
        assert!(!e.contains("SECRET"), "{e}");
        let e = private_key("-----BEGIN SECRETSECRET--\n", "k")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("SECRET"), "{e}");
        let e = private_key("just text", "k").unwrap_err().to_string();
        assert!(e.contains("no PEM private key"), "{e}");
    }

    #[test]
    fn a_key_in_a_certificate_field_is_refused() {
        let text = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        let e = certificates(text, "server_chain_pem")
            .unwrap_err()
            .to_string();
        assert!(e.contains("holds a private key"), "{e}");
        let e = certificates("", "client_ca_pem").unwrap_err().to_string();
        assert!(e.contains("no PEM CERTIFICATE"), "{e}");
        let e = certificates(
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            "client_ca_pem",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("not valid X.509"), "{e}");
    }
}
