//! The end-to-end suite (tests/README.md indexes the rest), in simulation with the real
//! binaries: parent-agent starts enclave-app with the process runner; the enclave fetches its
//! bundle from parent-agent's provisioning service, unwraps its identity through
//! parent-agent's KMS egress route to the real kms-sim (policy bound to the binary's PCR0),
//! and ships its logs to parent-agent. The gate verifies the attestation and opens TCP
//! ingress; signatures made through it — ECDSA in both engines (the demo ceremony's `eth-1`
//! in DKLs23, the default, and `eth-legacy` in cggmp24) and Ed25519 — verify with k256,
//! ed25519-dalek and, from the `cosigner` CLI, with Python's coincurve and cryptography (child
//! keys derived there from the summary's chain code). Then the fault matrix: the
//! enclave killed (between and in the middle of sessions), callers leaving half-way,
//! parent-agent killed under a running enclave, egress off the allowlist, SIGTERM drain, a
//! PCR0 off the allow-list, and the boot faults (policy for another PCR0, corrupted shares,
//! wrong identity, kms-sim down). Every line parent-agent, the enclave and kms-sim wrote is
//! scanned for secrets.

#![allow(clippy::unwrap_used, missing_docs)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sigil_fake_parent::{AKID, Appliance, SECRET};
use sigil_fixtures::tls::SERVER_NAME;
use sigil_fixtures::{ETH, ETH_LEGACY, SOL};
use sigil_mpc::Scheme;
use sigil_proto::signer::v1 as spb;
use sigil_testkit::pki::TestPki;
use sigil_testkit::{age_encrypt, age_keygen, workspace_bin};
use sigil_tls::ClientTls;
use sigil_transport::Transport;
const WAIT: Duration = Duration::from_secs(120);

struct Setup {
    a: Appliance,
    pki: TestPki,
    dir: PathBuf,
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

impl Setup {
    async fn new() -> Setup {
        let a = Appliance::with_demo_shares(&workspace_bin("enclave-app")).await;
        let pki = sigil_fixtures::tls::pki();
        a.seal_tls(&sigil_fixtures::tls::bundle(&pki).to_json());
        let dir = a.dir.path().join("parent-agent");
        std::fs::create_dir_all(dir.join("vsock")).unwrap();
        Setup { a, pki, dir }
    }

    /// A client certificate from the enclave's client CA, written as PEM files.
    fn client(&self, name: &str) -> ClientTls {
        sigil_fixtures::tls::client(&self.pki, &self.pki.client_ca, name, None)
    }

