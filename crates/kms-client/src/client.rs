//! The KMS client and the attested Decrypt.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sdk_kms::config::{BehaviorVersion, Region, timeout::TimeoutConfig};
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::operation::RequestId;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeyEncryptionMechanism, RecipientInfo};
use sigil_nsm::{AttestationRequest, Nsm, NsmError};
use sigil_recipient_cms::{CmsError, RecipientKey, Zeroizing};
use sigil_transport::{Addr, Transport};
use tracing::{Instrument, info, info_span};

use crate::connector::{Dial, TransportHttpClient};

/// Where KMS is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// The real KMS, `https://kms.<region>.amazonaws.com`, TLS verified inside the process.
    AwsTls,
    /// The KMS simulator over plain HTTP at this URL. Never use outside simulation.
    SimulationPlaintext {
        /// e.g. `http://kms.sim` (the host is only a label: connections go to `dial`).
        url: String,
    },
}

/// How to reach KMS.
#[derive(Clone, Debug)]
pub struct KmsConfig {
    /// AWS region of the key.
    pub region: String,
    /// Where every connection is dialed: `vsock://3:8000` in an enclave.
    pub dial: Addr,
    /// TLS to AWS, or plain HTTP to the simulator.
    pub endpoint: Endpoint,
    /// Dial timeout (a vsock connect to an absent peer hangs).
    pub connect_timeout: Duration,
    /// Bound on one HTTP attempt.
    pub attempt_timeout: Duration,
    /// Bound on one operation including the SDK's retries.
    pub operation_timeout: Duration,
}

/// Short-lived credentials from the parent.
#[derive(Clone)]
pub struct AwsCredentials {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: Zeroizing<String>,
    /// STS session token.
    pub session_token: Option<Zeroizing<String>>,
    /// When they stop working.
    pub expires_at: Option<SystemTime>,
}

