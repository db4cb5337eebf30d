//! The appliance paths: a [`SignerService`] (party 0) behind a tonic server, and a co-signer
//! ([`sigil_cosigner::cosign`]) playing party 1 over one shared gRPC channel, as a Sign
//! Gateway would.
//!
//! - in-process: the service mounted on a tonic `Server` (the same settings as
//!   [`sigil_signer::serve`]) whose connections are `tokio::io::duplex` pipes;
//! - unix: [`sigil_signer::serve`] itself on a Unix socket from [`sigil_transport`].
//!
//! The client's connection is wrapped in [`Counting`], which counts every byte in both
//! directions (HTTP/2 frames with gRPC messages, headers, window updates, pings). The
//! co-signer's key is wrapped so the protocol payload bytes it sends and receives are counted
//! too: with two parties, that is every protocol message of the session.

use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use sigil_mpc::{
    DerivationPath, KeyStore, MessageIo, MpcError, PublicKey, Scheme as MpcScheme, Session,
    Signature, ThresholdKey, WireMessage,
};
use sigil_proto::signer::v1 as pb;
use sigil_proto::signer::v1::sign_service_server::SignServiceServer;
use sigil_signer::{Conn, Limits, SignerService};
use sigil_transport::{Addr, Transport};
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tonic::transport::{Channel, Endpoint};

use crate::{DKLS23_ACCOUNT, ECDSA_ACCOUNT, ED25519_ACCOUNT, Fixture, Mode, Scheme};

/// Buffer of each in-memory pipe, per direction.
const DUPLEX_BYTES: usize = 256 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// As [`sigil_signer::serve`] and [`sigil_cosigner::connect`] set it.
const KEEPALIVE: Duration = Duration::from_secs(20);

/// Bytes read and written through [`Counting`] streams.
#[derive(Debug, Default)]
pub struct WireCounters {
    read: AtomicU64,
    written: AtomicU64,
}

impl WireCounters {
    /// Bytes read plus bytes written so far.
    pub fn total(&self) -> u64 {
        self.read.load(Ordering::Relaxed) + self.written.load(Ordering::Relaxed)
    }
}

/// A stream that counts the bytes through it.
pub struct Counting<S> {
    inner: S,
    counters: Arc<WireCounters>,
}

