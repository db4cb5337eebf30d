//! One gRPC client channel for every Sigil client (the co-signer, the enclave's provisioning
//! client, parent-agent's attestation gate and health probe): any transport address, the
//! connect and TLS handshake bounded by one timeout, mutual TLS through rustls or, for the
//! simulation, plaintext.

use std::time::Duration;

use sigil_tls::ClientTls;
use sigil_tls::tokio_rustls::TlsConnector;
use sigil_transport::{Addr, Transport};
use tonic::transport::{Channel, Endpoint};

/// Why a channel could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The TLS material is unusable.
    #[error("TLS: {0}")]
    Tls(#[from] sigil_tls::TlsError),
    /// The connection, the TLS handshake or HTTP/2 failed.
    #[error("{0}")]
    Transport(#[from] tonic::transport::Error),
}

impl ConnectError {
    /// The error with every source, `a: b: c`, for one log field or status line.
    pub fn chain(&self) -> String {
        sigil_std_ext::error_chain(self)
    }
}

fn endpoint(timeout: Duration) -> Endpoint {
    Endpoint::from_static("http://sigil")
        .connect_timeout(timeout)
        .http2_keep_alive_interval(Duration::from_secs(20))
}

/// Opens a gRPC channel to `addr` (vsock, Unix or TCP): over mutual TLS with `tls`, plaintext
/// with `None` (the parent's provisioning service, or a SignService in simulation). The
/// connect and the handshake together must finish within `timeout`; the channel reconnects
/// the same way.
pub async fn connect(
    transport: Transport,
    addr: Addr,
    timeout: Duration,
    tls: Option<&ClientTls>,
) -> Result<Channel, ConnectError> {
    let Some(tls) = tls else {
        return Ok(endpoint(timeout)
            .connect_with_connector(tower::service_fn(move |_: http::Uri| {
                let (transport, addr) = (transport.clone(), addr.clone());
                async move {
                    let stream = transport
                        .connect(&addr, timeout)
                        .await
                        .map_err(std::io::Error::other)?;
                    Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
                }
            }))
            .await?);
    };
    let connector = TlsConnector::from(tls.config()?);
    let server_name = tls.server_name()?;
    Ok(endpoint(timeout)
        .connect_with_connector(tower::service_fn(move |_: http::Uri| {
            let (transport, addr) = (transport.clone(), addr.clone());
            let (connector, server_name) = (connector.clone(), server_name.clone());
            async move {
                let handshake = async {
                    let stream = transport
                        .connect(&addr, timeout)
                        .await
                        .map_err(std::io::Error::other)?;
                    connector.connect(server_name, stream).await
                };
                let tls = tokio::time::timeout(timeout, handshake)
                    .await
                    .map_err(|_| {
                        std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            format!("TLS connection to {addr} not established within {timeout:?}"),
                        )
                    })??;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tls))
            }
        }))
        .await?)
}