    fn config(&self, allowed_pcr0: &str, restart: &str) -> PathBuf {
        let c = self.client("parent-agent");
        let ca = write(&self.dir, "ca.pem", &c.ca_pem);
        let cert = write(&self.dir, "pa.pem", &c.cert_pem);
        let key = write(&self.dir, "pa-key.pem", &c.key_pem);
        let a = &self.a;
        let ctx: Vec<String> = a
            .config
            .encryption_context
            .iter()
            .map(|(k, v)| format!("{k} = \"{v}\""))
            .collect();
        let text = format!(
            r#"
[vsock]
simulation_dir = "{vsock}"

[ingress]
listen = "tcp://127.0.0.1:0"
connect = "vsock://16:50051"

[[egress.route]]
listen = "vsock://any:8000"
to = "127.0.0.1:{kms_port}"

[[egress.allow]]
host = "127.0.0.1/32"
port = {kms_port}

# Anything else the enclave asks for by HTTP CONNECT: nothing else is allowed.
[[egress.route]]
listen = "vsock://any:8081"
http_connect = true

[shutdown]
drain_timeout = "5s"

[enclave]
runner = "process"
cid = 16
program = "{program}"
args = ["--sim-dev-root", "{root}", "--bundle-deadline", "30s"]
[enclave.tls]
ca = "{ca}"
cert = "{cert}"
key = "{key}"
server_name = "{SERVER_NAME}"
[enclave.restart]
{restart}

[provisioning]
bundle_dir = "{bundle}"
[provisioning.credentials]
source = "static"
access_key_id = "{AKID}"
secret_access_key = "{SECRET}"
[provisioning.runtime]
region = "{region}"
kms_key_id = "{key_id}"
encryption_context = {{ {ctx} }}
kms_simulation_url = "http://kms.sim"
kms_retry_deadline = "3s"
max_sessions = 4

[attestation]
root = "{root}/dev-root.pem"
archive_dir = "{archive}"
recheck_interval = "2s"
[[attestation.allow]]
name = "under test"
pcr0 = "{allowed_pcr0}"

[health]
listen = "tcp://127.0.0.1:0"
probe_interval = "300ms"
probe_timeout = "2s"
failures_before_restart = 2

[logs]
file = "{logfile}"
"#,
            vsock = self.dir.join("vsock").display(),
            kms_port = a.kms.port,
            program = a.enclave_bin.display(),
            root = a.root_dir.display(),
            ca = ca.display(),
            cert = cert.display(),
            key = key.display(),
            bundle = a.bundle_dir.display(),
            region = a.config.region,
            key_id = a.config.kms_key_id,
            ctx = ctx.join(", "),
            archive = self.dir.join("archive").display(),
            logfile = self.dir.join("enclave.log").display(),
        );
        write(&self.dir, "parent-agent.toml", &text)
    }
}

/// A running parent-agent; its stdout lines are collected; killed on drop.
struct Agent {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    /// What it sent to its systemd notify socket.
    notified: Arc<Mutex<Vec<String>>>,
}

impl Agent {
    fn start(config: &Path) -> Agent {
        // A notify socket as systemd gives one, with a 1 s watchdog.
        let socket = config.with_file_name("notify.sock");
        let _ = std::fs::remove_file(&socket);
        let notify = std::os::unix::net::UnixDatagram::bind(&socket).unwrap();
        let notified = Arc::new(Mutex::new(Vec::new()));
        let n = notified.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(len) = notify.recv(&mut buf) {
                n.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buf[..len]).into_owned());
            }
        });
        let mut child = Command::new(workspace_bin("parent-agent"))
            .args(["run", "--config"])
            .arg(config)
            .env("RUST_LOG", "info")
            .env("NOTIFY_SOCKET", &socket)
            .env("WATCHDOG_USEC", "1000000")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        for out in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let l = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    l.lock().unwrap().push(line);
                }
            });
        }
        Agent {
            child,
            lines,
            notified,
        }
    }

    fn notified(&self, what: &str) -> bool {
        self.notified
            .lock()
            .unwrap()
            .iter()
            .any(|m| m.lines().any(|l| l == what))
    }

    /// The first JSON line with `event`, waiting for it.
    fn event(&self, event: &str) -> serde_json::Value {
        self.event_after(event, 0).1
    }

    /// The first line with `event` at or after index `from`: (index, line).
    fn event_after(&self, event: &str, from: usize) -> (usize, serde_json::Value) {
        let deadline = Instant::now() + WAIT;
        loop {
            {
                let lines = self.lines.lock().unwrap();
                for (i, l) in lines.iter().enumerate().skip(from) {
                    if let Ok(v) = serde_json::from_str::<serde_json::Value>(l)
                        && v["event"] == event
                    {
                        return (i, v);
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "no `{event}` event; parent-agent wrote:\n{}",
                self.lines.lock().unwrap().join("\n")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    fn listening(&self) -> (String, String) {
        let v = self.event("listening");
        let ingress = v["routes"].as_str().unwrap().split(',').next().unwrap();
        (
            ingress.trim_start_matches("tcp://").to_owned(),
            v["health"]
                .as_str()
                .unwrap()
                .trim_start_matches("tcp://")
                .to_owned(),
        )
    }
}

impl Drop for Agent {
    /// SIGTERM first, so parent-agent drains and terminates the enclave it started (a SIGKILL
    /// would leave that process running); SIGKILL after 20 s.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let deadline = Instant::now() + Duration::from_secs(20);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET path` on the health endpoint: (status, body).
fn get(addr: &str, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out
        .split_once("\r\n\r\n")
        .map(|x| x.1)
        .unwrap_or("")
        .to_owned();
    (status, body)
}

fn wait_status(addr: &str, path: &str, want: u16) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, body) = get(addr, path);
        if status == want {
            return body;
        }
        assert!(Instant::now() < deadline, "{path} stayed {status}: {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn metric(body: &str, name_and_labels: &str) -> f64 {
    body.lines()
        .find(|l| l.starts_with(name_and_labels))
        .and_then(|l| l.rsplit(' ').next())
        .map_or(0.0, |v| v.parse().unwrap())
}

/// A gateway's channel through the TCP ingress (mutual TLS).
async fn gateway_channel(s: &Setup, ingress: &str) -> tonic::transport::Channel {
    let gateway = s.client("sign-gateway");
    sigil_cosigner::connect(
        Transport::native(),
        format!("tcp://{ingress}").parse().unwrap(),
        Duration::from_secs(5),
        Some(&gateway),
    )
    .await
    .unwrap()
}

/// A 2-party session at `m` (the enclave is party 0), Keccak-256 for ECDSA.
fn request(account: &str, scheme: Scheme, payload: &[u8]) -> sigil_cosigner::Request {
    sigil_cosigner::Request {
        session_id: sigil_cosigner::random_session_id(),
        account_id: account.into(),
        path: "m".parse().unwrap(),
        scheme,
        ecdsa_hash: spb::EcdsaHash::Keccak256,
        payload: payload.to_vec(),
        parties: vec![0, 1],
    }
}

async fn sign(s: &Setup, ingress: &str, account: &str, scheme: Scheme, payload: &[u8]) -> Vec<u8> {
    let channel = gateway_channel(s, ingress).await;
    let request = request(account, scheme, payload);
    let ceremony = s.a.ceremony.as_ref().unwrap();
    let local = ceremony.key_store(1).unwrap().get(account).unwrap().clone();
    let out = sigil_cosigner::cosign(channel, vec![local], &request, WAIT)
        .await
        .unwrap();
    let key = ceremony
        .summary
        .accounts
        .iter()
        .find(|x| x.account_id == account)
        .map(|x| hex::decode(&x.public_key).unwrap())
        .unwrap();
    match scheme {
        Scheme::EcdsaSecp256k1 => {
            use k256::ecdsa::signature::hazmat::PrehashVerifier;
            let digest = <sha3::Keccak256 as sha3::Digest>::digest(payload);
            k256::ecdsa::VerifyingKey::from_sec1_bytes(&key)
                .unwrap()
                .verify_prehash(
                    &digest,
                    &k256::ecdsa::Signature::from_slice(&out.result.signature).unwrap(),
                )
                .unwrap();
        }
        Scheme::Ed25519 => {
            ed25519_dalek::VerifyingKey::from_bytes(&key.try_into().unwrap())
                .unwrap()
                .verify_strict(
                    payload,
                    &ed25519_dalek::Signature::from_slice(&out.result.signature).unwrap(),
                )
                .unwrap();
        }
    }
    out.result.signature
}

/// The `cosigner` CLI signs through the ingress, as a gateway operator would — ECDSA in each
/// engine at the root and at a child path, and Ed25519 — and `scripts/verify-signatures.py`
/// checks its JSON lines with libsecp256k1 (coincurve) and OpenSSL (cryptography) against the
/// ceremony's summary.
fn cosigner_cli_signs_and_python_verifies(s: &Setup, ingress: &str) {
    let dir = &s.dir;
    let ceremony = s.a.ceremony.as_ref().unwrap();
    let (identity, recipient) = age_keygen(dir, "cosigner-identity.txt");
    let identity_file = write(dir, "cosigner.key", &identity);
    let shares = dir.join("party-1.json.age");
    std::fs::write(
        &shares,
        age_encrypt(&recipient, &ceremony.party_json(1).unwrap()),
    )
    .unwrap();
    let summary = write(
        dir,
        "summary.json",
        &serde_json::to_string(&ceremony.summary).unwrap(),
    );
    let c = s.client("gateway-operator");
    let (ca, cert, key) = (
        write(dir, "op-ca.pem", &c.ca_pem),
        write(dir, "op.pem", &c.cert_pem),
        write(dir, "op-key.pem", &c.key_pem),
    );
    let mut lines = String::new();
    for (account, scheme, path, payload) in [
        (ETH, "ecdsa-secp256k1", "m", "f86c0985"),
        (ETH, "ecdsa-secp256k1", "m/0/7", "f86c0985"),
        (ETH_LEGACY, "ecdsa-secp256k1", "m", "f86c0985"),
        (ETH_LEGACY, "ecdsa-secp256k1", "m/0/7", "f86c0985"),
        (SOL, "ed25519", "m", "68656c6c6f"),
    ] {
        let out = Command::new(workspace_bin("cosigner"))
            .args(["sign", "--endpoint", &format!("tcp://{ingress}")])
            .arg("--tls-ca")
            .arg(&ca)
            .arg("--tls-cert")
            .arg(&cert)
            .arg("--tls-key")
            .arg(&key)
            .args(["--tls-server-name", SERVER_NAME, "--shares"])
            .arg(&shares)
            .arg("--identity")
            .arg(&identity_file)
            .args([
                "--account",
                account,
                "--scheme",
                scheme,
                "--path",
                path,
                "--payload-hex",
                payload,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cosigner: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        lines.push_str(&String::from_utf8(out.stdout).unwrap());
    }
    let jsonl = write(dir, "signatures.jsonl", &lines);
    let out = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../scripts/verify-signatures.py"
        ))
        .arg("--summary")
        .arg(&summary)
        .arg(&jsonl)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "verify-signatures.py: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("5 signatures verified")
            && stdout.contains("ecdsa-secp256k1/cggmp24: 2")
            && stdout.contains("ecdsa-secp256k1/dkls23: 2")
            && stdout.contains("ed25519: 1"),
        "{stdout}"
    );
}

fn kill(pid: u32, sig: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig).unwrap();
}

fn enclave_pid(v: &serde_json::Value) -> u32 {
    v["enclave_id"]
        .as_str()
        .unwrap()
        .trim_start_matches("sim-")
        .parse()
        .unwrap()
}

fn scan(s: &mut Setup, agent: &Agent) {
    let lines = agent.lines();
    s.a.logs.extend(lines.iter().cloned());
    if let Ok(f) = std::fs::read_to_string(s.dir.join("enclave.log")) {
        s.a.logs.push(f);
    }
    s.a.assert_no_secret_logged();
}

/// promtool, when installed (CI installs it and sets SIGIL_REQUIRE_PROMTOOL=1).
fn promtool_check(metrics: &str) {
    let Ok(mut child) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        assert!(
            std::env::var_os("SIGIL_REQUIRE_PROMTOOL").is_none(),
            "promtool is required (apt install prometheus)"
        );
        eprintln!("promtool not installed: the /metrics text was not checked by it");
        return;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supervises_gates_restarts_and_drains() {
    let mut s = Setup::new().await;
    let config = s.config(
        &s.a.enclave_pcr0.clone(),
        "initial_backoff = \"200ms\"\nmax_backoff = \"1s\"",
    );
    let agent = Agent::start(&config);
    let (ingress, health) = agent.listening();

    // Before the gate passes, ingress refuses (closes at once) and /readyz is 503.
    let started = agent.event("enclave_started");
    let body = wait_status(&health, "/readyz", 200);
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["phase"], "serving");
    assert_eq!(status["simulated"], true);
    let v = agent.event("attestation_verified");
    assert_eq!(v["pcr0"], s.a.enclave_pcr0.as_str());
    assert_eq!(v["tls_bound"], true);
    assert_eq!(v["dev_root"], true);
    // The document and the boot report are archived, content-addressed.
    let doc = std::fs::read(
        s.dir
            .join("archive/attestations")
            .join(format!("{}.cbor", v["sha256"].as_str().unwrap())),
    )
    .unwrap();
    assert_eq!(
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&doc)),
        v["sha256"].as_str().unwrap()
    );
    let report = agent.event("boot_report");
    let archived: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report["archived"].as_str().unwrap()).unwrap())
            .unwrap();
    assert_eq!(archived["ok"], true);
    assert_eq!(archived["accounts"]["ecdsa-secp256k1"], 2);
    assert_eq!(archived["accounts"]["ed25519"], 1);
    // The enclave's log stream is re-emitted with its source and kept in the file.
    let deadline = Instant::now() + WAIT;
    while !agent
        .lines()
        .iter()
        .any(|l| l.contains("\"source\":\"enclave\""))
    {
        assert!(Instant::now() < deadline, "no enclave line re-emitted");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        std::fs::read_to_string(s.dir.join("enclave.log"))
            .unwrap()
            .contains("\"source\":\"enclave\"")
    );

    // systemd heard READY=1 once ingress opened, and the watchdog is fed.
    let deadline = Instant::now() + WAIT;
    while !(agent.notified("READY=1") && agent.notified("WATCHDOG=1")) {
        assert!(Instant::now() < deadline, "no READY=1 and WATCHDOG=1");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Signatures through the TCP ingress, checked by independent verifiers: ECDSA in both
    // engines (DKLs23, then cggmp24), Ed25519.
    sign(&s, &ingress, ETH, Scheme::EcdsaSecp256k1, b"a transaction").await;
    sign(
        &s,
        &ingress,
        ETH_LEGACY,
        Scheme::EcdsaSecp256k1,
        b"a transaction",
    )
    .await;
    sign(&s, &ingress, SOL, Scheme::Ed25519, b"a Solana message").await;
    cosigner_cli_signs_and_python_verifies(&s, &ingress);

    // Egress to a host off the allowlist, asked for from the enclave's side: refused and logged.
    let mut e = Transport::simulated(s.dir.join("vsock"), 16)
        .connect(&"vsock://3:8081".parse().unwrap(), Duration::from_secs(5))
        .await
        .unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    e.write_all(
        b"CONNECT exfiltrate.example.com:443 HTTP/1.1\r\nHost: exfiltrate.example.com:443\r\n\r\n",
    )
    .await
    .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), e.read_to_end(&mut answer)).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 403"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let mut from = 0;
    let denial = loop {
        let (i, v) = agent.event_after("egress_decision", from);
        if v["decision"] == "deny" {
            break v;
        }
        from = i + 1;
    };
    assert_eq!(denial["reason"], "no_matching_entry", "{denial}");
    assert_eq!(denial["destination"], "exfiltrate.example.com:443");

    let (code, metrics) = get(&health, "/metrics");
    assert_eq!(code, 200);
    assert_eq!(metric(&metrics, "sigil_ready{simulated=\"true\"}"), 1.0);
    assert!(
        metric(
            &metrics,
            "sigil_attestation_checks_total{simulated=\"true\",outcome=\"verified\"}"
        ) >= 1.0
    );
    assert!(
        metrics
            .contains("sigil_enclave_boot_step_seconds{simulated=\"true\",step=\"kms_decrypt\"}")
    );
    assert!(
        metric(
            &metrics,
            "sigil_bridge_bytes_total{simulated=\"true\",route=\"tcp://127.0.0.1:0\",direction=\"upstream\"}"
        ) > 0.0
    );
    promtool_check(&metrics);

    // Kill the enclave: not ready, restarted, ready again, and it signs.
    let from = agent.lines().len();
    kill(enclave_pid(&started), nix::sys::signal::Signal::SIGKILL);
    // Not ready while it restarts (its boot takes far longer than a poll).
    wait_status(&health, "/readyz", 503);
    let (i, exited) = agent.event_after("enclave_restart", from);
    assert_eq!(exited["reason"], "exited");
    let deadline = Instant::now() + WAIT;
    // readyz went false: the restart event precedes the next ingress_open.
    let (_, reopened) = agent.event_after("ingress_open", i);
    assert_eq!(reopened["healthy"], true);
    assert!(Instant::now() < deadline);
    wait_status(&health, "/readyz", 200);
    let (_, restarted) = agent.event_after("enclave_started", from);
    assert_ne!(enclave_pid(&restarted), enclave_pid(&started));
    sign(
        &s,
        &ingress,
        ETH,
        Scheme::EcdsaSecp256k1,
        b"after the restart",
    )
    .await;
    let (_, metrics) = get(&health, "/metrics");
    assert_eq!(
        metric(
            &metrics,
            "sigil_enclave_restarts_total{simulated=\"true\",reason=\"exited\"}"
        ),
        1.0
    );

    // SIGTERM: drain, terminate the enclave, exit 0.
    let mut agent = agent;
    kill(agent.child.id(), nix::sys::signal::Signal::SIGTERM);
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(st) = agent.child.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "parent-agent did not exit");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    assert!(agent.notified("STOPPING=1"));
    agent.event("drain_finished");
    agent.event("stopped");
    let pid = nix::unistd::Pid::from_raw(enclave_pid(&restarted) as i32);
    assert!(
        nix::sys::signal::kill(pid, None).is_err(),
        "the enclave outlived parent-agent"
    );
    scan(&mut s, &agent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pcr0_off_the_list_never_opens_ingress_and_ends_in_the_crash_loop_stop() {
    let mut s = Setup::new().await;
    let config = s.config(
        &"ab".repeat(48),
        "initial_backoff = \"100ms\"\nmax_backoff = \"200ms\"\ncrash_loop_limit = 1",
    );
    let agent = Agent::start(&config);
    let (ingress, health) = agent.listening();
    let refused = agent.event("attestation_refused");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("not on the allowed list"),
        "{refused}"
    );
    let crash = agent.event("crash_loop");
    assert!(
        crash["reason"]
            .as_str()
            .unwrap()
            .contains("attestation_failed"),
        "{crash}"
    );
    let body = wait_status(&health, "/readyz", 503);
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["phase"], "crash_loop");
    assert!(
        status["detail"]
            .as_str()
            .unwrap()
            .contains("restarts stopped")
    );
    assert!(!agent.lines().iter().any(|l| l.contains("\"ingress_open\"")));
    assert!(
        !agent.notified("READY=1"),
        "READY=1 without an attested enclave"
    );
    // Ingress closes connections at once.
    let mut c = std::net::TcpStream::connect(&ingress).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 1];
    assert_eq!(c.read(&mut buf).unwrap_or(0), 0);
    let (_, metrics) = get(&health, "/metrics");
    assert!(
        metric(
            &metrics,
            "sigil_attestation_checks_total{simulated=\"true\",outcome=\"refused\"}"
        ) >= 2.0
    );
    assert!(
        metric(
            &metrics,
            "sigil_bridge_connections_total{simulated=\"true\",route=\"tcp://127.0.0.1:0\",outcome=\"rejected_not_ready\"}"
        ) >= 1.0
    );
    assert_eq!(
        metric(
            &metrics,
            "sigil_enclave_phase{simulated=\"true\",phase=\"crash_loop\"}"
        ),
        1.0
    );
    promtool_check(&metrics);
    scan(&mut s, &agent);
}

