//! The attested KMS Decrypt of the age identity, retried while the failure may pass.
//!
//! Transient failures (KMS or its route unreachable, throttling, KMS internal errors) are
//! retried with exponential backoff until the deadline; anything else — AccessDenied because
//! the key policy does not match this enclave's PCR0, expired credentials, a malformed answer —
//! fails at once, because retrying cannot change it.

use std::time::{Duration, Instant};

use sigil_kms_client::{AttestedDecrypt, KmsClient, KmsError};
use sigil_nsm::Nsm;
use tracing::warn;

use crate::runtime::Runtime;

/// The attested Decrypt's outcome and how many attempts it took.
pub struct Unwrapped {
    /// The decrypt result (the identity plaintext wipes itself on drop).
    pub decrypt: AttestedDecrypt,
    /// Attempts made.
    pub attempts: u32,
}

/// A failed unwrap and how many attempts were made.
#[derive(Debug)]
pub struct UnwrapError {
    /// The last error.
    pub error: KmsError,
    /// Attempts made.
    pub attempts: u32,
    /// Whether it gave up on a transient error at the deadline.
    pub gave_up: bool,
}

impl std::fmt::Display for UnwrapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.gave_up {
            write!(
                f,
                "gave up after {} attempts within the retry deadline: {}",
                self.attempts, self.error
            )
        } else {
            write!(f, "{} (attempt {})", self.error, self.attempts)
        }
    }
}

/// Decrypts the identity ciphertext with `Recipient` set to a fresh attestation.
pub async fn unwrap_identity(
    client: &KmsClient,
    nsm: &dyn Nsm,
    runtime: &Runtime,
    ciphertext: &[u8],
) -> Result<Unwrapped, UnwrapError> {
    let start = Instant::now();
    let mut backoff = Duration::from_millis(250);
    let mut attempts = 0;
    loop {
        attempts += 1;
        match client
            .attested_decrypt(
                nsm,
                runtime.kms_key_id.as_deref(),
                ciphertext,
                &runtime.encryption_context,
            )
            .await
        {
            Ok(decrypt) => return Ok(Unwrapped { decrypt, attempts }),
            Err(error) if error.is_transient() => {
                if start.elapsed() + backoff > runtime.kms_retry_deadline {
                    return Err(UnwrapError {
                        error,
                        attempts,
                        gave_up: true,
                    });
                }
                warn!(event = "kms_retry", attempt = attempts, error = %error,
                      backoff_ms = backoff.as_millis() as u64);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            Err(error) => {
                return Err(UnwrapError {
                    error,
                    attempts,
                    gave_up: false,
                });
            }
        }
    }
}