impl<S> Counting<S> {
    /// Wraps `inner`, adding to `counters`.
    pub fn new(inner: S, counters: Arc<WireCounters>) -> Self {
        Self { inner, counters }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counting<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let n = (buf.filled().len() - before) as u64;
            self.counters.read.fetch_add(n, Ordering::Relaxed);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counting<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled {
            self.counters.written.fetch_add(n as u64, Ordering::Relaxed);
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = polled {
            self.counters.written.fetch_add(n as u64, Ordering::Relaxed);
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A co-signer key that counts the protocol payload bytes its party sends and receives.
struct CountingKey {
    inner: Arc<dyn ThresholdKey>,
    bytes: Arc<AtomicU64>,
}

struct CountingIo<'a> {
    inner: &'a mut dyn MessageIo,
    bytes: &'a AtomicU64,
}

impl MessageIo for CountingIo<'_> {
    fn send(&mut self, msg: WireMessage) -> Result<(), MpcError> {
        self.bytes
            .fetch_add(msg.payload.len() as u64, Ordering::Relaxed);
        self.inner.send(msg)
    }
    fn recv(&mut self) -> Result<WireMessage, MpcError> {
        let msg = self.inner.recv()?;
        self.bytes
            .fetch_add(msg.payload.len() as u64, Ordering::Relaxed);
        Ok(msg)
    }
}

impl ThresholdKey for CountingKey {
    fn scheme(&self) -> MpcScheme {
        self.inner.scheme()
    }
    fn party_index(&self) -> u16 {
        self.inner.party_index()
    }
    fn threshold(&self) -> u16 {
        self.inner.threshold()
    }
    fn parties(&self) -> u16 {
        self.inner.parties()
    }
    fn public_key(&self, path: &DerivationPath) -> Result<PublicKey, MpcError> {
        self.inner.public_key(path)
    }
    fn check(&self, session: &Session) -> Result<(), MpcError> {
        self.inner.check(session)
    }
    fn sign(&self, session: &Session, io: &mut dyn MessageIo) -> Result<Signature, MpcError> {
        let mut io = CountingIo {
            inner: io,
            bytes: &self.bytes,
        };
        self.inner.sign(session, &mut io)
    }
}

/// A running server: its stop signal and task.
type Server = (oneshot::Sender<()>, JoinHandle<()>);

/// One served SignService and the co-signer's channel to it. Clones share everything.
#[derive(Clone)]
pub struct AppliancePath {
    mode: Mode,
    channel: Channel,
    wire: Arc<WireCounters>,
    payload: Arc<AtomicU64>,
    /// The co-signer's keys, by [`Scheme`] index.
    cosigner: [Arc<dyn ThresholdKey>; 3],
    ecdsa_path: DerivationPath,
    server: Arc<std::sync::Mutex<Option<Server>>>,
    _dir: Option<Arc<tempfile::TempDir>>,
}

fn limits(max_sessions: usize) -> Limits {
    Limits {
        max_sessions,
        ..Limits::default()
    }
}

fn endpoint() -> Endpoint {
    Endpoint::from_static("http://sigil-signer")
        .connect_timeout(CONNECT_TIMEOUT)
        .http2_keep_alive_interval(KEEPALIVE)
}

impl AppliancePath {
    /// The service on a tonic server over in-memory pipes.
    pub(crate) async fn in_process(
        fixture: Arc<Fixture>,
        keys: KeyStore,
        max_sessions: usize,
    ) -> anyhow::Result<Self> {
        let service = SignerService::new(keys, crate::fixture::nsm()?, limits(max_sessions));
        let max = service.limits().max_message_bytes;
        let (conn_tx, conn_rx) = mpsc::channel::<io::Result<Conn<DuplexStream>>>(16);
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let served = tonic::transport::Server::builder()
                .http2_keepalive_interval(Some(KEEPALIVE))
                .add_service(
                    SignServiceServer::new(service)
                        .max_decoding_message_size(max)
                        .max_encoding_message_size(max),
                )
                .serve_with_incoming_shutdown(
                    tokio_stream::wrappers::ReceiverStream::new(conn_rx),
                    async {
                        let _ = stop_rx.await;
                    },
                )
                .await;
            if let Err(e) = served {
                eprintln!("signbench: in-process server: {e}");
            }
        });
        let wire = Arc::new(WireCounters::default());
        let counters = wire.clone();
        let channel = endpoint()
            .connect_with_connector(tower::service_fn(move |_: http::Uri| {
                let (conn_tx, counters) = (conn_tx.clone(), counters.clone());
                async move {
                    let (client, server) = tokio::io::duplex(DUPLEX_BYTES);
                    conn_tx
                        .send(Ok(Conn(server)))
                        .await
                        .map_err(|_| io::Error::other("the in-process server stopped"))?;
                    Ok::<_, io::Error>(hyper_util::rt::TokioIo::new(Counting::new(
                        client, counters,
                    )))
                }
            }))
            .await
            .context("connecting to the in-process server")?;
        Ok(Self::new(
            Mode::InProcess,
            fixture,
            channel,
            wire,
            (stop_tx, server),
            None,
        ))
    }