/// The boot faults, each through parent-agent: the enclave reports the failed step and exits,
/// parent-agent logs the reason, never opens ingress, and (limit 0) stops restarting at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boot_faults_are_reported_and_never_open_ingress() {
    type Fault = fn(&mut Setup) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + '_>>;
    let cases: [(&str, &str, &str, Fault); 4] = [
        (
            "a policy for another PCR0",
            "kms_decrypt",
            "AccessDenied",
            |s| Box::pin(async move { s.a.set_policy(&"ab".repeat(48)).await }),
        ),
        ("a corrupted shares file", "decrypt_shares", "", |s| {
            Box::pin(async move {
                let mut ct = s.a.shares_ciphertext();
                let n = ct.len();
                ct.truncate(n - 40);
                s.a.write_shares_ciphertext(&ct);
            })
        }),
        ("a wrong age identity", "decrypt_shares", "", |s| {
            Box::pin(async move {
                let (other, _) = age_keygen(s.a.dir.path(), "other.txt");
                s.a.wrap_identity(&other).await;
            })
        }),
        ("kms-sim down", "kms_decrypt", "", |s| {
            Box::pin(async move { s.a.kms.stop() })
        }),
    ];
    for (what, step, needle, fault) in cases {
        let mut s = Setup::new().await;
        fault(&mut s).await;
        let config = s.config(
            &s.a.enclave_pcr0.clone(),
            "initial_backoff = \"100ms\"\ncrash_loop_limit = 0",
        );
        let agent = Agent::start(&config);
        let (ingress, health) = agent.listening();
        let failed = agent.event("enclave_boot_failed");
        assert_eq!(failed["step"], step, "{what}: {failed}");
        assert!(
            failed["reason"].as_str().unwrap().contains(needle),
            "{what}: {failed}"
        );
        let crash = agent.event("crash_loop");
        assert!(
            crash["reason"].as_str().unwrap().contains("boot_failed"),
            "{what}: {crash}"
        );
        assert_eq!(get(&health, "/readyz").0, 503, "{what}");
        assert!(
            !agent.lines().iter().any(|l| l.contains("\"ingress_open\"")),
            "{what}"
        );
        let mut c = std::net::TcpStream::connect(&ingress).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 1];
        assert_eq!(c.read(&mut buf).unwrap_or(0), 0, "{what}: ingress served");
        scan(&mut s, &agent);
    }
}

