//! The signing benchmark behind `scripts/bench-sign.sh`: full 2-of-2 signing sessions through
//! the SignService against the bare MPC libraries, all parties in one process.
//!
//! Three ways to produce the same signature ([`Mode`]):
//!
//! - **bare**: the libraries alone. ECDSA drives two cggmp24 `sign_sync` state machines (one
//!   thread per party, messages handed over as Rust values through in-memory channels);
//!   DKLs23 drives two `dkls23_core::SignSession`s the same way (each party derives its child
//!   `Party` with the library's BIP-32 code first); Ed25519 calls FROST's `round1::commit`,
//!   `round2::sign` and `aggregate` for both parties on one thread. No encoding, no gRPC, no
//!   sigil code on the signing path.
//! - **in-process**: a co-signer ([`sigil_cosigner::cosign`]) plays party 1 against a
//!   [`sigil_signer::SignerService`] (party 0) mounted on a tonic server whose connection is
//!   an in-memory duplex pipe: the whole appliance path except the socket.
//! - **unix**: the same, with the service served by [`sigil_signer::serve`] on a Unix socket.
//!
//! A fourth mode, **engines** (not in [`Mode::ALL`]), runs the sigil-mpc engines of both
//! parties without the service, to split the appliance's overhead between the engines and
//! gRPC.
//!
//! Every signature is checked with an independent verifier (k256, ed25519-dalek), so a broken
//! path cannot look fast. [`Bench::run_phase`] measures one batch of signatures in one mode:
//! latency of each, wall time, process CPU (`getrusage`, user + system; every party runs in
//! this process in every mode), protocol payload bytes and, for the gRPC paths, the bytes that
//! crossed the connection.

mod appliance;
mod bare;
mod engines;
mod fixture;
mod stats;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

pub use appliance::{AppliancePath, Counting, WireCounters};
pub use fixture::{DKLS23_ACCOUNT, ECDSA_ACCOUNT, ECDSA_PATH, ED25519_ACCOUNT, Fixture};
pub use stats::{cpu_time, percentile};

/// How a signature is produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// The libraries alone, both parties in this process.
    Bare,
    /// SignService over tonic on an in-memory duplex pipe, co-signer in this process.
    InProcess,
    /// SignService on a Unix socket, co-signer in this process.
    Unix,
    /// The sigil-mpc engines of both parties, no service (a breakdown, not in [`Mode::ALL`]).
    Engines,
}

impl Mode {
    /// The benchmark's modes, in its base order.
    pub const ALL: [Mode; 3] = [Mode::Bare, Mode::InProcess, Mode::Unix];

    /// Name in the JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Bare => "bare",
            Mode::InProcess => "in-process",
            Mode::Unix => "unix",
            Mode::Engines => "engines",
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [Mode::Bare, Mode::InProcess, Mode::Unix, Mode::Engines]
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| format!("unknown mode {s:?} (bare, in-process, unix, engines)"))
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// ECDSA secp256k1 with cggmp24 (presign + online in one session), Keccak-256 payloads,
    /// derivation path [`ECDSA_PATH`].
    Ecdsa,
    /// ECDSA secp256k1 with DKLs23 (three rounds, OT-based), Keccak-256 payloads, derivation
    /// path [`ECDSA_PATH`].
    Dkls23,
    /// Ed25519 with FROST.
    Ed25519,
}

impl Scheme {
    /// Every scheme, in the benchmark's order.
    pub const ALL: [Scheme; 3] = [Scheme::Ecdsa, Scheme::Dkls23, Scheme::Ed25519];

    /// Name in the JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Ecdsa => "ecdsa",
            Scheme::Dkls23 => "dkls23",
            Scheme::Ed25519 => "ed25519",
        }
    }
}

impl std::str::FromStr for Scheme {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Scheme::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| format!("unknown scheme {s:?} (ecdsa, dkls23, ed25519)"))
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Figures of one batch of signatures in one mode.
#[derive(Clone, Debug)]
pub struct Phase {
    /// Sessions run at once.
    pub concurrency: usize,
    /// Signatures produced (and verified).
    pub signatures: usize,
    /// Latency of each signature, start of the session to the signature in hand.
    pub latencies: Vec<Duration>,
    /// Wall time of the batch, verification included.
    pub wall: Duration,
    /// Process CPU time (user + system) over the batch.
    pub cpu: Duration,
    /// Protocol payload bytes, both directions, over the batch. For bare mode this is the
    /// size of the same messages in the encoding the engines use, measured on an untimed
    /// signature (see [`Bench::bare_payload_bytes`]) and multiplied out.
    pub payload_bytes: u64,
    /// Bytes through the client's connection, both directions (gRPC paths only).
    pub wire_bytes: Option<u64>,
}

