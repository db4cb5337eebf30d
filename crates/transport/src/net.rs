//! Listening and dialing over vsock, Unix and TCP, with vsock simulated on Unix sockets.
//!
//! In [`VsockMode::Simulated`], `vsock://CID:PORT` is the Unix socket
//! `DIR/vsock-CID-PORT.sock`. A listener on `vsock://any:PORT` binds the socket of this
//! side's own CID (3 for the parent, 16 by default for the enclave), so an enclave dialing
//! `vsock://3:8000` reaches the parent listening on `vsock://any:8000` exactly as on Nitro.

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio_vsock::{VsockAddr, VsockListener, VsockStream};

use crate::addr::{Addr, Host, VSOCK_CID_ANY};

/// How vsock addresses are realised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VsockMode {
    /// Real AF_VSOCK sockets (a Nitro host or enclave).
    Native,
    /// Unix sockets in `dir`; `local_cid` is the CID this side would have on Nitro.
    Simulated {
        /// Directory holding one socket per `CID:PORT`.
        dir: PathBuf,
        /// This side's own CID, used for `vsock://any:PORT` listeners.
        local_cid: u32,
    },
}

/// What went wrong while binding or dialing. Messages name the address and the operation.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The connect did not finish in time (a vsock connect to an absent CID hangs).
    #[error("connect to {addr} timed out after {after:?}")]
    ConnectTimeout {
        /// Destination.
        addr: String,
        /// The timeout that expired.
        after: Duration,
    },
    /// An I/O error during `op` on `addr`.
    #[error("{op} {addr}: {source}")]
    Io {
        /// "bind", "connect", "resolve", ...
        op: &'static str,
        /// The address as configured (plus its simulated path, if any).
        addr: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Binding a Unix socket would remove something that is not a socket.
    #[error("bind {addr}: {path} exists and is not a socket; refusing to remove it")]
    NotASocket {
        /// The address as configured.
        addr: String,
        /// The offending path.
        path: String,
    },
}

impl TransportError {
    /// Whether the error is a timeout (as opposed to a refusal or another I/O failure).
    pub fn is_timeout(&self) -> bool {
        matches!(self, TransportError::ConnectTimeout { .. })
    }
}

/// Binds and dials addresses. Cheap to clone; one per process is enough.
#[derive(Clone, Debug)]
pub struct Transport {
    vsock: VsockMode,
}

impl Transport {
    /// Real vsock.
    pub fn native() -> Self {
        Transport {
            vsock: VsockMode::Native,
        }
    }

    /// vsock simulated with Unix sockets in `dir`, this side having CID `local_cid`.
    pub fn simulated(dir: impl Into<PathBuf>, local_cid: u32) -> Self {
        Transport {
            vsock: VsockMode::Simulated {
                dir: dir.into(),
                local_cid,
            },
        }
    }

    /// The vsock mode in use.
    pub fn vsock_mode(&self) -> &VsockMode {
        &self.vsock
    }

    /// The Unix socket that stands for `vsock://cid:port` in simulation, if simulating.
    pub fn simulated_path(&self, cid: u32, port: u32) -> Option<PathBuf> {
        match &self.vsock {
            VsockMode::Native => None,
            VsockMode::Simulated { dir, local_cid } => {
                let cid = if cid == VSOCK_CID_ANY {
                    *local_cid
                } else {
                    cid
                };
                Some(dir.join(format!("vsock-{cid}-{port}.sock")))
            }
        }
    }

    fn describe(&self, addr: &Addr) -> String {
        match (addr, self.simulated_path_of(addr)) {
            (_, Some(p)) => format!("{addr} (simulated at {})", p.display()),
            _ => addr.to_string(),
        }
    }

    fn simulated_path_of(&self, addr: &Addr) -> Option<PathBuf> {
        match addr {
            Addr::Vsock { cid, port } => self.simulated_path(*cid, *port),
            _ => None,
        }
    }

    /// Binds a listener. Unix sockets (and simulated vsock) replace a stale socket file
    /// but never another kind of file; simulated vsock sockets live in a 0700 directory.
    pub async fn bind(&self, addr: &Addr) -> Result<Listener, TransportError> {
        let io_err = |op, source| TransportError::Io {
            op,
            addr: self.describe(addr),
            source,
        };
        match addr {
            Addr::Tcp { host, port } => {
                let l = match host {
                    Host::Ip(ip) => TcpListener::bind((*ip, *port)).await,
                    Host::Name(n) => TcpListener::bind((n.as_str(), *port)).await,
                }
                .map_err(|e| io_err("bind", e))?;
                Ok(Listener {
                    inner: ListenerInner::Tcp(l),
                    addr: addr.clone(),
                })
            }
            Addr::Unix(path) => self.bind_unix(addr, path),
            Addr::Vsock { cid, port } => match self.simulated_path(*cid, *port) {
                Some(path) => {
                    if let Some(dir) = path.parent() {
                        ensure_private_dir(dir)
                            .map_err(|e| io_err("create simulation directory for", e))?;
                    }
                    self.bind_unix(addr, &path)
                }
                None => {
                    let l = VsockListener::bind(VsockAddr::new(*cid, *port))
                        .map_err(|e| io_err("bind", e))?;
                    Ok(Listener {
                        inner: ListenerInner::Vsock(l),
                        addr: addr.clone(),
                    })
                }
            },
        }
    }

