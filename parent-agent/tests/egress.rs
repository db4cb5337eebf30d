//! Egress (enclave vsock → allowlisted destinations): the allowlist over a real DNS
//! server, HTTP CONNECT answers for every failure, unreachable and black-holed
//! destinations, SSE latency, and the structured decision log.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Agent, connect_request, egress_allow, tcp_echo};
use sigil_testkit::TestDns;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpSocket};

const CONNECT_PORT: u32 = 8081;
const FIXED_PORT: u32 = 8000;
const FIXED_DENIED_PORT: u32 = 8001;

struct Env {
    agent: Agent,
    dns: TestDns,
    echo: u16,
}

/// An agent with a CONNECT route, a fixed route to an echo server, and a fixed route
/// whose name resolves to loopback without an entry naming loopback on that port.
async fn env(extra_allow: &str) -> Env {
    let dns = TestDns::start().await;
    let echo = tcp_echo().await;
    dns.set("gw.test.example", &["127.0.0.1"], 60);
    dns.set("a.svc.test.example", &["127.0.0.1"], 60);
    dns.set("loop.deny.example", &["127.0.0.1"], 60);
    dns.set("imds.deny.example", &["169.254.169.254"], 60);
    dns.set("private.deny.example", &["10.0.0.1"], 60);
    let toml = format!(
        r#"
        [vsock]
        simulation_dir = "SIMDIR"
        [ingress]
        listen = "tcp://127.0.0.1:0"
        [egress]
        connect_timeout = "500ms"
        dns = {{ nameservers = ["{dns}"], timeout = "1s" }}
        [[egress.route]]
        listen = "vsock://any:{CONNECT_PORT}"
        http_connect = true
        [[egress.route]]
        listen = "vsock://any:{FIXED_PORT}"
        to = "gw.test.example:{echo}"
        [[egress.route]]
        listen = "vsock://any:{FIXED_DENIED_PORT}"
        to = "loop.deny.example:443"
        {allow}
        {extra_allow}
        "#,
        dns = dns.addr(),
        allow = egress_allow(&[
            ("gw.test.example", echo),
            ("*.svc.test.example", echo),
            ("127.0.0.0/8", echo),
            ("*.deny.example", 443),
        ]),
    );
    Env {
        agent: Agent::start(&toml).await,
        dns,
        echo,
    }
}

