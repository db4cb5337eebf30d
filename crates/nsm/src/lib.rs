//! The Nitro Security Module (NSM) behind one trait.
//!
//! * [`Nsm`] — Attestation (user_data / nonce / public_key), DescribePCR, ExtendPCR,
//!   LockPCR and GetRandom, with the device's own error semantics.
//! * `DeviceNsm` (feature `device`) — the real `/dev/nsm` through
//!   `aws-nitro-enclaves-nsm-api`.
//! * [`SimulatedNsm`] — the same behaviour without Nitro hardware: documents in AWS's exact
//!   format (untagged COSE_Sign1 ES384, the 9-key CBOR payload in AWS order with `null` for
//!   absent fields, a P-384 chain root → regional → zonal → instance → 3-hour leaf) signed
//!   from a development root ([`DevRoot`]); PCR0/1/2 measure the image it is told to run.

#[cfg(feature = "device")]
mod device;
mod devpki;
mod simulated;

#[cfg(feature = "device")]
pub use device::DeviceNsm;
pub use devpki::{DevRoot, Issued};
pub use simulated::{ImageMeasurement, SimulatedNsm};

use sha2::{Digest, Sha384};

/// Largest `user_data`, `nonce` or `public_key` the NSM accepts, bytes.
pub const MAX_ATTESTATION_FIELD: usize = 1024;
/// Largest CBOR request the driver sends, bytes.
pub const MAX_REQUEST_BYTES: usize = 4096;
/// PCRs the NSM has.
pub const PCR_COUNT: u16 = 32;
/// PCRs 0..16 are locked at boot.
pub const BOOT_LOCKED_PCRS: u16 = 16;
/// Largest GetRandom answer, bytes.
pub const RANDOM_BYTES: usize = 256;

/// What an attestation document should carry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttestationRequest {
    /// Application data (≤ 1024 bytes).
    pub user_data: Option<Vec<u8>>,
    /// Challenge from the verifier (≤ 1024 bytes).
    pub nonce: Option<Vec<u8>>,
    /// DER public key for the consumer to encrypt to (≤ 1024 bytes).
    pub public_key: Option<Vec<u8>>,
}

/// NSM errors, as the device reports them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NsmError {
    /// A field is too large or otherwise invalid.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// PCR index out of range.
    #[error("invalid PCR index {0}")]
    InvalidIndex(u16),
    /// The PCR is locked.
    #[error("PCR {0} is locked (read-only)")]
    ReadOnlyIndex(u16),
    /// The encoded request exceeds the driver's 4096 bytes.
    #[error("request too large")]
    InputTooLarge,
    /// No NSM device (not inside a Nitro Enclave).
    #[error("NSM unavailable: {0}")]
    Unavailable(String),
    /// Anything else the device or the simulator reports.
    #[error("NSM internal error: {0}")]
    Internal(String),
}

/// The NSM operations Sigil uses.
pub trait Nsm: Send + Sync {
    /// An attestation document (COSE_Sign1 bytes) carrying the requested fields.
    fn attestation(&self, req: &AttestationRequest) -> Result<Vec<u8>, NsmError>;
    /// A PCR's value and whether it is locked.
    fn describe_pcr(&self, index: u16) -> Result<(bool, Vec<u8>), NsmError>;
    /// Extends a PCR (`new = SHA384(old ‖ data)`) and returns the new value.
    fn extend_pcr(&self, index: u16, data: &[u8]) -> Result<Vec<u8>, NsmError>;
    /// Locks a PCR against further extension.
    fn lock_pcr(&self, index: u16) -> Result<(), NsmError>;
    /// Up to 256 bytes of entropy.
    fn get_random(&self) -> Result<Vec<u8>, NsmError>;
    /// True for the simulated NSM: documents chain to a development root.
    fn is_simulated(&self) -> bool;
}

/// `SHA384(old ‖ data)`, the PCR extend operation.
pub fn extend(old: &[u8], data: &[u8]) -> Vec<u8> {
    let mut h = Sha384::new();
    h.update(old);
    h.update(data);
    h.finalize().to_vec()
}

/// Checks an attestation request against the NSM's limits.
pub fn check_request(req: &AttestationRequest) -> Result<(), NsmError> {
    let mut total = 64;
    for (name, v) in [
        ("user_data", &req.user_data),
        ("nonce", &req.nonce),
        ("public_key", &req.public_key),
    ] {
        if let Some(v) = v {
            if v.len() > MAX_ATTESTATION_FIELD {
                return Err(NsmError::InvalidArgument(format!(
                    "{name} is {} bytes; the NSM accepts {MAX_ATTESTATION_FIELD}",
                    v.len()
                )));
            }
            total += v.len() + 16;
        }
    }
    if total > MAX_REQUEST_BYTES {
        return Err(NsmError::InputTooLarge);
    }
    Ok(())
}
