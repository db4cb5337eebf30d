//! KMS `CiphertextForRecipient`: a strict parser, a decryptor and a KMS-identical encoder.
//!
//! When a KMS `Decrypt`, `GenerateDataKey` or `GenerateRandom` request carries a `Recipient`
//! (a Nitro attestation document whose `public_key` is an RSA SubjectPublicKeyInfo), KMS does
//! not return `Plaintext` but `CiphertextForRecipient`: a BER-encoded (indefinite-length) CMS
//! `ContentInfo` holding an `EnvelopedData` v2 with exactly one `KeyTransRecipientInfo` v2.
//! Its recipient identifier is `[0] SubjectKeyIdentifier` = SHA-256 of the recipient's SPKI DER,
//! the content-encryption key is wrapped with RSAES-OAEP (SHA-256, MGF1-SHA-256, empty label),
//! and the content is AES-256-CBC with PKCS#7 padding and a 16-byte IV.
//!
//! - [`parse`] is a hand-written, non-recursive, bounded parser that accepts exactly that shape
//!   (definite or indefinite lengths on constructed elements, both the constructed and the
//!   primitive form of `encryptedContent`) and names what is wrong in every [`CmsError`].
//! - [`RecipientKey`] is the enclave's ephemeral RSA key: its [`RecipientKey::spki_der`] goes
//!   into the attestation document, and [`RecipientKey::decrypt`] turns KMS's answer into a
//!   [`Zeroizing`] plaintext.
//! - [`encode`] is what the KMS simulator uses to answer: its output has the same tags, length
//!   forms and field order as real KMS output, byte for byte apart from the random fields.
//!
//! The envelope is not authenticated (CBC, no MAC): its integrity rests on the TLS connection
//! to KMS, exactly as for real KMS.

#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

mod ber;
mod encode;
mod error;
mod format;
mod key;
mod parse;

pub use encode::encode;
pub use error::CmsError;
pub use key::RecipientKey;
pub use parse::{Envelope, parse};

/// The RNG traits and `OsRng` that [`encode`] expects (rand_core 0.6, as used by `rsa` 0.9).
pub use rand_core;
/// The wrapper that wipes the decrypted plaintext when dropped.
pub use zeroize::Zeroizing;

/// Largest `CiphertextForRecipient` [`parse`] accepts, in bytes. KMS plaintexts are at most
/// 4096 bytes (`Decrypt`), so real envelopes stay under 5 KiB.
pub const MAX_INPUT_LEN: usize = 64 * 1024;

/// Largest plaintext [`encode`] accepts, in bytes; keeps every encoding under
/// [`MAX_INPUT_LEN`] even for RSA-4096.
pub const MAX_PLAINTEXT_LEN: usize = 32 * 1024;

/// Length of the recipient identifier: a SHA-256 digest of the recipient's SPKI DER.
pub const SKI_LEN: usize = 32;

/// Length of the AES-256-CBC initialisation vector.
pub const IV_LEN: usize = 16;
