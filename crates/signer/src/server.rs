//! Serves the SignService, `grpc.health.v1` and reflection on a transport listener, over
//! mutual TLS terminated here (production) or, chosen by name, plaintext (simulation only).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use sigil_proto::Conn;
use sigil_proto::signer::v1::sign_service_server::SignServiceServer;
use sigil_transport::{Listener, Stream};
use tracing::{info, warn};

use crate::SignerService;

/// Why serving stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The reflection service could not load the descriptor set.
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The HTTP/2 server failed.
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// How connections to the service are secured.
#[derive(Clone, Debug)]
pub enum Security {
    /// Mutual TLS terminated in this process: the configuration must require and verify client
    /// certificates (as [`sigil_tls::TlsBundle::server_config`] builds it). Handshakes run under
    /// [`Limits::handshake_timeout`](crate::Limits) and [`Limits::max_handshakes`](crate::Limits).
    MutualTls(Arc<rustls::ServerConfig>),
    /// No TLS: anyone who can reach the listener is a caller. For the simulation and tests
    /// only; every start logs a warning.
    PlaintextForSimulation,
}

/// Serves until `shutdown` resolves. Accept errors (e.g. EMFILE) are logged and retried after a
/// pause instead of spinning. With [`Security::MutualTls`] only connections that completed the
/// handshake with an accepted client certificate reach gRPC; failed handshakes are logged and
/// dropped.
pub async fn serve(
    listener: Listener,
    service: SignerService,
    security: Security,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<SignServiceServer<SignerService>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(sigil_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let limits = service.limits().clone();
    let max = limits.max_message_bytes;
    let router = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(20)))
        .add_service(health_service)
        .add_service(reflection)
        .add_service(
            SignServiceServer::new(service)
                .max_decoding_message_size(max)
                .max_encoding_message_size(max),
        );
    let address = listener.local_addr();
    match security {
        Security::MutualTls(config) => {
            info!(event = "serving", %address, security = "mutual TLS");
            let incoming = sigil_tls::accept_tls(
                listener,
                config,
                limits.handshake_timeout,
                limits.max_handshakes,
            )
            .map(|conn| conn.map(Conn));
            router
                .serve_with_incoming_shutdown(incoming, shutdown)
                .await?;
        }
        Security::PlaintextForSimulation => {
            warn!(
                event = "serving",
                %address,
                security = "plaintext",
                "serving WITHOUT TLS: any process that reaches this address is a caller (simulation and tests only)"
            );
            let incoming = futures_util::stream::unfold(listener, |l| async move {
                loop {
                    match l.accept().await {
                        Ok((s, _peer)) => {
                            return Some((Ok::<_, std::io::Error>(Conn::<Stream>(s)), l));
                        }
                        Err(e) => {
                            warn!(event = "accept_failed", error = %e);
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
            });
            router
                .serve_with_incoming_shutdown(incoming, shutdown)
                .await?;
        }
    }
    Ok(())
}