    /// Binds a Unix socket at `path` serving `addr` (the path itself, or a simulated vsock).
    fn bind_unix(&self, addr: &Addr, path: &Path) -> Result<Listener, TransportError> {
        let io_err = |source| TransportError::Io {
            op: "bind",
            addr: self.describe(addr),
            source,
        };
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_socket() => std::fs::remove_file(path).map_err(io_err)?,
            Ok(_) => {
                return Err(TransportError::NotASocket {
                    addr: addr.to_string(),
                    path: path.display().to_string(),
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(e)),
        }
        let l = UnixListener::bind(path).map_err(io_err)?;
        let file = std::fs::symlink_metadata(path)
            .ok()
            .map(|m| (m.dev(), m.ino()));
        Ok(Listener {
            inner: ListenerInner::Unix {
                listener: l,
                path: path.to_owned(),
                file,
            },
            addr: addr.clone(),
        })
    }

    /// Dials `addr`, giving up after `timeout`. TCP names resolve with the system resolver
    /// and each address is tried in turn within the same deadline.
    pub async fn connect(&self, addr: &Addr, timeout: Duration) -> Result<Stream, TransportError> {
        match tokio::time::timeout(timeout, self.connect_inner(addr)).await {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(source)) => Err(TransportError::Io {
                op: "connect",
                addr: self.describe(addr),
                source,
            }),
            Err(_) => Err(TransportError::ConnectTimeout {
                addr: self.describe(addr),
                after: timeout,
            }),
        }
    }

    async fn connect_inner(&self, addr: &Addr) -> io::Result<Stream> {
        match addr {
            Addr::Tcp {
                host: Host::Ip(ip),
                port,
            } => {
                let s = TcpStream::connect((*ip, *port)).await?;
                s.set_nodelay(true)?;
                Ok(Stream::Tcp(s))
            }
            Addr::Tcp {
                host: Host::Name(n),
                port,
            } => {
                let s = TcpStream::connect((n.as_str(), *port)).await?;
                s.set_nodelay(true)?;
                Ok(Stream::Tcp(s))
            }
            Addr::Unix(p) => Ok(Stream::Unix(UnixStream::connect(p).await?)),
            Addr::Vsock { cid, port } => match self.simulated_path(*cid, *port) {
                Some(p) => Ok(Stream::Unix(UnixStream::connect(p).await?)),
                None => Ok(Stream::Vsock(
                    VsockStream::connect(VsockAddr::new(*cid, *port)).await?,
                )),
            },
        }
    }
}

fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let meta = std::fs::metadata(dir)?;
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

enum ListenerInner {
    Tcp(TcpListener),
    Unix {
        listener: UnixListener,
        path: PathBuf,
        /// (device, inode) of the socket file this listener created.
        file: Option<(u64, u64)>,
    },
    Vsock(VsockListener),
}

/// A bound listener. Dropping a Unix listener removes its socket file — only if the path
/// still names the file it created, so a late drop never removes a successor's socket.
pub struct Listener {
    inner: ListenerInner,
    addr: Addr,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("addr", &self.addr)
            .finish()
    }
}

impl Listener {
    /// The address this listener serves, with the real port for `tcp://…:0`.
    pub fn local_addr(&self) -> Addr {
        match &self.inner {
            ListenerInner::Tcp(l) => l
                .local_addr()
                .map(Addr::tcp)
                .unwrap_or_else(|_| self.addr.clone()),
            ListenerInner::Vsock(l) => l
                .local_addr()
                .map(|a| Addr::Vsock {
                    cid: a.cid(),
                    port: a.port(),
                })
                .unwrap_or_else(|_| self.addr.clone()),
            ListenerInner::Unix { .. } => self.addr.clone(),
        }
    }