async fn expect_echo(s: &mut sigil_transport::Stream, msg: &[u8]) {
    s.write_all(msg).await.unwrap();
    let mut got = vec![0u8; msg.len()];
    tokio::time::timeout(Duration::from_secs(2), s.read_exact(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, msg);
}

#[tokio::test]
async fn allowed_destinations_pass_by_name_wildcard_ip_and_cidr() {
    // A second echo on 127.0.0.3 proves the CIDR entry, one on an allowlisted IP literal.
    let cidr_echo = TcpListener::bind("127.0.0.3:0").await.unwrap();
    let cidr_port = cidr_echo.local_addr().unwrap().port();
    let literal = tcp_echo().await;
    let e = env(&egress_allow(&[
        ("127.0.0.3/32", cidr_port),
        ("127.0.0.1", literal),
    ]))
    .await;
    tokio::spawn(async move {
        let (mut s, _) = cidr_echo.accept().await.unwrap();
        let (mut r, mut w) = s.split();
        tokio::io::copy(&mut r, &mut w).await.unwrap();
    });
    for target in [
        format!("gw.test.example:{}", e.echo),
        format!("a.svc.test.example:{}", e.echo),
        format!("127.0.0.1:{literal}"),
        format!("127.0.0.3:{cidr_port}"),
        format!("127.0.0.1:{}", e.echo),
    ] {
        let mut s = e.agent.dial_egress(CONNECT_PORT).await;
        let (code, head) = connect_request(&mut s, &target).await;
        assert_eq!(code, 200, "{target}: {head}");
        expect_echo(&mut s, target.as_bytes()).await;
    }
    // The fixed route needs no request line at all.
    let mut s = e.agent.dial_egress(FIXED_PORT).await;
    expect_echo(&mut s, b"fixed route").await;
    let allowed = e
        .agent
        .metrics
        .decisions("vsock://any:8081", "allow", "allowlisted");
    assert_eq!(allowed, 5);
}

#[tokio::test]
async fn denials_answer_403_and_are_logged_as_json_and_counted() {
    let logs = Arc::new(Mutex::new(Vec::<u8>::new()));
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_writer(move || SharedBuf(sink.clone()))
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let e = env("").await;
    let cases = [
        (
            format!("gw.test.example:{}", e.echo + 1),
            "port_not_allowed",
            "",
        ),
        ("evil.example:443".to_owned(), "no_matching_entry", ""),
        ("b.gw.test.example:443".to_owned(), "no_matching_entry", ""),
        (
            "loop.deny.example:443".to_owned(),
            "special_range",
            "127.0.0.1",
        ),
        (
            "imds.deny.example:443".to_owned(),
            "special_range",
            "169.254.169.254",
        ),
        (
            "private.deny.example:443".to_owned(),
            "special_range",
            "10.0.0.1",
        ),
        ("169.254.169.254:80".to_owned(), "no_matching_entry", ""),
        ("unknown.deny.example:443".to_owned(), "resolve_failed", ""),
    ];
    for (target, _, _) in &cases {
        let mut s = e.agent.dial_egress(CONNECT_PORT).await;
        let (code, answer) = connect_request(&mut s, target).await;
        assert_eq!(code, 403, "{target}: {answer}");
        assert!(answer.contains("not allowed"), "{answer}");
    }
    // The fixed route to a name resolving to loopback: closed, no bytes.
    let mut s = e.agent.dial_egress(FIXED_DENIED_PORT).await;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(3), s.read_to_end(&mut buf))
        .await
        .unwrap()
        .ok();
    assert!(buf.is_empty());

    let text = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    let decisions: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "egress_decision")
        .collect();
    assert_eq!(decisions.len(), cases.len() + 1, "{text}");
    for (target, reason, resolved) in &cases {
        let d = decisions
            .iter()
            .find(|d| d["destination"] == target.as_str())
            .unwrap_or_else(|| panic!("{target}: {text}"));
        assert_eq!(d["decision"], "deny");
        assert_eq!(d["reason"], *reason, "{target}");
        assert_eq!(d["resolved"], *resolved, "{target}");
        assert!(d["detail"].as_str().unwrap().len() > 10);
    }
    let fixed = decisions
        .iter()
        .find(|d| d["destination"] == "loop.deny.example:443" && d["reason"] == "special_range")
        .unwrap();
    assert_eq!(fixed["decision"], "deny");
    assert_eq!(
        e.agent
            .metrics
            .decisions("vsock://any:8081", "deny", "special_range"),
        3
    );
    assert_eq!(
        e.agent
            .metrics
            .decisions("vsock://any:8001", "deny", "special_range"),
        1
    );
    assert_eq!(
        e.agent
            .metrics
            .decisions("vsock://any:8081", "deny", "no_matching_entry"),
        3
    );
    let _ = &e.dns;
}

/// Reads and drops an HTTP head, up to and including its blank line.
async fn skip_head<R: tokio::io::AsyncBufRead + Unpin>(r: &mut R) {
    let mut line = String::new();
    loop {
        line.clear();
        r.read_line(&mut line).await.unwrap();
        if line == "\r\n" || line.is_empty() {
            return;
        }
    }
}

#[derive(Clone)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);
impl Write for SharedBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn malformed_and_oversized_requests_get_clear_answers_and_the_route_keeps_serving() {
    let e = env("").await;
    let huge = [
        b"CONNECT gw.test.example:1 HTTP/1.1\r\nX-Pad: ".as_slice(),
        &vec![b'a'; 20_000],
    ]
    .concat();
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (
            b"GET http://gw.test.example/ HTTP/1.1\r\n\r\n".to_vec(),
            405,
            "only CONNECT",
        ),
        (
            b"CONNECT gw.test.example HTTP/1.1\r\n\r\n".to_vec(),
            400,
            "HOST:PORT",
        ),
        (b"CONNECT gw_test:80 HTTP/1.1\r\n\r\n".to_vec(), 400, "'_'"),
        (
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n".to_vec(),
            400,
            "malformed",
        ),
        (huge, 431, "exceeds"),
    ];
    for (req, code, needle) in cases {
        let mut s = e.agent.dial_egress(CONNECT_PORT).await;
        // The peer may close before reading all of an oversized request.
        let _ = s.write_all(&req).await;
        let (got, answer) = common::read_response(&mut s).await;
        assert_eq!(got, code, "{answer}");
        assert!(answer.contains(needle), "{answer}");
    }
    let mut s = e.agent.dial_egress(CONNECT_PORT).await;
    let (code, _) = connect_request(&mut s, &format!("gw.test.example:{}", e.echo)).await;
    assert_eq!(code, 200);
    expect_echo(&mut s, b"still serving").await;
    assert!(
        e.agent
            .metrics
            .render()
            .contains("route=\"vsock://any:8081\",outcome=\"bad_request\"} 5")
    );
}

