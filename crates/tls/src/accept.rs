//! Accepting TLS connections on a transport listener without letting one caller stall the
//! others: each handshake runs in its own task under a timeout, at most `max_handshakes` at
//! once; failed handshakes are logged (peer and reason) and dropped; only established
//! connections are yielded. The acceptor stops, and the listener closes, when the returned
//! stream is dropped.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use sha2::{Digest, Sha256};
use sigil_transport::{Listener, Stream};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tracing::{info, warn};
use x509_cert::der::Decode;

/// Pause after a failed accept (e.g. EMFILE) before the next one.
const ACCEPT_RETRY_PAUSE: Duration = Duration::from_millis(100);

/// Established TLS connections from [`accept_tls`]. Dropping it stops accepting, aborts the
/// handshakes in progress and closes the listener.
pub struct TlsIncoming {
    rx: mpsc::Receiver<io::Result<TlsStream<Stream>>>,
    task: JoinHandle<()>,
}

impl Drop for TlsIncoming {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl futures_core::Stream for TlsIncoming {
    type Item = io::Result<TlsStream<Stream>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

/// Accepts connections on `listener` and runs the TLS handshake of each with `config` in its
/// own task: at most `max_handshakes` (at least 1) at once (further connections wait in the
/// listener's backlog), each abandoned after `handshake_timeout`. A failed handshake is logged
/// with the peer and the reason, never with key material, and dropped. Accept errors are
/// logged and retried after a pause. Must be called within a tokio runtime.
pub fn accept_tls(
    listener: Listener,
    config: Arc<rustls::ServerConfig>,
    handshake_timeout: Duration,
    max_handshakes: usize,
) -> TlsIncoming {
    let max = max_handshakes.max(1);
    let (tx, rx) = mpsc::channel(max);
    let task = tokio::spawn(run(
        listener,
        TlsAcceptor::from(config),
        handshake_timeout,
        max,
        tx,
    ));
    TlsIncoming { rx, task }
}

async fn run(
    listener: Listener,
    acceptor: TlsAcceptor,
    handshake_timeout: Duration,
    max: usize,
    tx: mpsc::Sender<io::Result<TlsStream<Stream>>>,
) {
    let permits = Arc::new(Semaphore::new(max));
    // Dropped (aborting every handshake in progress) when this task ends or is aborted.
    let mut handshakes = JoinSet::new();
    loop {
        while handshakes.try_join_next().is_some() {}
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
            _ = tx.closed() => return,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    warn!(event = "accept_failed", error = %e);
                    tokio::time::sleep(ACCEPT_RETRY_PAUSE).await;
                    continue;
                }
            },
            _ = tx.closed() => return,
        };
        let (acceptor, tx) = (acceptor.clone(), tx.clone());
        handshakes.spawn(async move {
            let outcome = tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await;
            drop(permit);
            match outcome {
                Ok(Ok(tls)) => {
                    let (subject, spki) = describe_client(tls.get_ref().1);
                    info!(
                        event = "tls_established",
                        peer = %peer,
                        client_subject = %subject,
                        client_spki_sha256 = %spki,
                    );
                    // The receiver is gone only when serving stops.
                    let _ = tx.send(Ok(tls)).await;
                }
                Ok(Err(e)) => {
                    warn!(event = "tls_handshake_failed", peer = %peer, reason = %e);
                }
                Err(_) => {
                    warn!(
                        event = "tls_handshake_failed",
                        peer = %peer,
                        reason = %format!("no complete handshake within {handshake_timeout:?}"),
                    );
                }
            }
        });
    }
}

/// The client certificate's subject and SPKI SHA-256 (hex), for the log.
fn describe_client(conn: &rustls::ServerConnection) -> (String, String) {
    let Some(leaf) = conn.peer_certificates().and_then(|c| c.first()) else {
        return ("-".into(), "-".into());
    };
    let subject = x509_cert::Certificate::from_der(leaf.as_ref())
        .map(|c| c.tbs_certificate().subject().to_string())
        .unwrap_or_else(|_| "-".into());
    let spki = crate::spki_sha256_of(leaf)
        .map(hex::encode)
        .unwrap_or_else(|_| hex::encode(Sha256::digest(leaf.as_ref())));
    (subject, spki)
}