    /// Accepts one connection and describes its peer. TCP streams get `TCP_NODELAY` so
    /// small writes (SSE events, gRPC frames) leave at once.
    pub async fn accept(&self) -> io::Result<(Stream, String)> {
        match &self.inner {
            ListenerInner::Tcp(l) => {
                let (s, peer) = l.accept().await?;
                s.set_nodelay(true)?;
                Ok((Stream::Tcp(s), format!("tcp://{peer}")))
            }
            ListenerInner::Unix { listener, .. } => {
                let (s, _) = listener.accept().await?;
                let peer = match s.peer_cred() {
                    Ok(c) => format!("unix:pid={},uid={}", c.pid().unwrap_or(0), c.uid()),
                    Err(_) => "unix".to_owned(),
                };
                Ok((Stream::Unix(s), peer))
            }
            ListenerInner::Vsock(l) => {
                let (s, peer) = l.accept().await?;
                Ok((
                    Stream::Vsock(s),
                    format!("vsock://{}:{}", peer.cid(), peer.port()),
                ))
            }
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let ListenerInner::Unix {
            path,
            file: Some(file),
            ..
        } = &self.inner
            && std::fs::symlink_metadata(path).is_ok_and(|m| (m.dev(), m.ino()) == *file)
        {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A connected byte stream over any of the three transports.
#[derive(Debug)]
pub enum Stream {
    /// TCP.
    Tcp(TcpStream),
    /// Unix socket (also simulated vsock).
    Unix(UnixStream),
    /// AF_VSOCK.
    Vsock(VsockStream),
}

macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            Stream::Tcp($s) => {
                let $s = Pin::new($s);
                $e
            }
            Stream::Unix($s) => {
                let $s = Pin::new($s);
                $e
            }
            Stream::Vsock($s) => {
                let $s = Pin::new($s);
                $e
            }
        }
    };
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_read(cx, buf))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => s.poll_write(cx, buf))
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => s.poll_write_vectored(cx, bufs))
    }
    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Tcp(s) => s.is_write_vectored(),
            Stream::Unix(s) => s.is_write_vectored(),
            Stream::Vsock(s) => s.is_write_vectored(),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_flush(cx))
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_shutdown(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn simulated_vsock_any_listener_is_reached_by_its_cid() {
        let dir = tempfile::tempdir().unwrap();
        let parent = Transport::simulated(dir.path().join("sim"), 3);
        let enclave = Transport::simulated(dir.path().join("sim"), 16);
        let l = parent
            .bind(&"vsock://any:8000".parse().unwrap())
            .await
            .unwrap();
        assert!(dir.path().join("sim/vsock-3-8000.sock").exists());
        let mode = std::fs::metadata(dir.path().join("sim"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        let t = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            s.write_all(b"hi").await.unwrap();
        });
        let mut s = enclave
            .connect(&"vsock://3:8000".parse().unwrap(), Duration::from_secs(2))
            .await
            .unwrap();
        let mut b = [0u8; 2];
        s.read_exact(&mut b).await.unwrap();
        assert_eq!(&b, b"hi");
        t.await.unwrap();
    }

    #[tokio::test]
    async fn a_late_drop_leaves_a_successors_socket_alone() {
        let dir = tempfile::tempdir().unwrap();
        let t = Transport::simulated(dir.path(), 3);
        let addr: Addr = "vsock://any:7000".parse().unwrap();
        let old = t.bind(&addr).await.unwrap();
        let new = t.bind(&addr).await.unwrap();
        drop(old);
        assert!(dir.path().join("vsock-3-7000.sock").exists());
        drop(new);
        assert!(!dir.path().join("vsock-3-7000.sock").exists());
    }

    #[tokio::test]
    async fn unix_bind_refuses_to_remove_a_regular_file_and_cleans_up_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("file");
        std::fs::write(&f, b"keep me").unwrap();
        let t = Transport::native();
        let addr: Addr = format!("unix://{}", f.display()).parse().unwrap();
        let err = t.bind(&addr).await.unwrap_err();
        assert!(err.to_string().contains("not a socket"), "{err}");
        assert_eq!(std::fs::read(&f).unwrap(), b"keep me");

        let s = dir.path().join("s.sock");
        let addr: Addr = format!("unix://{}", s.display()).parse().unwrap();
        let l = t.bind(&addr).await.unwrap();
        drop(l);
        assert!(!s.exists());
        // A stale socket left behind by a crash is replaced.
        let stale = std::os::unix::net::UnixListener::bind(&s).unwrap();
        std::mem::forget(stale);
        let _l = t.bind(&addr).await.unwrap();
    }

    #[tokio::test]
    async fn connect_errors_name_the_address() {
        let dir = tempfile::tempdir().unwrap();
        let t = Transport::simulated(dir.path(), 3);
        let err = t
            .connect(&"vsock://16:50051".parse().unwrap(), Duration::from_secs(1))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("vsock://16:50051"), "{err}");
        assert!(err.contains("vsock-16-50051.sock"), "{err}");
    }

    #[tokio::test]
    async fn tcp_listener_reports_its_real_port() {
        let t = Transport::native();
        let l = t.bind(&"tcp://127.0.0.1:0".parse().unwrap()).await.unwrap();
        match l.local_addr() {
            Addr::Tcp { port, .. } => assert_ne!(port, 0),
            other => panic!("{other}"),
        }
    }

    /// On this kind of machine a vsock connect to an absent peer hangs; the timeout must
    /// turn that into an error. Where the kernel refuses at once, that is an error too.
    #[tokio::test]
    async fn native_vsock_connect_never_hangs() {
        let t = Transport::native();
        let started = std::time::Instant::now();
        let r = t
            .connect(
                &"vsock://1:59999".parse().unwrap(),
                Duration::from_millis(300),
            )
            .await;
        assert!(r.is_err());
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