    /// The service served by `sigil_signer::serve` on a Unix socket in a fresh directory.
    pub(crate) async fn unix(
        fixture: Arc<Fixture>,
        keys: KeyStore,
        max_sessions: usize,
    ) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let socket: PathBuf = dir.path().join("signer.sock");
        let addr: Addr = format!("unix://{}", socket.display())
            .parse()
            .map_err(|e| anyhow!("socket address: {e}"))?;
        let transport = Transport::native();
        let listener = transport.bind(&addr).await?;
        let service = SignerService::new(keys, crate::fixture::nsm()?, limits(max_sessions));
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            // The benchmark measures the service itself; TLS is not part of the figures.
            let security = sigil_signer::Security::PlaintextForSimulation;
            let served = sigil_signer::serve(listener, service, security, async {
                let _ = stop_rx.await;
            })
            .await;
            if let Err(e) = served {
                eprintln!("signbench: unix server: {e}");
            }
        });
        let wire = Arc::new(WireCounters::default());
        let counters = wire.clone();
        // As sigil_cosigner::connect, with the stream wrapped for counting.
        let channel = endpoint()
            .connect_with_connector(tower::service_fn(move |_: http::Uri| {
                let (transport, addr, counters) =
                    (transport.clone(), addr.clone(), counters.clone());
                async move {
                    let stream = transport
                        .connect(&addr, CONNECT_TIMEOUT)
                        .await
                        .map_err(io::Error::other)?;
                    Ok::<_, io::Error>(hyper_util::rt::TokioIo::new(Counting::new(
                        stream, counters,
                    )))
                }
            }))
            .await
            .context("connecting to the Unix socket server")?;
        Ok(Self::new(
            Mode::Unix,
            fixture,
            channel,
            wire,
            (stop_tx, server),
            Some(Arc::new(dir)),
        ))
    }

    fn new(
        mode: Mode,
        fixture: Arc<Fixture>,
        channel: Channel,
        wire: Arc<WireCounters>,
        server: Server,
        dir: Option<Arc<tempfile::TempDir>>,
    ) -> Self {
        let payload = Arc::new(AtomicU64::new(0));
        let counting = |inner: Arc<dyn ThresholdKey>| -> Arc<dyn ThresholdKey> {
            Arc::new(CountingKey {
                inner,
                bytes: payload.clone(),
            })
        };
        let cosigner = Scheme::ALL.map(|scheme| match scheme {
            Scheme::Ecdsa => counting(fixture.ecdsa[1].clone()),
            Scheme::Dkls23 => counting(fixture.dkls23[1].clone()),
            Scheme::Ed25519 => counting(fixture.ed25519[1].clone()),
        });
        Self {
            mode,
            channel,
            wire,
            payload,
            cosigner,
            ecdsa_path: fixture.ecdsa_path.clone(),
            server: Arc::new(std::sync::Mutex::new(Some(server))),
            _dir: dir,
        }
    }

    /// Which path this is.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Bytes through the client's connection so far.
    pub fn wire(&self) -> &WireCounters {
        &self.wire
    }

    /// Protocol payload bytes (both directions) so far.
    pub fn payload_bytes(&self) -> u64 {
        self.payload.load(Ordering::Relaxed)
    }

    /// One co-signed session: the co-signer's party 1 against the service's party 0. The
    /// co-signer checks that both sides end with the same signature.
    pub async fn sign(
        &self,
        scheme: Scheme,
        session_id: String,
        payload: &[u8],
        timeout: Duration,
    ) -> anyhow::Result<[u8; 64]> {
        let (account_id, path, mpc_scheme) = match scheme {
            Scheme::Ecdsa => (
                ECDSA_ACCOUNT,
                self.ecdsa_path.clone(),
                MpcScheme::EcdsaSecp256k1,
            ),
            Scheme::Dkls23 => (
                DKLS23_ACCOUNT,
                self.ecdsa_path.clone(),
                MpcScheme::EcdsaSecp256k1,
            ),
            Scheme::Ed25519 => (ED25519_ACCOUNT, DerivationPath::root(), MpcScheme::Ed25519),
        };
        let local = &self.cosigner[scheme as usize];
        let request = sigil_cosigner::Request {
            session_id,
            account_id: account_id.into(),
            path,
            scheme: mpc_scheme,
            ecdsa_hash: pb::EcdsaHash::Keccak256,
            payload: payload.to_vec(),
            parties: vec![0, 1],
        };
        let outcome =
            sigil_cosigner::cosign(self.channel.clone(), vec![local.clone()], &request, timeout)
                .await
                .with_context(|| format!("{} {scheme} session", self.mode))?;
        Ok(outcome.signature.to_bytes())
    }

    /// Shuts the server down (once, whichever clone asks first).
    pub(crate) async fn stop(&self) {
        let server = self.server.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some((stop, mut task)) = server {
            let _ = stop.send(());
            // A graceful stop waits for open connections; the benchmark's own stay open.
            if tokio::time::timeout(Duration::from_secs(1), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }
}
