//! Helpers for Sigil's tests. Not used by any shipped binary.
//!
//! [`TestDns`] is a real DNS server on a loopback UDP port: it answers A and AAAA queries
//! from a table the test controls (with the TTL the test chooses) and NXDOMAIN otherwise,
//! so resolver behaviour — TTL caching, names pointing at private ranges — is exercised
//! over the wire rather than through a stub.
//!
//! [`pki`] issues throw-away CAs, server and client certificates (rcgen) for TLS tests, and
//! [`pki::TestPki`] is the server CA, server certificate and client CA the service tests share.
//!
//! [`age`] runs the `age` and `age-keygen` CLIs; [`paths`] finds the test prime pool and the
//! workspace's binaries.
//!
//! This crate is a dev-dependency of shipping crates (sigil-tls, sigil-egress-policy,
//! sigil-signer, parent-agent…), so it depends on none of Sigil's crates: a test would
//! otherwise link a second copy of the crate it tests. Fixtures built from Sigil's crates
//! live in `sigil-fixtures`; the simulated parent in `sigil-fake-parent`.
#![allow(clippy::unwrap_used, missing_docs)]

pub mod age;
pub mod paths;
pub mod pki;

pub use age::{age_encrypt, age_keygen, age_recipient};
pub use paths::{TEST_PRIMES, workspace_bin};

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{RData, Record, RecordType};
use tokio::net::UdpSocket;

#[derive(Default)]
struct Zone {
    records: Mutex<HashMap<String, (Vec<IpAddr>, u32)>>,
    queries: AtomicUsize,
}

/// A DNS responder on 127.0.0.1. Dropping it stops the server.
pub struct TestDns {
    addr: SocketAddr,
    zone: Arc<Zone>,
    task: tokio::task::JoinHandle<()>,
}

impl TestDns {
    /// Starts the server with no records.
    pub async fn start() -> Self {
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = sock.local_addr().unwrap();
        let zone = Arc::new(Zone::default());
        let z = zone.clone();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
                    return;
                };
                let Ok(q) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                z.queries.fetch_add(1, Ordering::SeqCst);
                let mut resp = Message::response(q.metadata.id, q.metadata.op_code);
                resp.metadata.recursion_desired = q.metadata.recursion_desired;
                resp.metadata.recursion_available = true;
                resp.metadata.message_type = MessageType::Response;
                let mut known = false;
                for query in &q.queries {
                    resp.add_query(query.clone());
                    let name = query
                        .name()
                        .to_ascii()
                        .trim_end_matches('.')
                        .to_ascii_lowercase();
                    let Some((ips, ttl)) = z.records.lock().unwrap().get(&name).cloned() else {
                        continue;
                    };
                    known = true;
                    for ip in ips {
                        let rdata = match (ip, query.query_type()) {
                            (IpAddr::V4(v4), RecordType::A) => RData::A(A(v4)),
                            (IpAddr::V6(v6), RecordType::AAAA) => RData::AAAA(AAAA(v6)),
                            _ => continue,
                        };
                        resp.add_answer(Record::from_rdata(query.name().clone(), ttl, rdata));
                    }
                }
                if !known {
                    resp.metadata.response_code = ResponseCode::NXDomain;
                }
                if let Ok(bytes) = resp.to_vec() {
                    let _ = sock.send_to(&bytes, peer).await;
                }
            }
        });
        TestDns { addr, zone, task }
    }

    /// The server's address, for a resolver's `nameservers`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sets (or replaces) the addresses of `name`, answered with `ttl` seconds.
    pub fn set(&self, name: &str, ips: &[&str], ttl: u32) {
        let ips = ips.iter().map(|s| s.parse().unwrap()).collect();
        self.zone
            .records
            .lock()
            .unwrap()
            .insert(name.to_ascii_lowercase(), (ips, ttl));
    }

    /// How many queries have been answered so far.
    pub fn queries(&self) -> usize {
        self.zone.queries.load(Ordering::SeqCst)
    }
}

impl Drop for TestDns {
    fn drop(&mut self) {
        self.task.abort();
    }
}
