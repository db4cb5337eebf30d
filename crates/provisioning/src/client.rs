//! The enclave's side: fetch the boot bundle, send the boot report.

use std::time::{Duration, Instant};

use sigil_proto::provision::v1 as pb;
use sigil_proto::provision::v1::provisioning_client::ProvisioningClient;
use sigil_transport::{Addr, Transport};
use tonic::transport::Channel;
use tracing::{info, warn};

use crate::{MAX_BUNDLE_BYTES, MAX_REPORT_BYTES};

/// Why the parent could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No connection within the deadline.
    #[error("parent provisioning service at {addr} unreachable after {attempts} attempts: {last}")]
    Unreachable {
        /// The address dialed.
        addr: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// The parent answered with an error.
    #[error("parent provisioning service: {code:?}: {message}")]
    Refused {
        /// The gRPC status code.
        code: tonic::Code,
        /// The parent's message.
        message: String,
    },
}

/// Calls `op` until it succeeds, fails for good, or `deadline` passes. Connection failures and
/// UNAVAILABLE are retried with exponential backoff (100 ms doubling to 2 s).
async fn with_retries<T, F, Fut>(
    transport: &Transport,
    addr: &Addr,
    deadline: Duration,
    what: &'static str,
    mut op: F,
) -> Result<T, ClientError>
where
    F: FnMut(ProvisioningClient<Channel>) -> Fut,
    Fut: std::future::Future<Output = Result<T, tonic::Status>>,
{
    let start = Instant::now();
    let mut backoff = Duration::from_millis(100);
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let remaining = deadline.saturating_sub(start.elapsed());
        let connect_timeout = remaining.clamp(Duration::from_millis(50), Duration::from_secs(5));
        let last = match sigil_grpc_client::connect(
            transport.clone(),
            addr.clone(),
            connect_timeout,
            None,
        )
        .await
        {
            Ok(ch) => {
                let client = ProvisioningClient::new(ch)
                    .max_decoding_message_size(MAX_BUNDLE_BYTES)
                    .max_encoding_message_size(MAX_REPORT_BYTES);
                match tokio::time::timeout(remaining.max(Duration::from_millis(50)), op(client))
                    .await
                {
                    Ok(Ok(v)) => {
                        info!(event = "provisioning_ok", step = what, attempt = attempts);
                        return Ok(v);
                    }
                    Ok(Err(s)) if s.code() == tonic::Code::Unavailable => s.message().to_owned(),
                    Ok(Err(s)) => {
                        return Err(ClientError::Refused {
                            code: s.code(),
                            message: s.message().to_owned(),
                        });
                    }
                    Err(_) => "timed out".to_owned(),
                }
            }
            Err(e) => e.chain(),
        };
        if start.elapsed() + backoff >= deadline {
            return Err(ClientError::Unreachable {
                addr: addr.to_string(),
                attempts,
                last,
            });
        }
        warn!(event = "provisioning_retry", step = what, attempt = attempts, error = %last);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// Fetches the boot bundle from the parent at `addr`, retrying while the parent is not yet
/// reachable, for at most `deadline`.
pub async fn fetch_bundle(
    transport: &Transport,
    addr: &Addr,
    request: pb::BootBundleRequest,
    deadline: Duration,
) -> Result<pb::BootBundle, ClientError> {
    with_retries(transport, addr, deadline, "fetch_bundle", |mut c| {
        let r = request.clone();
        async move { c.get_boot_bundle(r).await.map(tonic::Response::into_inner) }
    })
    .await
}

/// Sends the boot report, retrying while the parent is not reachable, for at most `deadline`.
pub async fn send_report(
    transport: &Transport,
    addr: &Addr,
    report: pb::BootReport,
    deadline: Duration,
) -> Result<(), ClientError> {
    with_retries(transport, addr, deadline, "send_report", |mut c| {
        let r = report.clone();
        async move { c.report_boot(r).await.map(|_| ()) }
    })
    .await
}
