//! The one error type of this crate: every parse, decrypt and encode failure, each naming
//! what was wrong.

/// Why a `CiphertextForRecipient` could not be parsed, decrypted or encoded.
///
/// Messages name the offending element (e.g. "unexpected OID for key encryption:
/// 1.2.840.113549.1.1.1 (expected 1.2.840.113549.1.1.7)"). Decryption failures after parsing
/// deliberately carry no detail from the RSA or padding layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CmsError {
    /// The input is empty.
    #[error("empty input: expected a CMS ContentInfo")]
    Empty,

    /// The input is larger than [`crate::MAX_INPUT_LEN`].
    #[error("input is {len} bytes, more than the {max}-byte limit")]
    InputTooLong {
        /// Input length.
        len: usize,
        /// The limit.
        max: usize,
    },

    /// The input ends in the middle of a tag, a length or a value.
    #[error("input truncated while reading {what}")]
    Truncated {
        /// The element being read.
        what: &'static str,
    },

    /// An element has a different tag from the one the KMS format has at that place.
    #[error("expected {what} (tag 0x{expected:02x}), found tag 0x{found:02x}")]
    UnexpectedTag {
        /// The element expected.
        what: &'static str,
        /// Its tag byte.
        expected: u8,
        /// The tag byte found.
        found: u8,
    },

    /// An element is missing: its enclosing element ended first.
    #[error("{what} is missing: its enclosing element ends before it")]
    Missing {
        /// The missing element.
        what: &'static str,
    },

    /// A length field is malformed or out of range (indefinite length on a primitive element,
    /// reserved or over-long length form).
    #[error("invalid length encoding for {what}: {reason}")]
    BadLength {
        /// The element whose length is malformed.
        what: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A definite length runs past the end of the enclosing element or of the input.
    #[error("length of {what} is {len} bytes, but only {available} bytes remain")]
    LengthBeyondInput {
        /// The element.
        what: &'static str,
        /// Its declared length.
        len: usize,
        /// Bytes left in the enclosing element.
        available: usize,
    },

    /// An indefinite-length element has no end-of-contents marker.
    #[error("{what} has an indefinite length but no end-of-contents marker")]
    MissingEndOfContents {
        /// The element.
        what: &'static str,
    },

    /// An element has more content than the KMS format has (an extra field, nesting deeper
    /// than needed, or stray bytes).
    #[error("unexpected extra element (tag 0x{tag:02x}) at the end of {what}")]
    UnexpectedElement {
        /// The enclosing element.
        what: &'static str,
        /// Tag byte of the first extra element.
        tag: u8,
    },

    /// Bytes follow the outer `ContentInfo`.
    #[error("{count} trailing bytes after the ContentInfo")]
    TrailingBytes {
        /// How many.
        count: usize,
    },

    /// An OBJECT IDENTIFIER differs from the one KMS uses at that place.
    #[error("unexpected OID for {what}: {found} (expected {expected})")]
    UnexpectedOid {
        /// What the OID identifies.
        what: &'static str,
        /// The OID found, dotted (or a description if it is malformed).
        found: String,
        /// The OID expected, dotted.
        expected: &'static str,
    },

    /// A version INTEGER is not 2.
    #[error("unsupported {what}: {found} (expected 2)")]
    UnsupportedVersion {
        /// Which version field.
        what: &'static str,
        /// The value found.
        found: String,
    },

    /// An algorithm's parameters differ from the exact ones KMS sends.
    #[error("unexpected algorithm parameters: {0}")]
    BadParameters(&'static str),

    /// `recipientInfos` is empty.
    #[error("recipientInfos is empty: expected exactly one KeyTransRecipientInfo")]
    NoRecipient,

    /// `recipientInfos` holds more than one recipient.
    #[error("recipientInfos holds more than one RecipientInfo: KMS sends exactly one")]
    MultipleRecipients,

    /// The recipient identifier is not a 32-byte SubjectKeyIdentifier.
    #[error("recipient SubjectKeyIdentifier is {len} bytes (expected 32)")]
    BadSkiLength {
        /// Its length.
        len: usize,
    },

    /// The wrapped key length does not match an RSA-2048/3072/4096 modulus.
    #[error("encryptedKey is {len} bytes (expected 256, 384 or 512 for RSA-2048/3072/4096)")]
    BadEncryptedKeyLength {
        /// Its length.
        len: usize,
    },

    /// The AES-CBC IV is not 16 bytes.
    #[error("AES-256-CBC IV is {len} bytes (expected 16)")]
    BadIvLength {
        /// Its length.
        len: usize,
    },

    /// The encrypted content is empty or not whole AES blocks.
    #[error("encryptedContent is {len} bytes (expected a non-zero multiple of 16)")]
    BadCiphertextLength {
        /// Its length.
        len: usize,
    },

    /// The envelope was made for a different public key.
    #[error("recipient SKI does not match this key")]
    SkiMismatch,

    /// RSA-OAEP unwrapping of the content-encryption key failed.
    #[error("RSA-OAEP decryption of the content-encryption key failed")]
    KeyUnwrap,

    /// The unwrapped content-encryption key is not an AES-256 key.
    #[error("unwrapped content-encryption key is {len} bytes (expected 32)")]
    ContentKeyLength {
        /// Its length.
        len: usize,
    },

    /// AES-256-CBC decryption gave invalid PKCS#7 padding.
    #[error("AES-256-CBC decryption produced invalid PKCS#7 padding")]
    Padding,

    /// RSA key generation failed.
    #[error("RSA key generation failed: {0}")]
    KeyGeneration(#[source] rsa::Error),

    /// A PKCS#8 private key could not be decoded.
    #[error("invalid PKCS#8 RSA private key: {0}")]
    InvalidPrivateKey(#[source] rsa::pkcs8::Error),

    /// The recipient SubjectPublicKeyInfo is not a DER RSA public key.
    #[error("invalid recipient SubjectPublicKeyInfo: {0}")]
    InvalidSpki(#[source] rsa::pkcs8::spki::Error),

    /// The recipient SubjectPublicKeyInfo is valid but not in canonical DER, so its SHA-256
    /// would not be the SKI the enclave computes.
    #[error("recipient SubjectPublicKeyInfo is not canonical DER")]
    NonCanonicalSpki,

    /// The RSA modulus size is not one KMS recipients use.
    #[error("RSA key is {bits} bits (expected 2048, 3072 or 4096)")]
    UnsupportedKeySize {
        /// Modulus size in bits.
        bits: usize,
    },

    /// The plaintext given to the encoder is larger than [`crate::MAX_PLAINTEXT_LEN`].
    #[error("plaintext is {len} bytes, more than the {max}-byte limit")]
    PlaintextTooLong {
        /// Plaintext length.
        len: usize,
        /// The limit.
        max: usize,
    },

    /// RSA-OAEP encryption of the content-encryption key failed.
    #[error("RSA-OAEP encryption of the content-encryption key failed: {0}")]
    Encrypt(#[source] rsa::Error),
}
