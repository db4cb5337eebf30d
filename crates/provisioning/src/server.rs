//! The parent's side: serves the boot bundle and collects boot reports.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use sigil_proto::Conn;
use sigil_proto::provision::v1 as pb;
use sigil_proto::provision::v1::provisioning_server::{Provisioning, ProvisioningServer};
use sigil_transport::Listener;
use tokio::sync::mpsc;
use tonic::{Request, Response, Status};
use tracing::{info, warn};

use crate::{MAX_BUNDLE_BYTES, MAX_REPORT_BYTES};

/// The KMS ciphertext of the age identity, in the bundle directory.
pub const IDENTITY_FILE: &str = "age-private.key.enc";
/// The service's key shares, age-encrypted, in the bundle directory.
pub const KEY_SHARES_FILE: &str = "service_key_shares.json.age";
/// The SignService's TLS material (`sigil-tls-bundle`), age-encrypted, in the bundle directory.
pub const TLS_BUNDLE_FILE: &str = "service_tls.json.age";

/// Why a bundle could not be assembled. Sent to the enclave as FAILED_PRECONDITION.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

/// Short-lived AWS credentials for the enclave's KMS calls.
pub trait CredentialSource: Send + Sync + 'static {
    /// Current credentials (e.g. the instance role's, from IMDSv2).
    fn credentials(
        &self,
    ) -> Pin<Box<dyn Future<Output = Result<pb::AwsCredentials, SourceError>> + Send + '_>>;
}

/// Fixed credentials from configuration (simulation and tests).
pub struct StaticCredentials(pub pb::AwsCredentials);

impl CredentialSource for StaticCredentials {
    fn credentials(
        &self,
    ) -> Pin<Box<dyn Future<Output = Result<pb::AwsCredentials, SourceError>> + Send + '_>> {
        let c = self.0.clone();
        Box::pin(async move { Ok(c) })
    }
}

/// The ciphertext files, read from a directory (e.g. a tmpfs an `ExecStartPre` filled from S3)
/// at every request, so a refreshed file is served on the next boot.
#[derive(Clone, Debug)]
pub struct BundleFiles {
    /// Directory holding [`IDENTITY_FILE`], [`KEY_SHARES_FILE`] and [`TLS_BUNDLE_FILE`].
    pub dir: PathBuf,
    /// Refuse to serve a bundle without [`TLS_BUNDLE_FILE`] (production: always).
    pub require_tls: bool,
}

impl BundleFiles {
    async fn read(&self, name: &str, required: bool) -> Result<Vec<u8>, SourceError> {
        let path = self.dir.join(name);
        match tokio::fs::metadata(&path).await {
            Ok(m) if m.len() > MAX_BUNDLE_BYTES as u64 => {
                return Err(SourceError(format!(
                    "{} is {} bytes; the bundle limit is {MAX_BUNDLE_BYTES}",
                    path.display(),
                    m.len()
                )));
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                return Ok(Vec::new());
            }
            Err(e) => return Err(SourceError(format!("{}: {e}", path.display()))),
        }
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|e| SourceError(format!("{}: {e}", path.display())))?;
        if bytes.is_empty() {
            return Err(SourceError(format!("{} is empty", path.display())));
        }
        Ok(bytes)
    }
}

/// A boot report as the parent received it.
#[derive(Clone, Debug)]
pub struct ReceivedReport {
    /// The report.
    pub report: pb::BootReport,
    /// When it arrived.
    pub received_at: SystemTime,
}

/// The `Provisioning` gRPC service.
#[derive(Clone)]
pub struct ProvisioningService {
    files: BundleFiles,
    config: pb::RuntimeConfig,
    credentials: Arc<dyn CredentialSource>,
    reports: mpsc::Sender<ReceivedReport>,
}

impl ProvisioningService {
    /// Serves `files`, `config` and `credentials`; every boot report goes to `reports`.
    pub fn new(
        files: BundleFiles,
        config: pb::RuntimeConfig,
        credentials: Arc<dyn CredentialSource>,
        reports: mpsc::Sender<ReceivedReport>,
    ) -> Self {
        Self {
            files,
            config,
            credentials,
            reports,
        }
    }

    async fn bundle(&self) -> Result<pb::BootBundle, SourceError> {
        let identity_ciphertext = self.files.read(IDENTITY_FILE, true).await?;
        let key_shares_age = self.files.read(KEY_SHARES_FILE, true).await?;
        let tls_bundle_age = self
            .files
            .read(TLS_BUNDLE_FILE, self.files.require_tls)
            .await?;
        let total = identity_ciphertext.len() + key_shares_age.len() + tls_bundle_age.len();
        if total > MAX_BUNDLE_BYTES - (1 << 16) {
            return Err(SourceError(format!(
                "the bundle files total {total} bytes; the limit is {MAX_BUNDLE_BYTES}"
            )));
        }
        let credentials = self.credentials.credentials().await?;
        info!(
            event = "boot_bundle_served",
            identity_sha256 = %hex_sha256(&identity_ciphertext),
            key_shares_sha256 = %hex_sha256(&key_shares_age),
            tls_bundle_sha256 = %hex_sha256(&tls_bundle_age),
            bytes = total,
        );
        Ok(pb::BootBundle {
            identity_ciphertext,
            key_shares_age,
            tls_bundle_age,
            config: Some(self.config.clone()),
            credentials: Some(credentials),
        })
    }
}

fn hex_sha256(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

#[tonic::async_trait]
impl Provisioning for ProvisioningService {
    async fn get_boot_bundle(
        &self,
        request: Request<pb::BootBundleRequest>,
    ) -> Result<Response<pb::BootBundle>, Status> {
        let req = request.into_inner();
        info!(
            event = "boot_bundle_requested",
            version = %req.enclave_version,
            simulated = req.simulated
        );
        match self.bundle().await {
            Ok(b) => Ok(Response::new(b)),
            Err(e) => {
                warn!(event = "boot_bundle_unavailable", error = %e);
                Err(Status::failed_precondition(format!(
                    "boot bundle unavailable: {e}"
                )))
            }
        }
    }

    async fn report_boot(
        &self,
        request: Request<pb::BootReport>,
    ) -> Result<Response<pb::BootReportAck>, Status> {
        let report = request.into_inner();
        info!(
            event = "boot_report_received",
            status = if report.ok { "ok" } else { "failed" },
            step = %report.failed_step,
            reason = %report.reason,
        );
        let received = ReceivedReport {
            report,
            received_at: SystemTime::now(),
        };
        // A supervisor that stopped listening must not wedge the enclave's boot.
        match tokio::time::timeout(Duration::from_secs(5), self.reports.send(received)).await {
            Ok(Ok(())) => Ok(Response::new(pb::BootReportAck {})),
            _ => Err(Status::unavailable("the parent is not taking boot reports")),
        }
    }
}

/// Why serving stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The HTTP/2 server failed.
    #[error("provisioning server: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Serves `service` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: Listener,
    service: ProvisioningService,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let incoming = futures_util::stream::unfold(listener, |l| async move {
        loop {
            match l.accept().await {
                Ok((s, _peer)) => return Some((Ok::<_, std::io::Error>(Conn(s)), l)),
                Err(e) => {
                    warn!(event = "accept_failed", error = %e);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
    tonic::transport::Server::builder()
        .add_service(
            ProvisioningServer::new(service)
                .max_decoding_message_size(MAX_REPORT_BYTES)
                .max_encoding_message_size(MAX_BUNDLE_BYTES),
        )
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await?;
    Ok(())
}