/// The fixture and the two served appliance paths.
pub struct Bench {
    fixture: Arc<Fixture>,
    in_process: AppliancePath,
    unix: AppliancePath,
    bare_sizing: [bare::Sizing; 3],
    engine_bytes: Arc<AtomicU64>,
    timeout: Duration,
}

impl Bench {
    /// Splits fresh 2-of-2 keys (prime sets from the pool file at `prime_pool`, which is
    /// copied, not consumed) and starts both SignService paths with `max_sessions`. Must be
    /// called inside a tokio runtime.
    pub async fn start(prime_pool: &std::path::Path, max_sessions: usize) -> anyhow::Result<Self> {
        let (fixture, stores) = fixture::build(prime_pool)?;
        let [in_process_store, unix_store] = stores;
        let fixture = Arc::new(fixture);
        let in_process =
            AppliancePath::in_process(fixture.clone(), in_process_store, max_sessions).await?;
        let unix = AppliancePath::unix(fixture.clone(), unix_store, max_sessions).await?;
        let mut bench = Self {
            fixture,
            in_process,
            unix,
            bare_sizing: [bare::Sizing::default(); 3],
            engine_bytes: Arc::new(AtomicU64::new(0)),
            timeout: Duration::from_secs(600),
        };
        // Untimed signatures size the bare library's messages and time their codec.
        for (scheme, runs) in [
            (Scheme::Ecdsa, 1u32),
            (Scheme::Dkls23, 20),
            (Scheme::Ed25519, 100),
        ] {
            let f = bench.fixture.clone();
            let sizing = tokio::task::spawn_blocking(move || {
                let mut total = bare::Sizing::default();
                for i in 0..runs {
                    let payload = format!("signbench sizing {i}");
                    let (sig, sizing) = bare::sign(&f, scheme, payload.as_bytes(), true)?;
                    f.verify(scheme, payload.as_bytes(), &sig)?;
                    total += sizing;
                }
                anyhow::Ok(bare::Sizing {
                    bytes: total.bytes / u64::from(runs),
                    codec: total.codec / runs,
                })
            })
            .await
            .context("sizing task")??;
            bench.bare_sizing[scheme as usize] = sizing;
        }
        Ok(bench)
    }

    /// Protocol payload bytes of one bare signature (both directions), in the encodings the
    /// engines put on the wire: cggmp24 messages as JSON, DKLs23 messages as a tag byte and
    /// postcard, FROST commitments and shares in FROST's own serialization (without sigil's
    /// 33-byte round/session frame).
    pub fn bare_payload_bytes(&self, scheme: Scheme) -> u64 {
        self.bare_sizing[scheme as usize].bytes
    }

    /// CPU time to encode and decode the messages of one signature in those encodings (the
    /// part of the appliance's per-byte cost that grows with the protocol's message sizes),
    /// measured like [`Self::bare_payload_bytes`].
    pub fn codec_time(&self, scheme: Scheme) -> Duration {
        self.bare_sizing[scheme as usize].codec
    }

    /// The keys and verifiers.
    pub fn fixture(&self) -> &Fixture {
        &self.fixture
    }

    /// Stops both servers.
    pub async fn stop(self) {
        self.in_process.stop().await;
        self.unix.stop().await;
    }

    /// Produces and verifies `count` signatures in `mode`, `concurrency` sessions at a time
    /// (closed loop: each of `concurrency` workers signs its share back to back). `tag` makes
    /// payloads and session ids unique across calls. Must not be called from inside the
    /// runtime `rt`.
    pub fn run_phase(
        &self,
        rt: &tokio::runtime::Runtime,
        mode: Mode,
        scheme: Scheme,
        concurrency: usize,
        count: usize,
        tag: &str,
    ) -> anyhow::Result<Phase> {
        if concurrency == 0 || count == 0 {
            bail!("concurrency and count must be positive");
        }
        let per_worker: Vec<usize> = (0..concurrency)
            .map(|w| count / concurrency + usize::from(w < count % concurrency))
            .filter(|&n| n > 0)
            .collect();
        let path = match mode {
            Mode::Bare | Mode::Engines => None,
            Mode::InProcess => Some(&self.in_process),
            Mode::Unix => Some(&self.unix),
        };
        let payload0 = path.map_or(self.engine_bytes.load(Ordering::Relaxed), |p| {
            p.payload_bytes()
        });
        let wire0 = path.map(|p| p.wire().total());
        let cpu0 = cpu_time()?;
        let started = Instant::now();
        let latencies = match path {
            None if mode == Mode::Engines => {
                rt.block_on(self.engines_phase(scheme, &per_worker, tag))?
            }
            None => self.bare_phase(scheme, &per_worker, tag)?,
            Some(p) => rt.block_on(self.appliance_phase(p, scheme, &per_worker, tag))?,
        };
        let wall = started.elapsed();
        let cpu = cpu_time()?.saturating_sub(cpu0);
        let payload_bytes = match path {
            None if mode == Mode::Engines => self.engine_bytes.load(Ordering::Relaxed) - payload0,
            None => self.bare_payload_bytes(scheme) * count as u64,
            Some(p) => p.payload_bytes() - payload0,
        };
        let wire_bytes = path
            .zip(wire0)
            .map(|(p, w0)| p.wire().total().saturating_sub(w0));
        Ok(Phase {
            concurrency,
            signatures: latencies.len(),
            latencies,
            wall,
            cpu,
            payload_bytes,
            wire_bytes,
        })
    }

