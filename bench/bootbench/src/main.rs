//! `bootbench`: how long `enclave-app` takes from spawn to serving, and how much memory it
//! holds, for a share file of N accounts, in simulation against kms-sim (the parent side is
//! `sigil-fake-parent`: provisioning on vsock 7000, the KMS route through `parent-agent
//! bridge`, a key policy bound to the binary's PCR0; kms-sim and parent-agent are found next
//! to this binary). Per run: wall time from spawn until the boot report arrives and until
//! `grpc.health.v1` answers SERVING on `vsock://16:50051`, `VmRSS`/`VmHWM` once serving, and
//! the report's step timings. The peer, in the same run, is what the old shell entrypoint did
//! with the same file: `age -d -i IDENTITY FILE | jq empty` (or a Python `json.load` when jq
//! is missing), with its peak RSS from `/usr/bin/time -f %M`.
//!
//! Schemes: `ecdsa-secp256k1` (cggmp24, one signer group with Paillier aux data), `dkls23`
//! (ECDSA secp256k1 accounts in one DKLs23 signer group, `key-gen split --engine dkls23`) and
//! `ed25519`.
//!
//! stdout: one JSON line per run (`"type": "enclave"`, `"peer"`) and a final `"summary"`
//! line; stderr: progress and a markdown summary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use clap::Parser;
use serde_json::{Value, json};
use sigil_fake_parent::Appliance;
use sigil_transport::{Addr, Transport};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// The service the health probe asks about.
const SIGN_SERVICE: &str = "sigil.signer.v1.SignService";
/// The share file's name in the bundle directory and in a cache directory.
const SHARES_FILE: &str = "service_key_shares.json.age";
/// The identity's name in a cache directory.
const IDENTITY_FILE: &str = "identity.txt";

#[derive(Parser)]
#[command(
    name = "bootbench",
    about = "enclave-app boot (spawn → boot report → SERVING) against age -d + a JSON parse"
)]
struct Cli {
    /// Accounts in the share file.
    #[arg(long)]
    accounts: usize,
    /// Scheme of every account: `ecdsa-secp256k1` (cggmp24), `dkls23` (ECDSA secp256k1 with
    /// the DKLs23 engine) or `ed25519`.
    #[arg(long, value_parser = ["ecdsa-secp256k1", "dkls23", "ed25519"])]
    scheme: String,
    /// Boots (and peer runs).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// The enclave-app binary (default: next to this one). The key policy binds its PCR0.
    #[arg(long)]
    enclave_bin: Option<PathBuf>,
    /// The key-gen binary (default: next to this one).
    #[arg(long)]
    key_gen_bin: Option<PathBuf>,
    /// Reuse this age-encrypted service share file instead of running key-gen.
    #[arg(long, requires = "identity", conflicts_with = "cache")]
    shares: Option<PathBuf>,
    /// The age identity file `--shares` is encrypted to (the appliance wraps it in KMS).
    #[arg(long, requires = "shares")]
    identity: Option<PathBuf>,
    /// Reuse `identity.txt` and `service_key_shares.json.age` from this directory, or make
    /// them with key-gen and keep them there.
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Prime pool for ECDSA (a copy is consumed; the file itself is never changed).
    #[arg(long, default_value = sigil_testkit::TEST_PRIMES)]
    primes: PathBuf,
    /// An earlier bootbench output (JSON lines): its summary's RSS is subtracted to give the
    /// memory per additional account without the fixed cost.
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// Give up on a boot that is not SERVING after this many seconds.
    #[arg(long, default_value_t = 120)]
    serving_timeout: u64,
}

/// A binary next to this one.
fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("locating bootbench")?;
    let path = exe
        .parent()
        .map(|d| d.join(name))
        .context("bootbench has no directory")?;
    if !path.exists() {
        bail!("{} is missing: build it or pass its path", path.display());
    }
    Ok(path)
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.runs == 0 || cli.accounts == 0 {
        bail!("--runs and --accounts must be at least 1");
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("tokio runtime")?
        .block_on(run(cli))
}