/// A session started through the ingress and left after the service's first message:
/// (the request sender, the response stream).
async fn half_session(
    s: &Setup,
    ingress: &str,
) -> (
    tokio::sync::mpsc::Sender<spb::SignRequest>,
    tonic::Streaming<spb::SignResponse>,
) {
    let channel = gateway_channel(s, ingress).await;
    let request = request(ETH, Scheme::EcdsaSecp256k1, b"left half-way");
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    tx.send(spb::SignRequest {
        msg: Some(spb::sign_request::Msg::Start(request.start())),
    })
    .await
    .unwrap();
    let mut stream = spb::sign_service_client::SignServiceClient::new(channel)
        .sign(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let first = tokio::time::timeout(WAIT, stream.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(matches!(
        first.msg,
        Some(spb::sign_response::Msg::Protocol(_))
    ));
    (tx, stream)
}

/// Mid-session faults through the ingress: callers that vanish half-way free their session
/// slots (more of them than the enclave's `max_sessions`, then a full session signs); an
/// enclave killed mid-session ends the caller's stream with an error instead of a hang, is
/// restarted, and the next session signs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mid_session_faults_end_cleanly_and_the_next_session_signs() {
    let mut s = Setup::new().await;
    let config = s.config(&s.a.enclave_pcr0.clone(), "initial_backoff = \"200ms\"");
    let agent = Agent::start(&config);
    let (ingress, health) = agent.listening();
    wait_status(&health, "/readyz", 200);
    let started = agent.event("enclave_started");

    // max_sessions is 4: five callers leave half-way, one after the other.
    for _ in 0..5 {
        let (tx, stream) = half_session(&s, &ingress).await;
        drop(tx);
        drop(stream);
    }
    sign(
        &s,
        &ingress,
        ETH,
        Scheme::EcdsaSecp256k1,
        b"after five abandoned sessions",
    )
    .await;

    // The enclave dies while a session waits for the caller's next message.
    let (_tx, mut stream) = half_session(&s, &ingress).await;
    let from = agent.lines().len();
    kill(enclave_pid(&started), nix::sys::signal::Signal::SIGKILL);
    // Messages the enclave sent before it died may still be in flight; after them the stream
    // must end (an error or its end), never hang and never deliver a result.
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match stream.message().await {
                Ok(Some(spb::SignResponse {
                    msg: Some(spb::sign_response::Msg::Result(_)),
                })) => return "a result",
                Ok(Some(_)) => continue,
                Ok(None) => return "ended",
                Err(_) => return "error",
            }
        }
    })
    .await
    .expect("the caller's stream hung after the enclave died");
    assert_ne!(
        ended, "a result",
        "a dead enclave's session produced a result"
    );
    let (_, restart) = agent.event_after("enclave_restart", from);
    assert_eq!(restart["reason"], "exited");
    agent.event_after("ingress_open", from);
    wait_status(&health, "/readyz", 200);
    sign(
        &s,
        &ingress,
        ETH,
        Scheme::EcdsaSecp256k1,
        b"after the crash",
    )
    .await;
    sign(&s, &ingress, SOL, Scheme::Ed25519, b"after the crash").await;
    scan(&mut s, &agent);
}

