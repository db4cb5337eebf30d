//! Ingress (gateway TCP → enclave vsock, simulated on Unix sockets): bulk integrity,
//! half-close, many concurrent connections, the connection cap and the idle timeout.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::time::Duration;

use common::{Agent, enclave_echo};
use sha2::{Digest, Sha256};
use sigil_transport::Addr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const INGRESS: &str = r#"
[vsock]
simulation_dir = "SIMDIR"
[ingress]
listen = "tcp://127.0.0.1:0"
max_connections = 2000
"#;

/// Deterministic pseudo-random bytes (xorshift), so no fixture is needed.
fn fill(buf: &mut [u8], state: &mut u64) {
    for chunk in buf.chunks_mut(8) {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        let bytes = state.to_le_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gib_round_trips_with_matching_checksums() {
    const TOTAL: usize = 1 << 30;
    let agent = Agent::start(INGRESS).await;
    // The "enclave" hashes what arrives and echoes it back.
    let l = agent.enclave_listen(50051).await;
    let server = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut n_total = 0usize;
        loop {
            let n = s.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            s.write_all(&buf[..n]).await.unwrap();
            n_total += n;
        }
        s.shutdown().await.unwrap();
        (n_total, h.finalize())
    });
    let client = agent.dial_ingress().await;
    let (mut r, mut w) = client.into_split();
    let writer = tokio::spawn(async move {
        let mut h = Sha256::new();
        let mut state = 0x9e3779b97f4a7c15u64;
        let mut buf = vec![0u8; 256 * 1024];
        let mut sent = 0;
        while sent < TOTAL {
            fill(&mut buf, &mut state);
            h.update(&buf);
            w.write_all(&buf).await.unwrap();
            sent += buf.len();
        }
        w.shutdown().await.unwrap();
        h.finalize()
    });
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut got = 0usize;
    loop {
        let n = r.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        got += n;
    }
    let sent_digest = writer.await.unwrap();
    let (server_got, server_digest) = server.await.unwrap();
    assert_eq!(server_got, TOTAL);
    assert_eq!(got, TOTAL);
    assert_eq!(
        server_digest, sent_digest,
        "what reached the enclave differs from what was sent"
    );
    assert_eq!(
        h.finalize(),
        sent_digest,
        "what came back differs from what was sent"
    );
    let text = agent.metrics.render();
    assert!(
        text.contains(&format!(
            "sigil_bridge_bytes_total{{route=\"tcp://127.0.0.1:0\",direction=\"upstream\"}} {TOTAL}"
        )),
        "{text}"
    );
}

#[tokio::test]
async fn half_close_in_both_directions() {
    let agent = Agent::start(INGRESS).await;
    let l = agent.enclave_listen(50051).await;
    let server = tokio::spawn(async move {
        // 1st connection: read to EOF, then answer (client half-closed first).
        let (mut s, _) = l.accept().await.unwrap();
        let mut req = Vec::new();
        s.read_to_end(&mut req).await.unwrap();
        s.write_all(&[b"answer to ".as_slice(), &req].concat())
            .await
            .unwrap();
        s.shutdown().await.unwrap();
        // 2nd connection: send and half-close first, then keep reading.
        let (mut s, _) = l.accept().await.unwrap();
        s.write_all(b"banner").await.unwrap();
        s.shutdown().await.unwrap();
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).await.unwrap();
        rest
    });

    let mut c = agent.dial_ingress().await;
    c.write_all(b"question").await.unwrap();
    c.shutdown().await.unwrap();
    let mut answer = Vec::new();
    c.read_to_end(&mut answer).await.unwrap();
    assert_eq!(answer, b"answer to question");

    let mut c = agent.dial_ingress().await;
    let mut banner = Vec::new();
    c.read_to_end(&mut banner).await.unwrap();
    assert_eq!(banner, b"banner");
    // The enclave stopped sending; the client can still send.
    c.write_all(b"after the server's FIN").await.unwrap();
    c.shutdown().await.unwrap();
    assert_eq!(server.await.unwrap(), b"after the server's FIN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_connections() {
    let agent = Agent::start(INGRESS).await;
    let _echo = enclave_echo(&agent).await;
    let mut conns = Vec::new();
    for _ in 0..1000 {
        conns.push(agent.dial_ingress().await);
    }
    // All 1,000 are open at once before any byte moves.
    for (i, c) in conns.iter_mut().enumerate() {
        c.write_all(format!("conn {i:04}\n").as_bytes())
            .await
            .unwrap();
    }
    for (i, c) in conns.iter_mut().enumerate() {
        let mut b = [0u8; 10];
        tokio::time::timeout(Duration::from_secs(20), c.read_exact(&mut b))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(b, format!("conn {i:04}\n").as_bytes());
    }
    assert_eq!(agent.relay.open_connections(), 1000);
    drop(conns);
    let text = agent.metrics.render();
    assert!(text.contains("outcome=\"accepted\"} 1000"), "{text}");
    assert!(text.contains("outcome=\"rejected_over_cap\"} 0"), "{text}");
}

#[tokio::test]
async fn over_the_cap_is_closed_at_once_and_counted() {
    let agent =
        Agent::start(&INGRESS.replace("max_connections = 2000", "max_connections = 2")).await;
    let _echo = enclave_echo(&agent).await;
    let mut a = agent.dial_ingress().await;
    let mut b = agent.dial_ingress().await;
    for c in [&mut a, &mut b] {
        c.write_all(b"x").await.unwrap();
        let mut one = [0u8; 1];
        c.read_exact(&mut one).await.unwrap();
    }
    let mut third = agent.dial_ingress().await;
    let mut buf = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(2), third.read(&mut buf))
        .await
        .unwrap();
    assert!(
        matches!(n, Ok(0) | Err(_)),
        "the connection over the cap must be closed at once"
    );
    assert!(
        agent
            .metrics
            .render()
            .contains("outcome=\"rejected_over_cap\"} 1")
    );
    // Capacity comes back when a connection ends.
    drop(a);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut again = agent.dial_ingress().await;
    again.write_all(b"y").await.unwrap();
    tokio::time::timeout(Duration::from_secs(2), again.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf, b"y");
}

#[tokio::test]
async fn idle_connections_are_closed() {
    let agent =
        Agent::start(&INGRESS.replace("max_connections = 2000", "idle_timeout = \"400ms\"")).await;
    let _echo = enclave_echo(&agent).await;
    let mut c = agent.dial_ingress().await;
    // Traffic every 200 ms keeps it open well past the timeout.
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        c.write_all(b"k").await.unwrap();
        let mut b = [0u8; 1];
        c.read_exact(&mut b).await.unwrap();
    }
    let started = std::time::Instant::now();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(3), c.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(350),
        "closed too early: {:?}",
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(agent.relay.open_connections(), 0);
}

#[tokio::test]
async fn an_absent_enclave_is_a_counted_failure_not_a_hang() {
    let agent = Agent::start(INGRESS).await;
    let mut c = agent.dial_ingress().await;
    let mut b = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(7), c.read(&mut b))
        .await
        .unwrap();
    assert!(matches!(n, Ok(0) | Err(_)));
    assert!(
        agent
            .metrics
            .render()
            .contains("outcome=\"connect_failed\"} 1")
    );
    assert_eq!(
        agent.relay.bound()[0],
        Addr::Tcp {
            host: sigil_transport::Host::Ip([127, 0, 0, 1].into()),
            port: agent.ingress_port()
        }
    );
}
