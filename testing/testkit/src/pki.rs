//! A throw-away X.509 PKI for TLS tests: CAs that issue server certificates (with a DNS SAN
//! and the serverAuth usage) and client certificates (clientAuth), ECDSA P-256 by default,
//! other key types on request. Everything is in memory and PEM, as operators' files are.

pub use rcgen;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SignatureAlgorithm,
};

/// A certificate authority.
pub struct Ca {
    /// Its self-signed certificate, PEM.
    pub cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// An issued certificate and its private key.
pub struct Leaf {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// Its private key, PKCS#8 PEM.
    pub key_pem: String,
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
}

impl Ca {
    /// A new CA named `name` with a P-256 key.
    pub fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).unwrap();
        Ca {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for `dns_name` with a P-256 key.
    pub fn server(&self, dns_name: &str) -> Leaf {
        self.server_with(dns_name, &rcgen::PKCS_ECDSA_P256_SHA256)
    }

    /// A server certificate for `dns_name` with a key of `alg` (ECDSA or Ed25519).
    pub fn server_with(&self, dns_name: &str, alg: &'static SignatureAlgorithm) -> Leaf {
        let key = KeyPair::generate_for(alg).unwrap();
        self.issue(
            key,
            vec![dns_name.to_owned()],
            dns_name,
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    /// A server certificate for `dns_name` carrying `key_pem`'s public key (any key type
    /// rcgen reads, e.g. an RSA key made by `openssl genrsa`).
    pub fn server_for_key(&self, dns_name: &str, key_pem: &str) -> Leaf {
        let key = KeyPair::from_pem(key_pem).unwrap();
        self.issue(
            key,
            vec![dns_name.to_owned()],
            dns_name,
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    /// A client certificate with common name `cn` and a P-256 key.
    pub fn client(&self, cn: &str) -> Leaf {
        let key = KeyPair::generate().unwrap();
        self.issue(key, Vec::new(), cn, ExtendedKeyUsagePurpose::ClientAuth)
    }

    fn issue(
        &self,
        key: KeyPair,
        sans: Vec<String>,
        cn: &str,
        usage: ExtendedKeyUsagePurpose,
    ) -> Leaf {
        let mut params = CertificateParams::new(sans).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![usage];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().to_vec(),
        }
    }
}

/// The PKI the service tests share: a server CA with one server certificate for
/// `server_name`, and the CA whose client certificates the server accepts. PEM only (a
/// `sigil_tls::TlsBundle` is built from it by `sigil-fixtures`, or by sigil-tls's own tests).
pub struct TestPki {
    /// The CA clients trust for the server's certificate.
    pub server_ca: Ca,
    /// The server's certificate (serverAuth, DNS SAN `server_name`) and key.
    pub server: Leaf,
    /// The CA of accepted client certificates.
    pub client_ca: Ca,
    /// The name in the server's certificate.
    pub server_name: String,
}

impl TestPki {
    /// CAs named "sigil test server CA" and "sigil test client CA", and a server
    /// certificate for `server_name`.
    pub fn new(server_name: &str) -> TestPki {
        let server_ca = Ca::new("sigil test server CA");
        let server = server_ca.server(server_name);
        TestPki {
            server_ca,
            server,
            client_ca: Ca::new("sigil test client CA"),
            server_name: server_name.to_owned(),
        }
    }

    /// The server's chain, PEM: its certificate, then its CA's.
    pub fn server_chain_pem(&self) -> String {
        format!("{}{}", self.server.cert_pem, self.server_ca.cert_pem)
    }
}