#[tokio::test]
async fn allowed_but_unreachable_hosts_get_an_error_not_a_hang() {
    // A port nobody listens on: refused at once.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = closed.local_addr().unwrap().port();
    drop(closed);
    // A listener with a full backlog that never accepts: SYNs are dropped, connects hang.
    let sock = TcpSocket::new_v4().unwrap();
    sock.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let hang_port = sock.local_addr().unwrap().port();
    let _blackhole = sock.listen(0).unwrap();
    let mut fillers = Vec::new();
    for _ in 0..8 {
        match tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect(("127.0.0.1", hang_port)),
        )
        .await
        {
            Ok(Ok(s)) => fillers.push(s),
            _ => break,
        }
    }
    let e = env(&egress_allow(&[
        ("127.0.0.1", dead),
        ("127.0.0.1", hang_port),
    ]))
    .await;
    let mut s = e.agent.dial_egress(CONNECT_PORT).await;
    let (code, answer) = connect_request(&mut s, &format!("127.0.0.1:{dead}")).await;
    assert_eq!(code, 502, "{answer}");
    let started = std::time::Instant::now();
    let mut s = e.agent.dial_egress(CONNECT_PORT).await;
    let (code, answer) = tokio::time::timeout(
        Duration::from_secs(5),
        connect_request(&mut s, &format!("127.0.0.1:{hang_port}")),
    )
    .await
    .expect("a black-holed destination must not hang the client");
    assert_eq!(code, 504, "{answer}");
    assert!(started.elapsed() >= Duration::from_millis(450));
    assert!(
        e.agent
            .metrics
            .render()
            .contains("route=\"vsock://any:8081\",outcome=\"connect_failed\"} 2")
    );
}

/// Server-sent events: each event must reach the enclave before the next is written.
#[tokio::test]
async fn sse_events_are_delivered_as_soon_as_written() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sse_port = l.local_addr().unwrap().port();
    let e = env(&egress_allow(&[
        ("sse.svc.test.example", sse_port),
        ("127.0.0.1", sse_port),
    ]))
    .await;
    e.dns.set("sse.svc.test.example", &["127.0.0.1"], 60);
    let server = tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let (r, mut w) = s.into_split();
        let mut r = BufReader::new(r);
        skip_head(&mut r).await;
        let mut line = String::new();
        w.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n")
            .await
            .unwrap();
        for i in 0..20 {
            w.write_all(format!("id: {i}\ndata: signing-request-{i}\n\n").as_bytes())
                .await
                .unwrap();
            // The next event is written only once the client has acknowledged this one
            // on the same connection, so buffering anywhere would deadlock the test.
            line.clear();
            r.read_line(&mut line).await.unwrap();
            assert_eq!(line, format!("ack {i}\n"));
        }
    });
    let mut s = e.agent.dial_egress(CONNECT_PORT).await;
    let (code, _) = connect_request(&mut s, &format!("sse.svc.test.example:{sse_port}")).await;
    assert_eq!(code, 200);
    s.write_all(b"GET /events HTTP/1.1\r\nHost: sse\r\nAccept: text/event-stream\r\n\r\n")
        .await
        .unwrap();
    let mut r = BufReader::new(s);
    skip_head(&mut r).await;
    let mut line = String::new();
    for i in 0..20 {
        let mut event = String::new();
        loop {
            line.clear();
            tokio::time::timeout(Duration::from_secs(2), r.read_line(&mut line))
                .await
                .unwrap_or_else(|_| panic!("event {i} was held back"))
                .unwrap();
            if line == "\n" {
                break;
            }
            event.push_str(&line);
        }
        assert_eq!(event, format!("id: {i}\ndata: signing-request-{i}\n"));
        r.get_mut()
            .write_all(format!("ack {i}\n").as_bytes())
            .await
            .unwrap();
    }
    server.await.unwrap();
}

/// Egress has no worker cap: a thousand long-lived streams are served at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_long_lived_egress_streams_at_once() {
    let e = env("").await;
    let mut streams = Vec::new();
    for _ in 0..1000 {
        streams.push(e.agent.dial_egress(FIXED_PORT).await);
    }
    for (i, s) in streams.iter_mut().enumerate() {
        s.write_all(format!("{i:05}").as_bytes()).await.unwrap();
    }
    for (i, s) in streams.iter_mut().enumerate() {
        let mut b = [0u8; 5];
        tokio::time::timeout(Duration::from_secs(20), s.read_exact(&mut b))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(b, format!("{i:05}").as_bytes());
    }
    assert_eq!(e.agent.relay.open_connections(), 1000);
    assert_eq!(
        e.agent
            .metrics
            .decisions("vsock://any:8000", "allow", "allowlisted"),
        1000
    );
}