/// The share file and how it was obtained.
struct Shares {
    ciphertext: Vec<u8>,
    keygen_s: Option<f64>,
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let enclave_bin = match &cli.enclave_bin {
        Some(p) => p.clone(),
        None => sibling("enclave-app")?,
    };
    let work = tempfile::tempdir().context("work directory")?;
    let cached = cli
        .cache
        .as_ref()
        .map(|d| (d.join(IDENTITY_FILE), d.join(SHARES_FILE)))
        .filter(|(i, s)| i.exists() && s.exists());
    let reuse = match (&cli.shares, &cli.identity) {
        (Some(s), Some(i)) => Some((i.clone(), s.clone())),
        _ => cached,
    };
    let (mut a, shares) = match reuse {
        Some((identity, shares)) => {
            eprintln!("bootbench: reusing {}", shares.display());
            let text = std::fs::read_to_string(&identity)
                .with_context(|| format!("reading {}", identity.display()))?;
            let a = Appliance::new_with_identity(&enclave_bin, Some(text.as_str())).await;
            let ciphertext =
                std::fs::read(&shares).with_context(|| format!("reading {}", shares.display()))?;
            (
                a,
                Shares {
                    ciphertext,
                    keygen_s: None,
                },
            )
        }
        None => {
            let a = Appliance::new(&enclave_bin).await;
            let key_gen = match &cli.key_gen_bin {
                Some(p) => p.clone(),
                None => sibling("key-gen")?,
            };
            let shares = generate(&cli, &a, &key_gen, work.path())?;
            if let Some(dir) = &cli.cache {
                save_cache(dir, &a.identity, &shares.ciphertext)?;
            }
            (a, shares)
        }
    };
    a.write_shares_ciphertext(&shares.ciphertext);
    let shares_path = a.bundle_dir.join(SHARES_FILE);
    let identity_path = work.path().join(IDENTITY_FILE);
    write_private(&identity_path, a.identity.as_bytes())?;

    let mut enclave_runs = Vec::new();
    for run in 0..cli.runs {
        eprintln!(
            "bootbench: {} {} accounts, boot {}/{}",
            cli.accounts,
            cli.scheme,
            run + 1,
            cli.runs
        );
        let row = boot_once(&cli, &mut a, run).await?;
        println!("{row}");
        enclave_runs.push(row);
    }

    let parser = Peer::detect();
    let time_bin = Path::new("/usr/bin/time");
    let time_bin = time_bin.exists().then_some(time_bin);
    if time_bin.is_none() {
        eprintln!("bootbench: /usr/bin/time is missing: the peer's peak RSS is not measured");
    }
    let mut peer_runs = Vec::new();
    for run in 0..cli.runs {
        eprintln!(
            "bootbench: peer `age -d | {}`, run {}/{}",
            parser.label(),
            run + 1,
            cli.runs
        );
        let row = peer_once(&parser, time_bin, &identity_path, &shares_path, work.path())?;
        let row = json!({
            "type": "peer", "run": run, "accounts": cli.accounts, "scheme": cli.scheme,
            "parser": parser.label(), "elapsed_ms": row.elapsed_ms,
            "age_peak_rss_bytes": row.age_rss, "parser_peak_rss_bytes": row.parser_rss,
        });
        println!("{row}");
        peer_runs.push(row);
    }

    let baseline = match &cli.baseline {
        Some(p) => Some(read_baseline(p, &cli.scheme)?),
        None => None,
    };
    let summary = summarize(
        &cli,
        &shares,
        &enclave_runs,
        &peer_runs,
        &parser,
        baseline.as_ref(),
    );
    println!("{summary}");
    eprintln!("\n{}", markdown(&summary));
    Ok(())
}

