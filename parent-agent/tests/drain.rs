//! SIGTERM on the real binary: stop accepting, let open connections finish within the
//! drain timeout, close the rest, exit 0. Also `check-config` on good and bad files.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use sigil_transport::Transport;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

const BIN: &str = env!("CARGO_BIN_EXE_parent-agent");

struct Running {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    ingress_port: u16,
    _dir: tempfile::TempDir,
    enclave: tokio::task::JoinHandle<()>,
}

async fn start(drain: &str) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("vsock");
    let cfg = dir.path().join("agent.toml");
    std::fs::write(
        &cfg,
        format!(
            "[vsock]\nsimulation_dir = \"{}\"\n[ingress]\nlisten = \"tcp://127.0.0.1:0\"\n[shutdown]\ndrain_timeout = \"{drain}\"\n",
            sim.display()
        ),
    )
    .unwrap();
    // The stand-in enclave: echo on vsock 50051.
    let l = Transport::simulated(&sim, 16)
        .bind(&"vsock://any:50051".parse().unwrap())
        .await
        .unwrap();
    let enclave = tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut b = [0u8; 1024];
                while let Ok(n) = s.read(&mut b).await {
                    if n == 0 || s.write_all(&b[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let mut child = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&cfg)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = wait_for(&mut lines, "ready").await;
    let listening = ready["listening"].as_str().unwrap();
    let ingress_port = listening.rsplit(':').next().unwrap().parse().unwrap();
    Running {
        child,
        lines,
        ingress_port,
        _dir: dir,
        enclave,
    }
}

async fn wait_for(lines: &mut Lines<BufReader<ChildStdout>>, event: &str) -> serde_json::Value {
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let v: serde_json::Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            if v["event"] == event {
                return v;
            }
        }
        panic!("stdout ended before event {event}");
    })
    .await
    .unwrap_or_else(|_| panic!("no {event} event"))
}

async fn echo_once(c: &mut tokio::net::TcpStream, msg: &[u8]) {
    c.write_all(msg).await.unwrap();
    let mut b = vec![0u8; msg.len()];
    tokio::time::timeout(Duration::from_secs(2), c.read_exact(&mut b))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b, msg);
}

#[tokio::test]
async fn sigterm_stops_accepting_lets_open_connections_finish_and_exits_zero() {
    let mut r = start("30s").await;
    let mut c = tokio::net::TcpStream::connect(("127.0.0.1", r.ingress_port))
        .await
        .unwrap();
    echo_once(&mut c, b"before").await;
    kill(Pid::from_raw(r.child.id().unwrap() as i32), Signal::SIGTERM).unwrap();
    let drain = wait_for(&mut r.lines, "drain_started").await;
    assert_eq!(drain["open_connections"], 1);
    // No new connections...
    let refused = tokio::net::TcpStream::connect(("127.0.0.1", r.ingress_port)).await;
    assert!(
        refused.is_err(),
        "the listener must be closed during the drain"
    );
    // ...but the open one keeps working.
    echo_once(&mut c, b"during the drain").await;
    drop(c);
    let finished = wait_for(&mut r.lines, "drain_finished").await;
    assert_eq!(finished["closed_at_deadline"], 0);
    let status = tokio::time::timeout(Duration::from_secs(5), r.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
    r.enclave.abort();
}

#[tokio::test]
async fn connections_still_open_at_the_deadline_are_closed() {
    let mut r = start("500ms").await;
    let mut c = tokio::net::TcpStream::connect(("127.0.0.1", r.ingress_port))
        .await
        .unwrap();
    echo_once(&mut c, b"x").await;
    kill(Pid::from_raw(r.child.id().unwrap() as i32), Signal::SIGTERM).unwrap();
    let finished = wait_for(&mut r.lines, "drain_finished").await;
    assert_eq!(finished["closed_at_deadline"], 1);
    let status = tokio::time::timeout(Duration::from_secs(5), r.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
    let mut rest = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(2), c.read_to_end(&mut rest))
        .await
        .unwrap();
    assert!(matches!(n, Ok(0) | Err(_)));
    r.enclave.abort();
}

#[test]
fn check_config_accepts_the_shipped_example_and_names_bad_fields() {
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/examples/parent-agent.toml"
    );
    let out = std::process::Command::new(BIN)
        .args(["check-config", example])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["valid"], true);
    assert!(summary["routes"].as_array().unwrap().len() >= 3);

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[egress]\nidle_timeout = \"1h\"\n[[egress.route]]\nlisten = \"vsock://any:8000\"\nto = \"kms.eu-west-1.amazonaws.com:443\"\n").unwrap();
    let out = std::process::Command::new(BIN)
        .args(["check-config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("egress.route[0].to"), "{err}");
    assert!(out.stdout.is_empty());
}
