//! `[attestation]`: the gate in front of ingress — the trust root, the allowed images
//! (`[[attestation.allow]]`), freshness, re-attestation and the evidence archive.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::check::{Invalid, sim_only};

fn default_max_age() -> Duration {
    Duration::from_secs(300)
}
fn default_recheck() -> Duration {
    Duration::from_secs(300)
}

/// `[attestation]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestationConfig {
    /// `aws` (the pinned AWS Nitro Enclaves Root G1) or a development root's PEM file
    /// (simulation only).
    pub root: String,
    /// The measurements allowed to serve; a document must match one entry entirely.
    #[serde(rename = "allow")]
    pub allowed: Vec<AllowedImage>,
    /// Refuse documents older than this.
    #[serde(default = "default_max_age", with = "humantime_serde")]
    pub max_age: Duration,
    /// Re-verify this often while serving.
    #[serde(default = "default_recheck", with = "humantime_serde")]
    pub recheck_interval: Duration,
    /// Attestation documents and boot reports are kept here, content-addressed.
    pub archive_dir: PathBuf,
}

/// `[[attestation.allow]]`: one allowed image (hex SHA-384 PCR values; PCR1/2 optional).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowedImage {
    /// A name for logs (e.g. the release).
    #[serde(default)]
    pub name: String,
    /// The image measurement.
    pub pcr0: String,
    /// The kernel and bootstrap.
    pub pcr1: Option<String>,
    /// The application.
    pub pcr2: Option<String>,
}

impl AllowedImage {
    /// The PCRs this entry requires, index → value.
    pub fn pcrs(&self) -> Vec<(u8, String)> {
        [
            (0, Some(&self.pcr0)),
            (1, self.pcr1.as_ref()),
            (2, self.pcr2.as_ref()),
        ]
        .into_iter()
        .filter_map(|(i, v)| v.map(|v| (i, v.to_ascii_lowercase())))
        .collect()
    }
}

fn is_hex_pcr(s: &str) -> bool {
    s.len() == 96 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl AttestationConfig {
    /// The checks of `[attestation]`; `simulated` says whether `[vsock]` is.
    pub(super) fn check(&self, simulated: bool) -> Result<(), Invalid> {
        if self.root != "aws" && !simulated {
            return Err(sim_only("attestation.root", "a root other than `aws`"));
        }
        if self.allowed.is_empty() {
            return Err((
                "attestation.allow".into(),
                "empty: list at least one allowed image (pcr0)".into(),
            ));
        }
        for (n, img) in self.allowed.iter().enumerate() {
            for (i, v) in img.pcrs() {
                if !is_hex_pcr(&v) {
                    return Err((
                        format!("attestation.allow[{n}].pcr{i}"),
                        "must be 96 hex digits (SHA-384)".into(),
                    ));
                }
            }
        }
        if self.max_age.is_zero() || self.recheck_interval.is_zero() {
            return Err((
                "attestation.max_age".into(),
                "max_age and recheck_interval must be longer than 0s".into(),
            ));
        }
        Ok(())
    }
}