/// Runs `key-gen split` for a 2-of-2 group (the enclave is party 0), the service's file
/// encrypted to the appliance's recipient and the other party's to a throw-away one.
/// `ecdsa-secp256k1` is `--engine cggmp24` (with prime sets from a copy of the pool), `dkls23`
/// is `--scheme ecdsa-secp256k1 --engine dkls23` (no Paillier primes).
fn generate(cli: &Cli, a: &Appliance, key_gen: &Path, work: &Path) -> anyhow::Result<Shares> {
    let accounts = work.join("accounts.txt");
    let mut list = String::with_capacity(cli.accounts * 14);
    for i in 0..cli.accounts {
        list.push_str(&format!("bench-{i:07}\n"));
    }
    std::fs::write(&accounts, list).context("writing the accounts file")?;
    let (_, throwaway) = sigil_testkit::age_keygen(work, "throwaway.txt");
    let out = work.join("key-gen-out");
    // key-gen's default ECDSA engine is DKLs23: name the engine either way.
    let (scheme, engine) = match cli.scheme.as_str() {
        "dkls23" => ("ecdsa-secp256k1", Some("dkls23")),
        "ecdsa-secp256k1" => ("ecdsa-secp256k1", Some("cggmp24")),
        other => (other, None),
    };
    let mut cmd = Command::new(key_gen);
    cmd.arg("split")
        .args(["--scheme", scheme, "--parties", "2", "--threshold", "2"])
        .arg("--accounts-file")
        .arg(&accounts)
        .args(["--pubkeys", &a.recipient])
        .arg("--party-pubkeys")
        .arg(format!("1={throwaway}"))
        .arg("--out-dir")
        .arg(&out)
        .arg("--force")
        .stdout(Stdio::null());
    if let Some(engine) = engine {
        cmd.args(["--engine", engine]);
    }
    if cli.scheme == "ecdsa-secp256k1" {
        let pool = work.join("primes.json");
        std::fs::copy(&cli.primes, &pool)
            .with_context(|| format!("copying {}", cli.primes.display()))?;
        cmd.arg("--primes").arg(&pool);
    }
    eprintln!(
        "bootbench: key-gen split: {} {} accounts",
        cli.accounts, cli.scheme
    );
    let started = Instant::now();
    let status = cmd.status().context("running key-gen")?;
    let keygen_s = started.elapsed().as_secs_f64();
    if !status.success() {
        bail!("key-gen failed: {status}");
    }
    eprintln!("bootbench: key-gen took {keygen_s:.1} s");
    let ciphertext = std::fs::read(out.join(SHARES_FILE)).context("reading key-gen's output")?;
    Ok(Shares {
        ciphertext,
        keygen_s: Some(keygen_s),
    })
}

fn save_cache(dir: &Path, identity: &str, ciphertext: &[u8]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    write_private(&dir.join(IDENTITY_FILE), identity.as_bytes())?;
    std::fs::write(dir.join(SHARES_FILE), ciphertext).context("saving the share file")?;
    Ok(())
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))
}

