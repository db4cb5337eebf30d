//! The parent's runtime configuration and credentials, checked as untrusted input.
//!
//! The parent chooses where KMS is dialed and the signing limits, but it cannot weaken the
//! enclave: a plaintext KMS endpoint is accepted only when enclave-app itself was started in
//! simulation, and expired or empty credentials are refused before anything is sent.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use sigil_kms_client::{AwsCredentials, Endpoint, KmsConfig};
use sigil_provisioning::pb;
use sigil_signer::Limits;
use sigil_transport::Addr;
use zeroize::Zeroizing;

/// The runtime configuration, validated.
#[derive(Clone, Debug)]
pub struct Runtime {
    /// How to reach KMS.
    pub kms: KmsConfig,
    /// Key id for Decrypt (`None`: the key named in the ciphertext).
    pub kms_key_id: Option<String>,
    /// Encryption context of the identity ciphertext.
    pub encryption_context: HashMap<String, String>,
    /// How long transient KMS failures are retried.
    pub kms_retry_deadline: Duration,
    /// Signing limits.
    pub limits: Limits,
}

const MAX_RETRY_DEADLINE: Duration = Duration::from_secs(600);

/// Checks the parent's configuration. `simulated` is enclave-app's own mode, not the parent's.
pub fn runtime(config: Option<pb::RuntimeConfig>, simulated: bool) -> Result<Runtime, String> {
    let c = config.ok_or("the boot bundle has no runtime config")?;
    if c.region.is_empty()
        || c.region.len() > 32
        || !c
            .region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(format!("region {:?} is not an AWS region name", c.region));
    }
    let dial: Addr = c
        .kms_route
        .parse()
        .map_err(|e| format!("kms_route {:?}: {e}", c.kms_route))?;
    let endpoint = if c.kms_simulation_url.is_empty() {
        Endpoint::AwsTls
    } else if simulated {
        Endpoint::SimulationPlaintext {
            url: c.kms_simulation_url.clone(),
        }
    } else {
        return Err(
            "the parent asked for a plaintext KMS simulator endpoint, but this enclave is not \
             running in simulation; refusing"
                .into(),
        );
    };
    let ms = |v: u64, default: Duration| {
        if v == 0 {
            default
        } else {
            Duration::from_millis(v)
        }
    };
    let defaults = Limits::default();
    let limits = Limits {
        max_sessions: match c.max_sessions {
            0 => defaults.max_sessions,
            n => (n as usize).min(4096),
        },
        message_timeout: ms(c.message_timeout_ms, defaults.message_timeout),
        session_timeout: ms(c.session_timeout_ms, defaults.session_timeout),
        ..defaults
    };
    if limits.message_timeout > limits.session_timeout {
        return Err("message_timeout_ms exceeds session_timeout_ms".into());
    }
    let kms_retry_deadline = ms(c.kms_retry_deadline_ms, Duration::from_secs(60));
    if kms_retry_deadline > MAX_RETRY_DEADLINE {
        return Err(format!(
            "kms_retry_deadline_ms is above the {}s maximum",
            MAX_RETRY_DEADLINE.as_secs()
        ));
    }
    Ok(Runtime {
        kms: KmsConfig {
            region: c.region,
            dial,
            endpoint,
            connect_timeout: Duration::from_secs(3),
            attempt_timeout: Duration::from_secs(10),
            operation_timeout: Duration::from_secs(20),
        },
        kms_key_id: (!c.kms_key_id.is_empty()).then_some(c.kms_key_id),
        encryption_context: c.encryption_context.into_iter().collect(),
        kms_retry_deadline,
        limits,
    })
}

/// Moves the parent's credentials into wiping buffers. The message's copies are cleared.
pub fn credentials(c: Option<pb::AwsCredentials>) -> Result<AwsCredentials, String> {
    let mut c = c.ok_or("the boot bundle has no AWS credentials")?;
    let secret = Zeroizing::new(std::mem::take(&mut c.secret_access_key));
    let token = Zeroizing::new(std::mem::take(&mut c.session_token));
    if c.access_key_id.is_empty() || secret.is_empty() {
        return Err("the boot bundle's AWS credentials are empty".into());
    }
    let expires_at = (c.expiration_unix_ms != 0)
        .then(|| SystemTime::UNIX_EPOCH + Duration::from_millis(c.expiration_unix_ms));
    Ok(AwsCredentials {
        access_key_id: c.access_key_id,
        secret_access_key: secret,
        session_token: (!token.is_empty()).then_some(token),
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> pb::RuntimeConfig {
        pb::RuntimeConfig {
            region: "eu-west-1".into(),
            kms_route: "vsock://3:8000".into(),
            ..Default::default()
        }
    }

    #[test]
    fn production_defaults() {
        let r = runtime(Some(config()), false).expect("valid");
        assert_eq!(r.kms.endpoint, Endpoint::AwsTls);
        assert_eq!(r.kms_key_id, None);
        assert_eq!(r.kms_retry_deadline, Duration::from_secs(60));
    }

    #[test]
    fn a_parent_cannot_downgrade_kms_outside_simulation() {
        let c = pb::RuntimeConfig {
            kms_simulation_url: "http://kms.sim".into(),
            ..config()
        };
        let e = runtime(Some(c.clone()), false).expect_err("refused");
        assert!(e.contains("not running in simulation"), "{e}");
        assert!(runtime(Some(c), true).is_ok());
    }

    #[test]
    fn bad_values_are_named() {
        for (c, needle) in [
            (
                pb::RuntimeConfig {
                    region: "EU WEST".into(),
                    ..config()
                },
                "region",
            ),
            (
                pb::RuntimeConfig {
                    kms_route: "ftp://x".into(),
                    ..config()
                },
                "kms_route",
            ),
            (
                pb::RuntimeConfig {
                    kms_retry_deadline_ms: 10_000_000,
                    ..config()
                },
                "kms_retry_deadline_ms",
            ),
            (
                pb::RuntimeConfig {
                    message_timeout_ms: 10_000,
                    session_timeout_ms: 1_000,
                    ..config()
                },
                "message_timeout_ms",
            ),
        ] {
            let e = runtime(Some(c), true).expect_err(needle);
            assert!(e.contains(needle), "{e}");
        }
        assert!(runtime(None, true).is_err());
    }

    #[test]
    fn credentials_move_into_wiping_buffers() {
        let c = credentials(Some(pb::AwsCredentials {
            access_key_id: "AKID".into(),
            secret_access_key: "secret".into(),
            session_token: String::new(),
            expiration_unix_ms: 1,
        }))
        .expect("valid");
        assert_eq!(c.secret_access_key.as_str(), "secret");
        assert!(c.session_token.is_none());
        assert_eq!(
            c.expires_at,
            Some(SystemTime::UNIX_EPOCH + Duration::from_millis(1))
        );
        assert!(!format!("{c:?}").contains("secret\""));
        assert!(credentials(Some(pb::AwsCredentials::default())).is_err());
    }
}
