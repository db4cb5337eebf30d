//! The parent side of the simulation, for tests and benchmarks (never shipped): what a
//! parent does around a real `enclave-app` process. It runs kms-sim (the real binary) behind
//! parent-agent's own relay (`parent-agent bridge`, the real binary) on the simulation's
//! vsock port 8000, the provisioning service (the library parent-agent uses) on vsock 7000,
//! a log receiver on vsock 7001, an age identity from `age-keygen`, key shares sealed by the
//! `age` CLI, and a KMS key whose policy binds Decrypt to the PCR0 of the enclave binary; it
//! boots the enclave, collects its logs and scans everything captured for secrets.
//!
//! The demo ceremony and the test PKI are `sigil-fixtures`'; the age CLI helpers, the test
//! prime pool and [`workspace_bin`] are `sigil-testkit`'s. kms-sim and parent-agent are
//! found next to the running program: `cargo test --workspace` builds them; for one
//! package's tests, `cargo build -p kms-sim -p parent-agent` first.
//!
//! Setup failures panic with a message: this crate is test support, like `sigil-testkit`.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc, missing_docs)]

use std::io::{BufRead, BufReader};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_kms::primitives::Blob;
use sigil_fixtures::{Ceremony, ceremony, share_secrets};
use sigil_nsm::{DevRoot, ImageMeasurement};
use sigil_provisioning::{
    BundleFiles, IDENTITY_FILE, KEY_SHARES_FILE, ProvisioningService, ReceivedReport,
    StaticCredentials, TLS_BUNDLE_FILE, pb,
};
use sigil_testkit::{age_encrypt, age_keygen, age_recipient, workspace_bin};
use sigil_transport::{Addr, Transport};
use tokio::sync::mpsc;

pub use sigil_std_ext::time::unix_ms;

pub const AKID: &str = "AKIDENCLAVETEST";
pub const SECRET: &str = "enclave/test/secret+KEY";
pub const REGION: &str = "us-east-1";
const ACCOUNT: &str = "111122223333";

/// The real kms-sim, killed on drop.
pub struct KmsSim {
    child: Child,
    pub port: u16,
    pub log: Arc<std::sync::Mutex<Vec<String>>>,
}