    fn bare_phase(
        &self,
        scheme: Scheme,
        per_worker: &[usize],
        tag: &str,
    ) -> anyhow::Result<Vec<Duration>> {
        std::thread::scope(|s| {
            let workers: Vec<_> = per_worker
                .iter()
                .enumerate()
                .map(|(w, &n)| {
                    s.spawn(move || -> anyhow::Result<Vec<Duration>> {
                        let mut out = Vec::with_capacity(n);
                        for i in 0..n {
                            let payload = payload(scheme, Mode::Bare, tag, w, i);
                            let started = Instant::now();
                            let (sig, _) = bare::sign(&self.fixture, scheme, &payload, false)?;
                            out.push(started.elapsed());
                            self.fixture.verify(scheme, &payload, &sig)?;
                        }
                        Ok(out)
                    })
                })
                .collect();
            let mut all = Vec::new();
            for w in workers {
                match w.join() {
                    Ok(r) => all.extend(r?),
                    Err(_) => bail!("a bare signing worker panicked"),
                }
            }
            Ok(all)
        })
    }

    async fn appliance_phase(
        &self,
        path: &AppliancePath,
        scheme: Scheme,
        per_worker: &[usize],
        tag: &str,
    ) -> anyhow::Result<Vec<Duration>> {
        let mut tasks = tokio::task::JoinSet::new();
        for (w, &n) in per_worker.iter().enumerate() {
            let (path, fixture, tag, timeout) = (
                path.clone(),
                self.fixture.clone(),
                tag.to_owned(),
                self.timeout,
            );
            let mode = path.mode();
            tasks.spawn(async move {
                let mut out = Vec::with_capacity(n);
                for i in 0..n {
                    let payload = payload(scheme, mode, &tag, w, i);
                    let session_id = format!("sb-{scheme}-{mode}-{tag}-{w}-{i}");
                    let started = Instant::now();
                    let sig = path.sign(scheme, session_id, &payload, timeout).await?;
                    out.push(started.elapsed());
                    fixture.verify(scheme, &payload, &sig)?;
                }
                anyhow::Ok(out)
            });
        }
        let mut all = Vec::new();
        while let Some(r) = tasks.join_next().await {
            all.extend(r.context("an appliance signing worker panicked")??);
        }
        Ok(all)
    }
}

impl Bench {
    async fn engines_phase(
        &self,
        scheme: Scheme,
        per_worker: &[usize],
        tag: &str,
    ) -> anyhow::Result<Vec<Duration>> {
        let mut tasks = tokio::task::JoinSet::new();
        for (w, &n) in per_worker.iter().enumerate() {
            let (fixture, bytes, tag) = (
                self.fixture.clone(),
                self.engine_bytes.clone(),
                tag.to_owned(),
            );
            tasks.spawn(async move {
                let mut out = Vec::with_capacity(n);
                for i in 0..n {
                    let payload = payload(scheme, Mode::Engines, &tag, w, i);
                    let session_id = format!("sb-{scheme}-engines-{tag}-{w}-{i}");
                    let started = Instant::now();
                    let sig = engines::sign(&fixture, scheme, session_id, &payload, &bytes).await?;
                    out.push(started.elapsed());
                    fixture.verify(scheme, &payload, &sig)?;
                }
                anyhow::Ok(out)
            });
        }
        let mut all = Vec::new();
        while let Some(r) = tasks.join_next().await {
            all.extend(r.context("an engine signing worker panicked")??);
        }
        Ok(all)
    }
}

/// A payload unique to one signature of one phase.
fn payload(scheme: Scheme, mode: Mode, tag: &str, worker: usize, i: usize) -> Vec<u8> {
    format!("signbench {scheme} {mode} {tag} worker {worker} signature {i}").into_bytes()
}
