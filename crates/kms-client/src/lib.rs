//! The enclave's KMS client.
//!
//! `aws-sdk-kms` with an HTTP client whose every connection is dialed through
//! `sigil-transport` — `vsock://3:8000` inside a Nitro Enclave, the simulation's Unix socket
//! on a laptop — with TLS to `kms.<region>.amazonaws.com` terminated **inside** the enclave,
//! so the parent relays ciphertext only. Plain HTTP exists only for the KMS simulator and only
//! when asked for by name ([`Endpoint::SimulationPlaintext`]).
//!
//! [`KmsClient::attested_decrypt`] is KMS `Decrypt` with `Recipient`: a fresh RSA-2048 key per
//! call, an NSM attestation document carrying its public key, and the answer's
//! `CiphertextForRecipient` opened inside the process. KMS never returns the plaintext on the
//! wire, and the RSA key and every plaintext buffer are wiped when dropped.

mod client;
mod connector;

pub use client::{AttestedDecrypt, AwsCredentials, Endpoint, KmsClient, KmsConfig, KmsError};
