//! Provisioning between enclave-app and parent-agent (`sigil.provision.v1`, vsock port 7000).
//!
//! * Parent side ([`server`]): [`ProvisioningService`] serves the boot bundle — the ciphertext
//!   files from a directory ([`BundleFiles`]), the runtime configuration and short-lived AWS
//!   credentials from a [`CredentialSource`] — and hands every boot report it receives to the
//!   supervisor. The parent only ever reads and forwards ciphertext.
//! * Enclave side ([`client`]): [`fetch_bundle`] and [`send_report`], with every dial bounded
//!   (a vsock connect to an absent parent hangs) and retries within a deadline.
//!
//! Sizes are bounded on both sides ([`MAX_BUNDLE_BYTES`], [`MAX_REPORT_BYTES`]).

mod client;
mod server;

pub use client::{ClientError, fetch_bundle, send_report};
pub use server::{
    BundleFiles, CredentialSource, IDENTITY_FILE, KEY_SHARES_FILE, ProvisioningService,
    ReceivedReport, ServeError, SourceError, StaticCredentials, TLS_BUNDLE_FILE, serve,
};
pub use sigil_proto::provision::v1 as pb;

/// Largest boot bundle, bytes (100k ECDSA accounts are about 95 MB of ciphertext).
pub const MAX_BUNDLE_BYTES: usize = 512 << 20;
/// Largest boot report, bytes (an attestation document is about 5 KB).
pub const MAX_REPORT_BYTES: usize = 1 << 20;