/// One boot: spawn → report → SERVING, memory once serving; the enclave is killed after.
async fn boot_once(cli: &Cli, a: &mut Appliance, run: usize) -> anyhow::Result<Value> {
    let running = a.boot(&["--insecure-plaintext-grpc"]).await;
    let serving_at = wait_serving(&a.sim_dir, Duration::from_secs(cli.serving_timeout)).await?;
    let (rss, hwm) = proc_memory(running.child.id())?;
    let r = &running.report;
    let steps: Vec<Value> = r
        .steps
        .iter()
        .map(|s| json!({"step": s.step, "elapsed_us": s.elapsed_us}))
        .collect();
    let accounts: BTreeMap<&String, &u64> = r.accounts.iter().collect();
    let reported: u64 = r.accounts.values().sum();
    if reported != cli.accounts as u64 {
        bail!(
            "the enclave loaded {reported} accounts, expected {}",
            cli.accounts
        );
    }
    let res = r.resources.unwrap_or_default();
    let row = json!({
        "type": "enclave", "run": run, "accounts": cli.accounts, "scheme": cli.scheme,
        "start_to_report_ms": ms(running.report_at - running.spawned_at),
        "start_to_serving_ms": ms(serving_at - running.spawned_at),
        "rss_bytes": rss, "peak_rss_bytes": hwm,
        "report_rss_bytes": res.rss_bytes, "report_peak_rss_bytes": res.peak_rss_bytes,
        "cpu_user_us": res.cpu_user_us, "cpu_system_us": res.cpu_system_us,
        "steps": steps, "accounts_reported": accounts,
    });
    drop(running); // kills and reaps the enclave
    Ok(row)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Polls `grpc.health.v1` on the enclave's simulated vsock port until SERVING.
async fn wait_serving(sim_dir: &Path, timeout: Duration) -> anyhow::Result<Instant> {
    let deadline = Instant::now() + timeout;
    let transport = Transport::simulated(sim_dir, 3);
    let addr: Addr = "vsock://16:50051"
        .parse()
        .map_err(|e| anyhow!("the service address: {e}"))?;
    loop {
        let outcome = tokio::time::timeout(Duration::from_secs(5), probe(&transport, &addr))
            .await
            .unwrap_or_else(|_| Err(anyhow!("the health check timed out")));
        match outcome {
            Ok(ServingStatus::Serving) => return Ok(Instant::now()),
            Ok(other) if Instant::now() >= deadline => {
                bail!("the service is {other:?} after {timeout:?}")
            }
            Err(e) if Instant::now() >= deadline => {
                return Err(e.context(format!("not serving after {timeout:?}")));
            }
            _ => tokio::time::sleep(Duration::from_millis(2)).await,
        }
    }
}

async fn probe(transport: &Transport, addr: &Addr) -> anyhow::Result<ServingStatus> {
    let (transport, addr) = (transport.clone(), addr.clone());
    let channel = tonic::transport::Endpoint::from_static("http://sigil-signer")
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(3))
        .connect_with_connector(tower::service_fn(move |_: http::Uri| {
            let (transport, addr) = (transport.clone(), addr.clone());
            async move {
                let stream = transport
                    .connect(&addr, Duration::from_secs(2))
                    .await
                    .map_err(std::io::Error::other)?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
            }
        }))
        .await?;
    let status = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: SIGN_SERVICE.into(),
        })
        .await?
        .into_inner()
        .status;
    Ok(ServingStatus::try_from(status).unwrap_or(ServingStatus::Unknown))
}

/// (`VmRSS`, `VmHWM`) of a process, in bytes.
fn proc_memory(pid: u32) -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .map(|kib| kib * 1024)
            .with_context(|| format!("no {name} in /proc/{pid}/status"))
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// The JSON parse after `age -d`, as the old entrypoint did it.
enum Peer {
    Jq,
    Python,
}

impl Peer {
    fn detect() -> Peer {
        let jq = Command::new("jq")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if jq { Peer::Jq } else { Peer::Python }
    }

    fn label(&self) -> &'static str {
        match self {
            Peer::Jq => "jq empty",
            Peer::Python => "python3 json.load",
        }
    }

    fn argv(&self) -> Vec<&'static str> {
        match self {
            Peer::Jq => vec!["jq", "empty"],
            Peer::Python => vec!["python3", "-c", "import json,sys; json.load(sys.stdin)"],
        }
    }
}

struct PeerRun {
    elapsed_ms: f64,
    age_rss: Option<u64>,
    parser_rss: Option<u64>,
}