impl fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// What went wrong. No variant carries plaintext, keys or credentials.
#[derive(Debug, thiserror::Error)]
pub enum KmsError {
    /// The configuration is unusable.
    #[error("KMS client configuration: {0}")]
    Config(String),
    /// The credentials expired (checked before any request is sent).
    #[error("AWS credentials expired at {0}")]
    CredentialsExpired(String),
    /// The NSM refused the attestation.
    #[error("attestation for the KMS recipient: {0}")]
    Nsm(#[from] NsmError),
    /// KMS answered with an error.
    #[error("KMS {code}: {message} (request id {request_id})")]
    Service {
        /// KMS's `__type`, e.g. `AccessDeniedException`.
        code: String,
        /// KMS's message.
        message: String,
        /// `x-amzn-RequestId`.
        request_id: String,
        /// Worth retrying later (throttling, 5xx).
        retryable: bool,
    },
    /// No answer: connect failure, timeout, broken response.
    #[error("KMS unreachable: {0}")]
    Unreachable(String),
    /// KMS answered without `CiphertextForRecipient`, or with a plaintext it must not send.
    #[error("KMS response: {0}")]
    Response(&'static str),
    /// The `CiphertextForRecipient` could not be opened.
    #[error("CiphertextForRecipient: {0}")]
    Envelope(#[from] CmsError),
    /// Generating the ephemeral RSA key failed or its task died.
    #[error("ephemeral recipient key: {0}")]
    Key(String),
}

impl KmsError {
    /// Whether a later retry may succeed (KMS unreachable, throttled or failing internally).
    pub fn is_transient(&self) -> bool {
        match self {
            KmsError::Unreachable(_) => true,
            KmsError::Service { retryable, .. } => *retryable,
            _ => false,
        }
    }
}

/// The result of an attested Decrypt.
pub struct AttestedDecrypt {
    /// The plaintext, wiped on drop.
    pub plaintext: Zeroizing<Vec<u8>>,
    /// The key KMS used (ARN).
    pub key_id: Option<String>,
    /// KMS's request id, for the boot report and CloudTrail.
    pub request_id: Option<String>,
    /// The attestation document sent as `Recipient`.
    pub attestation_document: Vec<u8>,
}

impl fmt::Debug for AttestedDecrypt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttestedDecrypt")
            .field(
                "plaintext",
                &format_args!("[{} bytes, redacted]", self.plaintext.len()),
            )
            .field("key_id", &self.key_id)
            .field("request_id", &self.request_id)
            .finish_non_exhaustive()
    }
}

/// A KMS client bound to one transport route and one set of credentials.
#[derive(Clone, Debug)]
pub struct KmsClient {
    sdk: aws_sdk_kms::Client,
    expires_at: Option<SystemTime>,
}

impl KmsClient {
    /// Builds the client; nothing is dialed until the first request.
    pub fn new(
        config: &KmsConfig,
        transport: Transport,
        credentials: AwsCredentials,
    ) -> Result<Self, KmsError> {
        let dial = Dial {
            transport,
            addr: config.dial.clone(),
            timeout: config.connect_timeout,
        };
        let plaintext = matches!(config.endpoint, Endpoint::SimulationPlaintext { .. });
        let http = TransportHttpClient::new(dial, plaintext)
            .map_err(|e| KmsError::Config(e.to_string()))?;
        let creds = Credentials::new(
            credentials.access_key_id.clone(),
            credentials.secret_access_key.as_str(),
            credentials
                .session_token
                .as_ref()
                .map(|t| t.as_str().to_owned()),
            credentials.expires_at,
            "sigil-parent",
        );
        let mut b = aws_sdk_kms::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(config.region.clone()))
            .credentials_provider(creds)
            .http_client(http)
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_attempt_timeout(config.attempt_timeout)
                    .operation_timeout(config.operation_timeout)
                    .build(),
            );
        if let Endpoint::SimulationPlaintext { url } = &config.endpoint {
            if !url.starts_with("http://") {
                return Err(KmsError::Config(format!(
                    "simulation endpoint {url} must be http://"
                )));
            }
            b = b.endpoint_url(url);
        }
        Ok(KmsClient {
            sdk: aws_sdk_kms::Client::from_conf(b.build()),
            expires_at: credentials.expires_at,
        })
    }

    /// The SDK client, for operations other than the attested Decrypt (tooling, tests).
    pub fn sdk(&self) -> &aws_sdk_kms::Client {
        &self.sdk
    }

    fn check_credentials(&self) -> Result<(), KmsError> {
        match self.expires_at {
            Some(t) if t <= SystemTime::now() + Duration::from_secs(5) => Err(
                KmsError::CredentialsExpired(sigil_std_ext::time::format_time(t, false)),
            ),
            _ => Ok(()),
        }
    }

    /// KMS `Decrypt` with `Recipient`: the plaintext never crosses the wire.
    ///
    /// Makes a fresh RSA-2048 key, asks `nsm` for a document carrying its public key, sends
    /// it as `Recipient` (RSAES_OAEP_SHA_256), and opens `CiphertextForRecipient`, checking
    /// that it is addressed to this key. The RSA key is dropped (and wiped) before returning.
    pub async fn attested_decrypt(
        &self,
        nsm: &dyn Nsm,
        key_id: Option<&str>,
        ciphertext: &[u8],
        encryption_context: &HashMap<String, String>,
    ) -> Result<AttestedDecrypt, KmsError> {
        let span = info_span!(
            "kms_attested_decrypt",
            key_id = key_id.unwrap_or("(from ciphertext)")
        );
        async {
            self.check_credentials()?;
            let key = tokio::task::spawn_blocking(RecipientKey::generate)
                .await
                .map_err(|e| KmsError::Key(e.to_string()))??;
            let document = nsm.attestation(&AttestationRequest {
                public_key: Some(key.spki_der()),
                ..Default::default()
            })?;
            let recipient = RecipientInfo::builder()
                .key_encryption_algorithm(KeyEncryptionMechanism::RsaesOaepSha256)
                .attestation_document(Blob::new(document.clone()))
                .build();
            let out = self
                .sdk
                .decrypt()
                .ciphertext_blob(Blob::new(ciphertext))
                .set_key_id(key_id.map(str::to_owned))
                .set_encryption_context(
                    (!encryption_context.is_empty()).then(|| encryption_context.clone()),
                )
                .recipient(recipient)
                .send()
                .await
                .map_err(map_sdk_error)?;
            if out.plaintext().is_some() {
                return Err(KmsError::Response(
                    "KMS returned a plaintext despite the Recipient; refusing it",
                ));
            }
            let envelope = out
                .ciphertext_for_recipient()
                .ok_or(KmsError::Response("no CiphertextForRecipient"))?;
            let plaintext = key.decrypt(envelope.as_ref())?;
            drop(key);
            let request_id = out.request_id().map(str::to_owned);
            info!(
                event = "kms_decrypt_ok",
                request_id = request_id.as_deref().unwrap_or(""),
                bytes = plaintext.len()
            );
            Ok(AttestedDecrypt {
                plaintext,
                key_id: out.key_id().map(str::to_owned),
                request_id,
                attestation_document: document,
            })
        }
        .instrument(span)
        .await
    }
}

/// Maps the SDK's error into a variant that says whether to retry, without the request.
pub(crate) fn map_sdk_error<E, R>(e: SdkError<E, R>) -> KmsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: fmt::Debug,
{
    match &e {
        SdkError::ServiceError(se) => {
            let err = se.err();
            let code = err.code().unwrap_or("Unknown").to_owned();
            let retryable = matches!(
                code.as_str(),
                "KMSInternalException"
                    | "DependencyTimeoutException"
                    | "KeyUnavailableException"
                    | "ThrottlingException"
            );
            KmsError::Service {
                message: err.message().unwrap_or("").to_owned(),
                request_id: err.meta().extra("aws_request_id").unwrap_or("").to_owned(),
                code,
                retryable,
            }
        }
        SdkError::TimeoutError(_) => KmsError::Unreachable("timed out".into()),
        SdkError::DispatchFailure(d) => KmsError::Unreachable(format!(
            "{:?}",
            d.as_connector_error().map(|c| c.to_string())
        )),
        SdkError::ResponseError(_) => KmsError::Unreachable("malformed response".into()),
        other => KmsError::Unreachable(other.to_string()),
    }
}
