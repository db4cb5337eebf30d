//! Shared test helpers: start the real `kms-sim` binary and talk raw HTTP to it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

pub const AKID: &str = "AKIDKMSSIMTEST";
pub const SECRET: &str = "kms-sim/test/secret+KEY";
pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "111122223333";

/// A running simulator; killed on drop.
pub struct Sim {
    child: Child,
    pub port: u16,
    pub lines: mpsc::Receiver<String>,
}

impl Sim {
    /// Starts the binary on 127.0.0.1:0 with `state_dir` and `extra` arguments.
    pub fn start(state_dir: &Path, extra: &[&str]) -> Sim {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kms-sim"))
            .args(["--listen", "127.0.0.1:0", "--state-dir"])
            .arg(state_dir)
            .args(["--access-key-id", AKID, "--secret-access-key", SECRET])
            .args(["--region", REGION, "--account-id", ACCOUNT])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn kms-sim");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    // Receiver gone: keep reading and discarding.
                }
            }
        });
        let first = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("kms-sim printed no listening line");
        let v: serde_json::Value = serde_json::from_str(&first).unwrap();
        assert_eq!(v["event"], "listening", "{first}");
        let address = v["address"].as_str().unwrap();
        let port = address.rsplit(':').next().unwrap().parse().unwrap();
        Sim {
            child,
            port,
            lines: rx,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every log line printed so far.
    pub fn drain_log(&self) -> Vec<String> {
        self.lines.try_iter().collect()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw HTTP/1.1 response.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl RawResponse {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
    pub fn error_type(&self) -> String {
        self.json()["__type"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

/// Sends `head` (request line and headers, without the blank line) and `body`.
pub fn raw(port: u16, head: &str, body: &[u8]) -> RawResponse {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(b"connection: close\r\n\r\n").unwrap();
    // The server may answer (and close) before reading an oversized body.
    let _ = s.write_all(body);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    RawResponse {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

/// A SigV4-signed `POST /` with `X-Amz-Target: <target>` and `body`, signed with `secret`.
pub fn signed(port: u16, target: &str, body: &[u8], secret: &str) -> RawResponse {
    signed_with(port, target, body, secret, None)
}

/// As [`signed`], with an optional session token (signed as `x-amz-security-token`).
pub fn signed_with(
    port: u16,
    target: &str,
    body: &[u8],
    secret: &str,
    token: Option<&str>,
) -> RawResponse {
    use aws_sdk_kms::config::Credentials;
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_sigv4::sign::v4::SigningParams;

    let identity = Credentials::new(AKID, secret, token.map(str::to_string), None, "test").into();
    let params = SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name("kms")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let host = format!("127.0.0.1:{port}");
    let len = body.len().to_string();
    let headers = [
        ("host", host.as_str()),
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", target),
        ("content-length", len.as_str()),
    ];
    let signable = SignableRequest::new(
        "POST",
        format!("http://{host}/"),
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut head = String::from("POST / HTTP/1.1\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    for (k, v) in instructions.headers() {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    raw(port, &head, body)
}

/// A `sigil-kms-client` on plain HTTP to `sim`, dialing it over loopback TCP.
pub fn kms_client(
    sim: &Sim,
    akid: &str,
    secret: &str,
    token: Option<&str>,
) -> sigil_kms_client::KmsClient {
    kms_client_via(
        sim,
        sigil_transport::Transport::native(),
        sigil_transport::Addr::tcp(([127, 0, 0, 1], sim.port).into()),
        akid,
        secret,
        token,
    )
}

/// A `sigil-kms-client` on plain HTTP to `sim`, dialing `dial` with `transport`.
pub fn kms_client_via(
    sim: &Sim,
    transport: sigil_transport::Transport,
    dial: sigil_transport::Addr,
    akid: &str,
    secret: &str,
    token: Option<&str>,
) -> sigil_kms_client::KmsClient {
    let cfg = sigil_kms_client::KmsConfig {
        region: REGION.into(),
        dial,
        endpoint: sigil_kms_client::Endpoint::SimulationPlaintext {
            url: sim.endpoint(),
        },
        connect_timeout: Duration::from_secs(5),
        attempt_timeout: Duration::from_secs(10),
        operation_timeout: Duration::from_secs(30),
    };
    let creds = sigil_kms_client::AwsCredentials {
        access_key_id: akid.into(),
        secret_access_key: sigil_recipient_cms::Zeroizing::new(secret.into()),
        session_token: token.map(|t| sigil_recipient_cms::Zeroizing::new(t.into())),
        expires_at: None,
    };
    sigil_kms_client::KmsClient::new(&cfg, transport, creds).unwrap()
}
