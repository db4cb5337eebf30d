//! The enclave's boot-time provisioning: where its AWS credentials come from. The choice is
//! made once, from `[provisioning.credentials]`, into one [`Credentials`] value that the
//! provisioning service (`sigil_provisioning::ProvisioningService`) asks each time the enclave
//! fetches its boot bundle: the instance role through IMDSv2 ([`imds`]) on a Nitro host, or
//! fixed credentials from the file in simulation. See docs/credentials.md.

pub mod imds;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use sigil_provisioning::{CredentialSource, SourceError, pb};
use zeroize::Zeroizing;

use crate::config::CredentialsConfig;
use imds::{ImdsCredentials, ImdsSettings};

/// The one source of the enclave's AWS credentials.
pub enum Credentials {
    /// The instance role through IMDSv2 (production).
    Imds(Box<ImdsCredentials>),
    /// Fixed credentials from the configuration (simulation only), served with a fresh
    /// expiry `validity` from each request.
    Static {
        /// Access key id.
        access_key_id: String,
        /// Secret access key.
        secret_access_key: Zeroizing<String>,
        /// Session token.
        session_token: Option<Zeroizing<String>>,
        /// How long each answer is valid.
        validity: Duration,
    },
}

impl Credentials {
    /// The source `[provisioning.credentials]` names.
    pub fn from_config(c: &CredentialsConfig) -> Credentials {
        match c {
            CredentialsConfig::Static {
                access_key_id,
                secret_access_key,
                session_token,
                validity,
            } => Credentials::Static {
                access_key_id: access_key_id.clone(),
                secret_access_key: secret_access_key.clone(),
                session_token: session_token.clone(),
                validity: *validity,
            },
            CredentialsConfig::Imds { endpoint, role } => {
                let mut s = ImdsSettings::default();
                if let Some(e) = endpoint {
                    s.endpoint = e.clone();
                }
                s.role = role.clone();
                Credentials::Imds(Box::new(ImdsCredentials::new(s)))
            }
        }
    }
}

impl CredentialSource for Credentials {
    fn credentials(
        &self,
    ) -> Pin<Box<dyn Future<Output = Result<pb::AwsCredentials, SourceError>> + Send + '_>> {
        match self {
            Credentials::Imds(imds) => imds.credentials(),
            Credentials::Static {
                access_key_id,
                secret_access_key,
                session_token,
                validity,
            } => {
                let expires = SystemTime::now() + *validity;
                let c = pb::AwsCredentials {
                    access_key_id: access_key_id.clone(),
                    secret_access_key: secret_access_key.to_string(),
                    session_token: session_token
                        .as_ref()
                        .map(|t| t.to_string())
                        .unwrap_or_default(),
                    expiration_unix_ms: sigil_std_ext::time::unix_ms(expires),
                };
                Box::pin(async move { Ok(c) })
            }
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Imds(imds) => f.debug_tuple("Imds").field(imds).finish(),
            Credentials::Static {
                access_key_id,
                validity,
                ..
            } => f
                .debug_struct("Static")
                .field("access_key_id", access_key_id)
                .field("secret_access_key", &"<redacted>")
                .field("validity", validity)
                .finish(),
        }
    }
}
