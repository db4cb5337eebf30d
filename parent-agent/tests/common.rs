//! Shared harness for parent-agent's integration tests: an agent started from TOML text
//! over simulated vsock, a stand-in enclave on the simulation's Unix sockets, and echo
//! servers on loopback TCP.
#![allow(dead_code, clippy::unwrap_used, missing_docs)]

use std::path::PathBuf;
use std::sync::Arc;

use parent_agent::bridge::{Relay, routes_from_config};
use parent_agent::config::Config;
use parent_agent::observe::metrics::Metrics;
use sigil_egress_policy::Policy;
use sigil_transport::{Addr, Listener, Stream, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub struct Agent {
    pub dir: tempfile::TempDir,
    pub relay: Relay,
    pub metrics: Arc<Metrics>,
}

impl Agent {
    /// Starts an agent from `toml` after replacing `SIMDIR` with a fresh simulation dir.
    pub async fn start(toml: &str) -> Agent {
        parent_agent::raise_fd_limit().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let text = toml.replace("SIMDIR", &dir.path().join("vsock").display().to_string());
        let cfg = Config::parse(&text, "test.toml").unwrap();
        let policy = Policy::new(cfg.allowlist(), &cfg.egress.dns).unwrap();
        let metrics = Arc::new(Metrics::new());
        let relay = Relay::start(
            cfg.vsock.transport(),
            routes_from_config(&cfg),
            Some(Arc::new(policy)),
            metrics.clone(),
        )
        .await
        .unwrap();
        Agent {
            dir,
            relay,
            metrics,
        }
    }

    pub fn sim_dir(&self) -> PathBuf {
        self.dir.path().join("vsock")
    }

    /// The enclave's view of vsock (CID 16).
    pub fn enclave(&self) -> Transport {
        Transport::simulated(self.sim_dir(), 16)
    }

    /// Listens as the enclave on `vsock://any:PORT`.
    pub async fn enclave_listen(&self, port: u32) -> Listener {
        self.enclave()
            .bind(&Addr::Vsock {
                cid: sigil_transport::VSOCK_CID_ANY,
                port,
            })
            .await
            .unwrap()
    }

    /// The TCP port ingress listens on.
    pub fn ingress_port(&self) -> u16 {
        match &self.relay.bound()[0] {
            Addr::Tcp { port, .. } => *port,
            other => panic!("ingress bound {other}"),
        }
    }

    pub async fn dial_ingress(&self) -> tokio::net::TcpStream {
        tokio::net::TcpStream::connect(("127.0.0.1", self.ingress_port()))
            .await
            .unwrap()
    }

    /// Dials an egress route from inside the (simulated) enclave.
    pub async fn dial_egress(&self, port: u32) -> Stream {
        self.enclave()
            .connect(
                &Addr::Vsock { cid: 3, port },
                std::time::Duration::from_secs(2),
            )
            .await
            .unwrap()
    }
}

/// A stand-in SignService: an echo server on the enclave's vsock 50051.
pub async fn enclave_echo(agent: &Agent) -> tokio::task::JoinHandle<()> {
    tokio::spawn(echo_loop(agent.enclave_listen(50051).await))
}

async fn echo_loop(l: Listener) {
    loop {
        let Ok((mut s, _)) = l.accept().await else {
            return;
        };
        tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => {
                        let _ = s.shutdown().await;
                        return;
                    }
                    Ok(n) => {
                        if s.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
    }
}

/// An echo server on 127.0.0.1; returns its port.
/// `[[egress.allow]]` entries, one per `(host, port)`, as TOML.
pub fn egress_allow(entries: &[(&str, u16)]) -> String {
    entries
        .iter()
        .map(|(host, port)| format!("[[egress.allow]]\nhost = \"{host}\"\nport = {port}\n"))
        .collect()
}

pub async fn tcp_echo() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = w.shutdown().await;
            });
        }
    });
    port
}

/// Sends a CONNECT request and returns (status code, whole head + body read so far).
pub async fn connect_request(s: &mut Stream, target: &str) -> (u16, String) {
    s.write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    read_response(s).await
}

pub async fn read_response(s: &mut Stream) -> (u16, String) {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut b).await.unwrap() == 0 {
            break;
        }
        head.push(b[0]);
    }
    let text = String::from_utf8_lossy(&head).to_string();
    let code = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    if code != 200 {
        // Error answers carry a short body and close.
        let mut rest = Vec::new();
        let _ =
            tokio::time::timeout(std::time::Duration::from_secs(2), s.read_to_end(&mut rest)).await;
        return (code, text + &String::from_utf8_lossy(&rest));
    }
    (code, text)
}
