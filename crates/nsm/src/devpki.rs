//! The development PKI of the simulated NSM: a P-384 root that a command generates and
//! stores (`nsm-sim init-root`), and the chain it issues in the shape of AWS's —
//! regional (pathlen 2), zonal (pathlen 1), instance (pathlen 0), and a leaf valid three
//! hours. Its names say "simulated" so it can never be mistaken for the AWS root.

use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use p384::ecdsa::{DerSignature, SigningKey};
use p384::elliptic_curve::Generate;
use p384::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use x509_cert::Certificate;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::certificate::TbsCertificate;
use x509_cert::der::{DecodePem, Encode, EncodePem};
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages};
use x509_cert::ext::{Extension, ToExtension};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};
use x509_cert::time::{Time, Validity};

use crate::NsmError;

const ROOT_CERT_FILE: &str = "dev-root.pem";
const ROOT_KEY_FILE: &str = "dev-root.key.pem";

/// A certificate and its signing key.
pub struct Issued {
    /// The certificate.
    pub cert: Certificate,
    /// DER of the certificate.
    pub der: Vec<u8>,
    /// Its private key.
    pub key: SigningKey,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field(
                "subject",
                &self.cert.tbs_certificate().subject().to_string(),
            )
            .finish_non_exhaustive()
    }
}

/// The simulated NSM's root of trust.
#[derive(Debug)]
pub struct DevRoot(Issued);

fn internal(e: impl std::fmt::Display) -> NsmError {
    NsmError::Internal(e.to_string())
}

struct Profile {
    issuer: Name,
    subject: Name,
    /// None: leaf. Some(pathlen): CA.
    ca: Option<Option<u8>>,
}

impl BuilderProfile for Profile {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.issuer.clone()
    }
    fn get_subject(&self) -> Name {
        self.subject.clone()
    }
    fn build_extensions(
        &self,
        _spk: SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: SubjectPublicKeyInfoRef<'_>,
        tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        let mut ext = Vec::new();
        let (bc, ku) = match self.ca {
            Some(path_len) => (
                BasicConstraints {
                    ca: true,
                    path_len_constraint: path_len,
                },
                KeyUsage(KeyUsages::DigitalSignature | KeyUsages::KeyCertSign | KeyUsages::CRLSign),
            ),
            None => (
                BasicConstraints {
                    ca: false,
                    path_len_constraint: None,
                },
                KeyUsage(KeyUsages::DigitalSignature | KeyUsages::NonRepudiation),
            ),
        };
        ext.push(bc.to_extension(tbs.subject(), &ext)?);
        ext.push(ku.to_extension(tbs.subject(), &ext)?);
        Ok(ext)
    }
}

fn new_key() -> Result<SigningKey, NsmError> {
    let secret =
        p384::SecretKey::try_generate().map_err(|e| internal(format!("key generation: {e:?}")))?;
    Ok(SigningKey::from(secret))
}

fn serial() -> Result<SerialNumber, NsmError> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(internal)?;
    b[0] &= 0x7f;
    b[0] |= 0x01;
    SerialNumber::new(&b).map_err(internal)
}

fn validity(from: SystemTime, lifetime: Duration) -> Result<Validity, NsmError> {
    let nb = Time::try_from(from - Duration::from_secs(60)).map_err(internal)?;
    let na = Time::try_from(from + lifetime).map_err(internal)?;
    Ok(Validity::new(nb, na))
}

fn issue(
    issuer: Option<&Issued>,
    subject: &str,
    ca: Option<Option<u8>>,
    now: SystemTime,
    lifetime: Duration,
) -> Result<Issued, NsmError> {
    let key = new_key()?;
    let subject = Name::from_str(subject).map_err(internal)?;
    let issuer_name = issuer
        .map(|i| i.cert.tbs_certificate().subject().clone())
        .unwrap_or_else(|| subject.clone());
    let spki = SubjectPublicKeyInfoOwned::from_key(key.verifying_key()).map_err(internal)?;
    let profile = Profile {
        issuer: issuer_name,
        subject,
        ca,
    };
    let builder = CertificateBuilder::new(profile, serial()?, validity(now, lifetime)?, spki)
        .map_err(internal)?;
    let signer = issuer.map(|i| &i.key).unwrap_or(&key);
    let cert = builder.build::<_, DerSignature>(signer).map_err(internal)?;
    let der = cert.to_der().map_err(internal)?;
    Ok(Issued { cert, der, key })
}