/// parent-agent killed outright while its enclave serves: the enclave is left running; the
/// next parent-agent terminates it, boots a fresh one through the gate, and signs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_parent_agent_replaces_the_enclave_it_left_running() {
    let mut s = Setup::new().await;
    let config = s.config(&s.a.enclave_pcr0.clone(), "initial_backoff = \"200ms\"");
    let mut first = Agent::start(&config);
    let (_, health) = first.listening();
    wait_status(&health, "/readyz", 200);
    let old = enclave_pid(&first.event("enclave_started"));
    kill(first.child.id(), nix::sys::signal::Signal::SIGKILL);
    let _ = first.child.wait();
    let old_pid = nix::unistd::Pid::from_raw(old as i32);
    assert!(
        nix::sys::signal::kill(old_pid, None).is_ok(),
        "the enclave died with its parent"
    );
    s.a.logs.extend(first.lines());

    let second = Agent::start(&config);
    let (ingress, health) = second.listening();
    second.event("start_cleanup_terminated");
    wait_status(&health, "/readyz", 200);
    let new = enclave_pid(&second.event("enclave_started"));
    assert_ne!(new, old);
    let deadline = Instant::now() + WAIT;
    // Gone (or a zombie of the killed parent, reaped by init).
    while nix::sys::signal::kill(old_pid, None).is_ok()
        && !std::fs::read_to_string(format!("/proc/{old}/stat")).is_ok_and(|st| st.contains(") Z"))
    {
        assert!(Instant::now() < deadline, "the old enclave still runs");
        std::thread::sleep(Duration::from_millis(50));
    }
    sign(
        &s,
        &ingress,
        ETH,
        Scheme::EcdsaSecp256k1,
        b"after the parent-agent restart",
    )
    .await;
    scan(&mut s, &second);
}
