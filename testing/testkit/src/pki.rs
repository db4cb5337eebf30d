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