const DAY: Duration = Duration::from_secs(86_400);

impl DevRoot {
    /// A fresh root, valid 30 years.
    pub fn generate() -> Result<Self, NsmError> {
        let root = issue(
            None,
            "CN=sigil-simulated.nitro-enclaves,OU=Sigil simulation - NOT AWS,O=Sigil,C=US",
            Some(None),
            SystemTime::now(),
            30 * 365 * DAY,
        )?;
        Ok(DevRoot(root))
    }

    /// Writes `dev-root.pem` and `dev-root.key.pem` (mode 0600) into `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), NsmError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::create_dir_all(dir).map_err(internal)?;
        let cert = self.0.cert.to_pem(LineEnding::LF).map_err(internal)?;
        std::fs::write(dir.join(ROOT_CERT_FILE), cert).map_err(internal)?;
        let key = self.0.key.to_pkcs8_pem(LineEnding::LF).map_err(internal)?;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(dir.join(ROOT_KEY_FILE))
            .map_err(internal)?;
        f.write_all(key.as_bytes()).map_err(internal)?;
        Ok(())
    }

    /// Loads a root saved by [`DevRoot::save`].
    pub fn load(dir: &Path) -> Result<Self, NsmError> {
        let read = |f: &str| {
            std::fs::read_to_string(dir.join(f))
                .map_err(|e| NsmError::Unavailable(format!("{}: {e}", dir.join(f).display())))
        };
        let cert = Certificate::from_pem(read(ROOT_CERT_FILE)?.as_bytes()).map_err(internal)?;
        let key = SigningKey::from_pkcs8_pem(&read(ROOT_KEY_FILE)?)
            .map_err(|_| internal("dev root key: not a P-384 PKCS#8 key"))?;
        let der = cert.to_der().map_err(internal)?;
        let spki = SubjectPublicKeyInfoOwned::from_key(key.verifying_key()).map_err(internal)?;
        if &spki != cert.tbs_certificate().subject_public_key_info() {
            return Err(internal("dev root key does not match dev-root.pem"));
        }
        Ok(DevRoot(Issued { cert, der, key }))
    }

    /// The root certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.0.der
    }

    /// The root certificate, PEM.
    pub fn cert_pem(&self) -> Result<String, NsmError> {
        self.0.cert.to_pem(LineEnding::LF).map_err(internal)
    }

    /// Issues the CA chain below the root: [regional, zonal, instance], as AWS's lifetimes.
    pub fn issue_intermediates(
        &self,
        instance: &str,
        now: SystemTime,
    ) -> Result<Vec<Issued>, NsmError> {
        let regional = issue(
            Some(&self.0),
            "CN=sim-regional.local.sigil-simulated.nitro-enclaves,OU=Sigil simulation,O=Sigil,C=US",
            Some(Some(2)),
            now,
            20 * DAY,
        )?;
        let zonal = issue(
            Some(&regional),
            "CN=sim-zonal.local.sigil-simulated.nitro-enclaves,OU=Sigil simulation,O=Sigil,C=US",
            Some(Some(1)),
            now,
            6 * DAY,
        )?;
        let inst = issue(
            Some(&zonal),
            &format!(
                "CN={instance}.local.sigil-simulated.nitro-enclaves,OU=Sigil simulation,O=Sigil,C=US"
            ),
            Some(Some(0)),
            now,
            DAY,
        )?;
        Ok(vec![regional, zonal, inst])
    }

    /// Issues a leaf (3 hours) under `parent`.
    pub fn issue_leaf(
        parent: &Issued,
        module_id: &str,
        now: SystemTime,
    ) -> Result<Issued, NsmError> {
        issue(
            Some(parent),
            &format!("CN={module_id}.local.sigil-simulated,OU=Sigil simulation,O=Sigil,C=US"),
            None,
            now,
            Duration::from_secs(3 * 3600),
        )
    }
}