impl KmsSim {
    pub fn start(state: &Path, root_pem: &Path) -> KmsSim {
        let mut child = Command::new(workspace_bin("kms-sim"))
            .args(["--listen", "127.0.0.1:0", "--state-dir"])
            .arg(state)
            .args(["--access-key-id", AKID, "--secret-access-key", SECRET])
            .args(["--region", REGION, "--account-id", ACCOUNT])
            .arg("--attestation-root")
            .arg(root_pem)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn kms-sim");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        let v: serde_json::Value = serde_json::from_str(&first).unwrap();
        let port = v["address"]
            .as_str()
            .unwrap()
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let log = Arc::new(std::sync::Mutex::new(vec![first]));
        let l = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                l.lock().unwrap().push(line);
            }
        });
        KmsSim { child, port, log }
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for KmsSim {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The parent's KMS route: parent-agent's own relay (`parent-agent bridge`, the real
/// binary) from simulated vsock 8000 (CID 3) to kms-sim's TCP port. Killed on drop.
pub struct KmsBridge {
    child: Child,
    /// Everything the bridge wrote on stdout (its JSON log lines), for the secret scan.
    pub log: Arc<std::sync::Mutex<Vec<String>>>,
}

impl KmsBridge {
    /// How long the bridge may take to listen.
    const READY_TIMEOUT: Duration = Duration::from_secs(30);

    /// Starts the bridge in `sim_dir` towards `127.0.0.1:kms_port` and waits until its
    /// vsock socket listens.
    pub fn start(sim_dir: &Path, kms_port: u16) -> KmsBridge {
        let mut child = Command::new(workspace_bin("parent-agent"))
            .args(["bridge", "--listen", "vsock://any:8000", "--connect"])
            .arg(format!("tcp://127.0.0.1:{kms_port}"))
            .arg("--simulation-dir")
            .arg(sim_dir)
            .args(["--local-cid", "3"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn parent-agent bridge");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let l = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                l.lock().unwrap().push(line);
            }
        });
        let mut bridge = KmsBridge { child, log };
        let socket = sim_dir.join("vsock-3-8000.sock");
        let deadline = Instant::now() + Self::READY_TIMEOUT;
        loop {
            if std::fs::metadata(&socket).is_ok_and(|m| m.file_type().is_socket())
                && std::os::unix::net::UnixStream::connect(&socket).is_ok()
            {
                return bridge;
            }
            if let Some(status) = bridge.child.try_wait().unwrap() {
                panic!(
                    "parent-agent bridge exited ({status}) before listening: {}",
                    bridge.log.lock().unwrap().join("\n")
                );
            }
            if Instant::now() > deadline {
                bridge.stop();
                panic!(
                    "parent-agent bridge did not listen on {} within {:?}",
                    socket.display(),
                    Self::READY_TIMEOUT
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for KmsBridge {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The key policy: admin may manage and encrypt; Decrypt only for an attested image with
/// this PCR0.
pub fn policy(pcr0_hex: &str) -> String {
    let root = format!("arn:aws:iam::{ACCOUNT}:root");
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": root},
             "Action": ["kms:Encrypt", "kms:DescribeKey", "kms:PutKeyPolicy", "kms:GetKeyPolicy"],
             "Resource": "*"},
            {"Sid": "EnclaveDecrypt", "Effect": "Allow", "Principal": {"AWS": root},
             "Action": "kms:Decrypt", "Resource": "*",
             "Condition": {"StringEqualsIgnoreCase":
                 {"kms:RecipientAttestation:ImageSha384": pcr0_hex}}}
        ]
    })
    .to_string()
}

/// What a boot produced.
pub struct Outcome {
    /// The boot report the parent received (if any).
    pub report: Option<pb::BootReport>,
    /// The process's exit code, if it exited.
    pub exit: Option<i32>,
    /// Everything the process wrote to stderr.
    pub stderr: String,
}

/// A running enclave, killed on drop.
pub struct Running {
    pub child: Child,
    pub log: PathBuf,
    pub report: pb::BootReport,
    /// When the process was spawned.
    pub spawned_at: Instant,
    /// When its boot report arrived.
    pub report_at: Instant,
    _provisioning: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self._provisioning.abort();
    }
}

/// The simulated parent around one enclave binary.
pub struct Appliance {
    /// The enclave-app binary under test (its PCR0 is what the key policy allows).
    pub enclave_bin: PathBuf,
    pub dir: tempfile::TempDir,
    pub sim_dir: PathBuf,
    pub root_dir: PathBuf,
    pub bundle_dir: PathBuf,
    pub kms: KmsSim,
    pub admin: sigil_kms_client::KmsClient,
    pub key_id: String,
    /// The demo ceremony, when [`Appliance::with_demo_shares`] made one.
    pub ceremony: Option<Ceremony>,
    pub identity: String,
    pub recipient: String,
    pub shares_plaintext: Vec<u8>,
    pub config: pb::RuntimeConfig,
    pub credentials: pb::AwsCredentials,
    pub enclave_pcr0: String,
    /// Everything logged, for the secret scan.
    pub logs: Vec<String>,
    /// Lines received on the parent's log port (vsock 7001).
    pub channel: Arc<std::sync::Mutex<Vec<String>>>,
    /// The KMS route (vsock 8000 → kms-sim).
    pub route: KmsBridge,
    _log_receiver: tokio::task::JoinHandle<()>,
}

impl Appliance {
    /// Everything in place for a good boot of `enclave_bin` with the demo ceremony's shares
    /// (one ECDSA and one Ed25519 account, 2-of-3, the enclave is party 0).
    pub async fn with_demo_shares(enclave_bin: &Path) -> Appliance {
        let mut a = Appliance::new(enclave_bin).await;
        let ceremony = ceremony();
        a.shares_plaintext = ceremony.party_json(0).unwrap().to_vec();
        a.seal_shares(&a.shares_plaintext.clone());
        a.ceremony = Some(ceremony);
        a
    }

    /// The parent side ready (KMS key with the policy, wrapped identity), with no shares yet.
    pub async fn new(enclave_bin: &Path) -> Appliance {
        Self::new_with_identity(enclave_bin, None).await
    }

    /// As [`Appliance::new`], wrapping the given age identity file text instead of a fresh
    /// one from `age-keygen` (a benchmark reuses share files sealed to it earlier).
    pub async fn new_with_identity(enclave_bin: &Path, identity_text: Option<&str>) -> Appliance {
        let dir = tempfile::tempdir().unwrap();
        let root_dir = dir.path().join("dev-root");
        DevRoot::generate().unwrap().save(&root_dir).unwrap();
        let kms = KmsSim::start(&dir.path().join("kms"), &root_dir.join("dev-root.pem"));
        let sim_dir = dir.path().join("vsock");
        std::fs::create_dir_all(&sim_dir).unwrap();
        let route = KmsBridge::start(&sim_dir, kms.port);
        let channel = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log_listener = Transport::simulated(&sim_dir, 3)
            .bind(&"vsock://any:7001".parse().unwrap())
            .await
            .unwrap();
        let lines = channel.clone();
        let log_receiver = tokio::spawn(sigil_log_channel::receive(
            log_listener,
            64 * 1024,
            move |line| lines.lock().unwrap().push(line.value.to_string()),
        ));
        let admin = sigil_kms_client::KmsClient::new(
            &sigil_kms_client::KmsConfig {
                region: REGION.into(),
                dial: Addr::tcp(([127, 0, 0, 1], kms.port).into()),
                endpoint: sigil_kms_client::Endpoint::SimulationPlaintext {
                    url: "http://kms.sim".into(),
                },
                connect_timeout: Duration::from_secs(5),
                attempt_timeout: Duration::from_secs(10),
                operation_timeout: Duration::from_secs(30),
            },
            Transport::native(),
            sigil_kms_client::AwsCredentials {
                access_key_id: AKID.into(),
                secret_access_key: zeroize::Zeroizing::new(SECRET.into()),
                session_token: None,
                expires_at: None,
            },
        )
        .unwrap();
        let key_id = admin
            .sdk()
            .create_key()
            .send()
            .await
            .unwrap()
            .key_metadata()
            .unwrap()
            .key_id()
            .to_owned();
        let enclave_pcr0 = ImageMeasurement::of_file(enclave_bin).unwrap().pcr0_hex();
        let bundle_dir = dir.path().join("bundle");
        std::fs::create_dir_all(&bundle_dir).unwrap();
        let (identity, recipient) = match identity_text {
            Some(text) => (text.to_owned(), age_recipient(text)),
            None => age_keygen(dir.path(), "identity.txt"),
        };
        let a = Appliance {
            enclave_bin: enclave_bin.to_owned(),
            sim_dir,
            root_dir,
            bundle_dir,
            kms,
            admin,
            key_id: key_id.clone(),
            ceremony: None,
            identity,
            recipient,
            shares_plaintext: Vec::new(),
            config: pb::RuntimeConfig {
                region: REGION.into(),
                kms_key_id: key_id,
                encryption_context: [("purpose".to_owned(), "sigil-age-identity".to_owned())]
                    .into(),
                kms_route: "vsock://3:8000".into(),
                kms_simulation_url: "http://kms.sim".into(),
                max_sessions: 2,
                kms_retry_deadline_ms: 3000,
                ..Default::default()
            },
            credentials: pb::AwsCredentials {
                access_key_id: AKID.into(),
                secret_access_key: SECRET.into(),
                session_token: String::new(),
                expiration_unix_ms: unix_ms(SystemTime::now() + Duration::from_secs(3600)),
            },
            enclave_pcr0,
            logs: Vec::new(),
            channel,
            dir,
            route,
            _log_receiver: log_receiver,
        };
        a.set_policy(&a.enclave_pcr0.clone()).await;
        let identity = a.identity.clone();
        a.wrap_identity(&identity).await;
        a
    }

    pub async fn set_policy(&self, pcr0_hex: &str) {
        self.admin
            .sdk()
            .put_key_policy()
            .key_id(&self.key_id)
            .policy(policy(pcr0_hex))
            .send()
            .await
            .unwrap();
    }

    /// KMS-encrypts `identity_text` as the bundle's identity ciphertext.
    pub async fn wrap_identity(&self, identity_text: &str) {
        let blob = self
            .admin
            .sdk()
            .encrypt()
            .key_id(&self.key_id)
            .plaintext(Blob::new(identity_text.as_bytes()))
            .set_encryption_context(Some(
                self.config.encryption_context.clone().into_iter().collect(),
            ))
            .send()
            .await
            .unwrap()
            .ciphertext_blob()
            .unwrap()
            .as_ref()
            .to_vec();
        std::fs::write(self.bundle_dir.join(IDENTITY_FILE), blob).unwrap();
    }

    /// age-encrypts `plaintext` (with the CLI) as the bundle's key-share file.
    pub fn seal_shares(&self, plaintext: &[u8]) {
        self.write_shares_ciphertext(&age_encrypt(&self.recipient, plaintext));
    }

    pub fn write_shares_ciphertext(&self, ciphertext: &[u8]) {
        std::fs::write(self.bundle_dir.join(KEY_SHARES_FILE), ciphertext).unwrap();
    }

    pub fn shares_ciphertext(&self) -> Vec<u8> {
        std::fs::read(self.bundle_dir.join(KEY_SHARES_FILE)).unwrap()
    }

    /// age-encrypts a TLS bundle's JSON as the bundle's TLS file.
    pub fn seal_tls(&self, json: &[u8]) {
        std::fs::write(
            self.bundle_dir.join(TLS_BUNDLE_FILE),
            age_encrypt(&self.recipient, json),
        )
        .unwrap();
    }

    /// Starts the parent's provisioning service on the simulated vsock port 7000.
    pub async fn provision(&self) -> (tokio::task::JoinHandle<()>, mpsc::Receiver<ReceivedReport>) {
        let (tx, rx) = mpsc::channel(4);
        let service = ProvisioningService::new(
            BundleFiles {
                dir: self.bundle_dir.clone(),
                require_tls: false,
            },
            self.config.clone(),
            Arc::new(StaticCredentials(self.credentials.clone())),
            tx,
        );
        let _ = std::fs::remove_file(self.sim_dir.join("vsock-3-7000.sock"));
        let listener = Transport::simulated(&self.sim_dir, 3)
            .bind(&"vsock://any:7000".parse().unwrap())
            .await
            .unwrap();
        let task = tokio::spawn(async move {
            if let Err(e) =
                sigil_provisioning::serve(listener, service, std::future::pending()).await
            {
                eprintln!("provisioning server stopped: {e}");
            }
        });
        (task, rx)
    }

    /// Spawns enclave-app in simulation; stderr goes to a file.
    pub fn spawn(&self, extra: &[&str]) -> (Child, PathBuf) {
        let log = self
            .dir
            .path()
            .join(format!("enclave-{}.log", self.logs.len()));
        let child = Command::new(&self.enclave_bin)
            .arg("--simulate")
            .arg("--sim-dir")
            .arg(&self.sim_dir)
            .arg("--sim-dev-root")
            .arg(&self.root_dir)
            .args(["--bundle-deadline", "10s", "--log-stderr"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        (child, log)
    }

    /// Boots an enclave that must succeed: waits for its report and its listener.
    pub async fn boot(&mut self, extra: &[&str]) -> Running {
        let (task, mut reports) = self.provision().await;
        let spawned_at = Instant::now();
        let (mut child, log) = self.spawn(extra);
        let report = tokio::time::timeout(Duration::from_secs(90), reports.recv())
            .await
            .unwrap_or_else(|_| {
                let _ = child.kill();
                panic!(
                    "no boot report: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            })
            .unwrap()
            .report;
        let report_at = Instant::now();
        self.logs.push(format!("{report:?}"));
        assert!(
            report.ok,
            "boot failed at {}: {}",
            report.failed_step, report.reason
        );
        Running {
            child,
            log,
            report,
            spawned_at,
            report_at,
            _provisioning: task,
        }
    }

    /// Boots an enclave that must fail: waits for its exit and its report.
    pub async fn boot_to_failure(&mut self, extra: &[&str]) -> Outcome {
        let (task, mut reports) = self.provision().await;
        let (mut child, log) = self.spawn(extra);
        let deadline = std::time::Instant::now() + Duration::from_secs(90);
        let exit = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s.code();
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("enclave-app did not exit");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let report = reports.try_recv().ok().map(|r| r.report);
        task.abort();
        let stderr = std::fs::read_to_string(&log).unwrap();
        self.logs.push(stderr.clone());
        if let Some(r) = &report {
            self.logs.push(format!("{r:?}"));
        }
        Outcome {
            report,
            exit,
            stderr,
        }
    }

    /// Collects a running enclave's log after it stopped.
    pub fn collect(&mut self, running: Running) {
        let log = running.log.clone();
        drop(running);
        self.logs.push(std::fs::read_to_string(log).unwrap());
    }

    /// The strings that must appear in no log line, report or error.
    pub fn secrets(&self) -> Vec<String> {
        let mut out = if self.shares_plaintext.is_empty() {
            Vec::new()
        } else {
            share_secrets(&self.shares_plaintext)
        };
        let key = self
            .identity
            .lines()
            .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
            .unwrap();
        let data = &key["AGE-SECRET-KEY-1".len()..];
        out.push(key.to_owned());
        // Any 20-character run of the identity's data part, in either case.
        for i in (0..data.len().saturating_sub(20)).step_by(10) {
            out.push(data[i..i + 20].to_owned());
            out.push(data[i..i + 20].to_lowercase());
        }
        out.push(SECRET.to_owned());
        out
    }

    /// Fails if any captured log line, report, kms-sim or KMS bridge line holds a secret.
    pub fn assert_no_secret_logged(&self) {
        let mut hay: Vec<String> = self.logs.clone();
        hay.extend(self.channel.lock().unwrap().iter().cloned());
        hay.extend(self.kms.log.lock().unwrap().iter().cloned());
        hay.extend(self.route.log.lock().unwrap().iter().cloned());
        assert!(!hay.is_empty());
        for s in self.secrets() {
            for h in &hay {
                assert!(
                    !h.contains(&s),
                    "a secret ({}…) appears in a log line or report",
                    &s[..6]
                );
            }
        }
    }
}