/// `age -d -i IDENTITY FILE | PARSER`, each under `/usr/bin/time -f %M` when available.
fn peer_once(
    parser: &Peer,
    time_bin: Option<&Path>,
    identity: &Path,
    shares: &Path,
    work: &Path,
) -> anyhow::Result<PeerRun> {
    let age_mem = work.join("age.maxrss");
    let parser_mem = work.join("parser.maxrss");
    let command = |argv: Vec<&str>, mem: &Path| -> Command {
        match time_bin {
            Some(t) => {
                let mut c = Command::new(t);
                c.args(["-f", "%M", "-o"]).arg(mem).args(argv);
                c
            }
            None => {
                let mut c = Command::new(argv[0]);
                c.args(&argv[1..]);
                c
            }
        }
    };
    let mut age = command(vec!["age", "-d", "-i"], &age_mem);
    age.arg(identity).arg(shares).stdout(Stdio::piped());
    let started = Instant::now();
    let mut age = age.spawn().context("spawning age")?;
    let pipe = age.stdout.take().context("age's stdout")?;
    let mut json = command(parser.argv(), &parser_mem);
    let json_status = json
        .stdin(Stdio::from(pipe))
        .stdout(Stdio::null())
        .status()
        .with_context(|| format!("running {}", parser.label()));
    let age_status = age.wait().context("waiting for age")?;
    let elapsed_ms = ms(started.elapsed());
    check("age -d", age_status)?;
    check(parser.label(), json_status?)?;
    let read = |p: &Path| -> Option<u64> {
        time_bin?;
        std::fs::read_to_string(p)
            .ok()?
            .lines()
            .last()?
            .trim()
            .parse::<u64>()
            .ok()
            .map(|kib| kib * 1024)
    };
    Ok(PeerRun {
        elapsed_ms,
        age_rss: read(&age_mem),
        parser_rss: read(&parser_mem),
    })
}

fn check(what: &str, status: ExitStatus) -> anyhow::Result<()> {
    if status.success() {
        Ok(())
    } else {
        bail!("{what} failed: {status}")
    }
}

/// (accounts, RSS once serving) of an earlier run's summary, preferring the same scheme.
fn read_baseline(path: &Path, scheme: &str) -> anyhow::Result<(u64, f64)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let summaries: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == "summary")
        .collect();
    let pick = summaries
        .iter()
        .find(|v| v["scheme"] == scheme)
        .or_else(|| summaries.first())
        .with_context(|| format!("no summary line in {}", path.display()))?;
    let accounts = pick["accounts"].as_u64().context("baseline accounts")?;
    let rss = pick["rss_bytes"].as_f64().context("baseline rss_bytes")?;
    Ok((accounts, rss))
}

fn median(mut xs: Vec<f64>) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    Some(if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    })
}

fn med(rows: &[Value], key: &str) -> Option<f64> {
    median(rows.iter().filter_map(|r| r[key].as_f64()).collect())
}

