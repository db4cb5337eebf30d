//! The constants of KMS's `CiphertextForRecipient` shape, shared by the parser and the
//! encoder: tag bytes, OBJECT IDENTIFIER contents and accepted sizes.

/// Tag bytes (single-byte identifiers: class, constructed bit, number).
pub(crate) mod tag {
    /// Universal INTEGER.
    pub(crate) const INTEGER: u8 = 0x02;
    /// Universal OCTET STRING, primitive.
    pub(crate) const OCTET_STRING: u8 = 0x04;
    /// Universal NULL.
    pub(crate) const NULL: u8 = 0x05;
    /// Universal OBJECT IDENTIFIER.
    pub(crate) const OID: u8 = 0x06;
    /// Universal SEQUENCE (constructed).
    pub(crate) const SEQUENCE: u8 = 0x30;
    /// Universal SET (constructed).
    pub(crate) const SET: u8 = 0x31;
    /// Context-specific `[0]`, primitive.
    pub(crate) const CTX0_PRIMITIVE: u8 = 0x80;
    /// Context-specific `[0]`, constructed.
    pub(crate) const CTX0: u8 = 0xa0;
    /// Context-specific `[1]`, constructed.
    pub(crate) const CTX1: u8 = 0xa1;
    /// Context-specific `[2]`, constructed (OAEP pSourceAlgorithm).
    pub(crate) const CTX2: u8 = 0xa2;
}

/// An OBJECT IDENTIFIER: its content octets and its dotted form for messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Oid {
    /// The DER content octets (without tag and length).
    pub(crate) der: &'static [u8],
    /// Dotted-decimal form.
    pub(crate) dotted: &'static str,
}

/// id-envelopedData, 1.2.840.113549.1.7.3.
pub(crate) const ID_ENVELOPED_DATA: Oid = Oid {
    der: &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03],
    dotted: "1.2.840.113549.1.7.3",
};

/// id-data, 1.2.840.113549.1.7.1.
pub(crate) const ID_DATA: Oid = Oid {
    der: &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01],
    dotted: "1.2.840.113549.1.7.1",
};

/// id-RSAES-OAEP, 1.2.840.113549.1.1.7.
pub(crate) const ID_RSAES_OAEP: Oid = Oid {
    der: &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x07],
    dotted: "1.2.840.113549.1.1.7",
};

/// id-mgf1, 1.2.840.113549.1.1.8.
pub(crate) const ID_MGF1: Oid = Oid {
    der: &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08],
    dotted: "1.2.840.113549.1.1.8",
};

/// id-sha256, 2.16.840.1.101.3.4.2.1.
pub(crate) const ID_SHA256: Oid = Oid {
    der: &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01],
    dotted: "2.16.840.1.101.3.4.2.1",
};

/// id-aes256-CBC, 2.16.840.1.101.3.4.1.42.
pub(crate) const ID_AES256_CBC: Oid = Oid {
    der: &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a],
    dotted: "2.16.840.1.101.3.4.1.42",
};

/// The only version KMS uses for `EnvelopedData` and `KeyTransRecipientInfo`.
pub(crate) const VERSION: u8 = 2;

/// Length of the AES-256 content-encryption key.
pub(crate) const CEK_LEN: usize = 32;

/// AES block size.
pub(crate) const BLOCK_LEN: usize = 16;

/// Accepted RSA modulus sizes, in bits (KMS documents RSA-2048; 3072/4096 are allowed for the
/// simulator).
pub(crate) const RSA_BITS: [usize; 3] = [2048, 3072, 4096];

/// Accepted `encryptedKey` lengths: the modulus sizes in bytes.
pub(crate) const ENCRYPTED_KEY_LENS: [usize; 3] = [256, 384, 512];

/// Upper bound on the characters of an OID rendered into an error message.
const MAX_OID_DISPLAY: usize = 32;

/// Renders OID content octets as dotted decimal, for error messages. Malformed or very long
/// encodings are described instead of decoded.
pub(crate) fn oid_to_string(der: &[u8]) -> String {
    if der.is_empty() {
        return "an empty OID".to_owned();
    }
    if der.len() > MAX_OID_DISPLAY {
        return format!("a {}-byte OID", der.len());
    }
    let mut arcs: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    let mut in_arc = false;
    for &b in der {
        if !in_arc && b == 0x80 {
            return format!("a malformed OID ({})", hex(der));
        }
        value = match value.checked_mul(128) {
            Some(v) => v | u64::from(b & 0x7f),
            None => return format!("a malformed OID ({})", hex(der)),
        };
        if b & 0x80 == 0 {
            arcs.push(value);
            value = 0;
            in_arc = false;
        } else {
            in_arc = true;
        }
    }
    if in_arc {
        return format!("a malformed OID ({})", hex(der));
    }
    let mut out = String::new();
    for (i, arc) in arcs.iter().enumerate() {
        if i == 0 {
            let (first, second) = match *arc {
                a if a < 40 => (0, a),
                a if a < 80 => (1, a - 40),
                a => (2, a - 80),
            };
            out.push_str(&format!("{first}.{second}"));
        } else {
            out.push_str(&format!(".{arc}"));
        }
    }
    out
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len().saturating_mul(2));
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_forms_match_der() {
        for oid in [
            ID_ENVELOPED_DATA,
            ID_DATA,
            ID_RSAES_OAEP,
            ID_MGF1,
            ID_SHA256,
            ID_AES256_CBC,
        ] {
            assert_eq!(oid_to_string(oid.der), oid.dotted);
        }
        assert_eq!(
            oid_to_string(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01]),
            "1.2.840.113549.1.1.1"
        );
    }

    #[test]
    fn malformed_oids_are_described() {
        assert_eq!(oid_to_string(&[]), "an empty OID");
        assert!(oid_to_string(&[0x2a, 0x86]).starts_with("a malformed OID"));
        assert!(oid_to_string(&[0x80, 0x01]).starts_with("a malformed OID"));
        assert!(oid_to_string(&[0xff; 12]).starts_with("a malformed OID"));
        assert_eq!(oid_to_string(&[0x01; 40]), "a 40-byte OID");
    }
}