fn summarize(
    cli: &Cli,
    shares: &Shares,
    runs: &[Value],
    peer: &[Value],
    parser: &Peer,
    baseline: Option<&(u64, f64)>,
) -> Value {
    let serving = med(runs, "start_to_serving_ms").unwrap_or(0.0);
    // Step order as reported; medians in ms and shares of start → serving.
    let mut order: Vec<String> = Vec::new();
    let mut per_step: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for r in runs {
        for s in r["steps"].as_array().into_iter().flatten() {
            let (Some(name), Some(us)) = (s["step"].as_str(), s["elapsed_us"].as_f64()) else {
                continue;
            };
            if !order.iter().any(|o| o == name) {
                order.push(name.to_owned());
            }
            per_step.entry(name.to_owned()).or_default().push(us / 1e3);
        }
    }
    let mut steps = Vec::new();
    let mut in_steps = 0.0;
    for name in &order {
        let m = median(per_step.remove(name).unwrap_or_default()).unwrap_or(0.0);
        in_steps += m;
        steps.push(json!({"step": name, "median_ms": m, "share": m / serving}));
    }
    let other = (serving - in_steps).max(0.0);
    steps.push(json!({
        "step": "other (exec, PCR0 measurement, report, serve start, probe)",
        "median_ms": other, "share": other / serving,
    }));
    let rss = med(runs, "rss_bytes").unwrap_or(0.0);
    let n = cli.accounts as f64;
    let delta = baseline.and_then(|(base_n, base_rss)| {
        (cli.accounts as u64 > *base_n).then(|| {
            json!({"baseline_accounts": base_n, "baseline_rss_bytes": base_rss,
                   "bytes_per_account": (rss - base_rss) / (n - *base_n as f64)})
        })
    });
    let peer_rss: Vec<f64> = peer
        .iter()
        .filter_map(|r| {
            Some(r["age_peak_rss_bytes"].as_f64()? + r["parser_peak_rss_bytes"].as_f64()?)
        })
        .collect();
    json!({
        "type": "summary", "accounts": cli.accounts, "scheme": cli.scheme, "runs": runs.len(),
        "share_file_bytes": shares.ciphertext.len(), "keygen_s": shares.keygen_s,
        "start_to_report_ms": med(runs, "start_to_report_ms"),
        "start_to_serving_ms": serving,
        "steps": steps,
        "rss_bytes": rss, "peak_rss_bytes": med(runs, "peak_rss_bytes"),
        "rss_bytes_per_account": rss / n,
        "peak_rss_bytes_per_account": med(runs, "peak_rss_bytes").map(|p| p / n),
        "rss_delta": delta,
        "peer": {
            "command": format!("age -d -i IDENTITY {SHARES_FILE} | {}", parser.label()),
            "elapsed_ms": med(peer, "elapsed_ms"),
            "age_peak_rss_bytes": med(peer, "age_peak_rss_bytes"),
            "parser_peak_rss_bytes": med(peer, "parser_peak_rss_bytes"),
            "peak_rss_bytes_sum": median(peer_rss),
        },
    })
}

fn mib(v: &Value) -> String {
    v.as_f64()
        .map_or("—".into(), |b| format!("{:.1}", b / (1024.0 * 1024.0)))
}

fn num(v: &Value, digits: usize) -> String {
    v.as_f64().map_or("—".into(), |x| format!("{x:.digits$}"))
}

/// The summary as markdown.
fn markdown(s: &Value) -> String {
    let mut out = format!(
        "**{} {} accounts** — {} run(s), share file {} MiB{}\n\n",
        s["accounts"],
        s["scheme"].as_str().unwrap_or(""),
        s["runs"],
        mib(&s["share_file_bytes"]),
        s["keygen_s"]
            .as_f64()
            .map_or(String::new(), |k| format!(", key-gen {k:.1} s")),
    );
    out.push_str("| figure | median |\n|---|---|\n");
    out.push_str(&format!(
        "| start → boot report, ms | {} |\n| start → SERVING, ms | {} |\n",
        num(&s["start_to_report_ms"], 0),
        num(&s["start_to_serving_ms"], 0)
    ));
    for st in s["steps"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "| step {}, ms (share) | {} ({:.1}%) |\n",
            st["step"].as_str().unwrap_or(""),
            num(&st["median_ms"], 1),
            st["share"].as_f64().unwrap_or(0.0) * 100.0
        ));
    }
    out.push_str(&format!(
        "| enclave RSS serving / peak, MiB | {} / {} |\n| RSS per account, bytes | {} |\n",
        mib(&s["rss_bytes"]),
        mib(&s["peak_rss_bytes"]),
        num(&s["rss_bytes_per_account"], 0)
    ));
    if let Some(d) = s["rss_delta"].as_object() {
        out.push_str(&format!(
            "| RSS per account above the {}-account run, bytes | {} |\n",
            d["baseline_accounts"],
            num(&d["bytes_per_account"], 0)
        ));
    }
    let p = &s["peer"];
    out.push_str(&format!(
        "| peer `{}`, ms | {} |\n| peer peak RSS age + parser, MiB | {} ({} + {}) |\n",
        p["command"].as_str().unwrap_or("").replace('|', "\\|"),
        num(&p["elapsed_ms"], 0),
        mib(&p["peak_rss_bytes_sum"]),
        mib(&p["age_peak_rss_bytes"]),
        mib(&p["parser_peak_rss_bytes"]),
    ));
    out
}
