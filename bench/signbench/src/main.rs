//! `signbench`: the signing benchmark behind `scripts/bench-sign.sh`.
//!
//! Splits fresh 2-of-2 keys (ECDSA secp256k1 with cggmp24 and with DKLs23, and Ed25519), serves
//! the SignService in process and on a Unix socket, then for each round and scheme measures,
//! mode by mode (bare library, optionally the engines alone, in-process, Unix socket; the order
//! reverses every other round so background load hits all modes alike):
//!
//! * `sequential`: signatures one session at a time (latency);
//! * `concurrent`: signatures `--concurrency` sessions at a time, the service's session cap
//!   (throughput, and latency under load).
//!
//! Every signature is verified (k256, ed25519-dalek). Prints one JSON line per measured batch
//! on stdout (and a `config` line first); progress goes to stderr.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use serde_json::json;
use sigil_signbench::{Bench, Mode, Phase, Scheme, percentile};

#[derive(Parser)]
#[command(name = "signbench", about = "SignService vs the bare MPC libraries")]
struct Cli {
    /// Rounds; each measures every mode once per scheme and phase.
    #[arg(long, default_value_t = 7)]
    rounds: usize,
    /// Concurrent sessions in the throughput phase, and the service's session cap
    /// (default: the CPUs available).
    #[arg(long)]
    concurrency: Option<usize>,
    /// ECDSA signatures per mode and round, one at a time.
    #[arg(long, default_value_t = 5)]
    ecdsa_sequential: usize,
    /// ECDSA signatures per mode and round, `concurrency` at a time.
    #[arg(long, default_value_t = 10)]
    ecdsa_concurrent: usize,
    /// DKLs23 signatures per mode and round, one at a time.
    #[arg(long, default_value_t = 200)]
    dkls23_sequential: usize,
    /// DKLs23 signatures per mode and round, `concurrency` at a time.
    #[arg(long, default_value_t = 400)]
    dkls23_concurrent: usize,
    /// Ed25519 signatures per mode and round, one at a time.
    #[arg(long, default_value_t = 300)]
    ed25519_sequential: usize,
    /// Ed25519 signatures per mode and round, `concurrency` at a time.
    #[arg(long, default_value_t = 1000)]
    ed25519_concurrent: usize,
    /// Untimed ECDSA signatures per mode before the first round (`concurrency` at a time).
    #[arg(long, default_value_t = 2)]
    warmup_ecdsa: usize,
    /// Untimed DKLs23 signatures per mode before the first round.
    #[arg(long, default_value_t = 20)]
    warmup_dkls23: usize,
    /// Untimed Ed25519 signatures per mode before the first round.
    #[arg(long, default_value_t = 100)]
    warmup_ed25519: usize,
    /// Modes to measure, in the order of odd rounds.
    #[arg(long, value_delimiter = ',', default_value = "bare,in-process,unix")]
    modes: Vec<Mode>,
    /// Schemes to measure.
    #[arg(long, value_delimiter = ',', default_value = "ecdsa,dkls23,ed25519")]
    schemes: Vec<Scheme>,
    /// Prime pool to take the two ECDSA prime sets from (copied; the file is not changed).
    #[arg(long, default_value = sigil_testkit::TEST_PRIMES)]
    primes: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let concurrency = cli.concurrency.unwrap_or(cores);
    anyhow::ensure!(
        cli.rounds > 0 && concurrency > 0,
        "--rounds and --concurrency must be positive"
    );
    anyhow::ensure!(
        !cli.modes.is_empty() && !cli.schemes.is_empty(),
        "--modes and --schemes must name at least one"
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    let bench = rt
        .block_on(Bench::start(&cli.primes, concurrency))
        .context("setting up keys and servers")?;
    eprintln!(
        "signbench: keys split and servers up in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!(
        "{}",
        json!({
            "type": "config",
            "cores": cores,
            "concurrency": concurrency,
            "max_sessions": concurrency,
            "rounds": cli.rounds,
            "ecdsa_sequential": cli.ecdsa_sequential,
            "ecdsa_concurrent": cli.ecdsa_concurrent,
            "dkls23_sequential": cli.dkls23_sequential,
            "dkls23_concurrent": cli.dkls23_concurrent,
            "ed25519_sequential": cli.ed25519_sequential,
            "ed25519_concurrent": cli.ed25519_concurrent,
            "modes": cli.modes.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
            "schemes": cli.schemes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            "bare_payload_bytes": Scheme::ALL
                .iter()
                .map(|&s| (s.as_str().to_owned(), json!(bench.bare_payload_bytes(s))))
                .collect::<serde_json::Map<_, _>>(),
            "codec_ms_per_signature": Scheme::ALL
                .iter()
                .map(|&s| (s.as_str().to_owned(), json!(bench.codec_time(s).as_secs_f64() * 1e3)))
                .collect::<serde_json::Map<_, _>>(),
        })
    );

    for &mode in &cli.modes {
        for (scheme, n) in [
            (Scheme::Ecdsa, cli.warmup_ecdsa),
            (Scheme::Dkls23, cli.warmup_dkls23),
            (Scheme::Ed25519, cli.warmup_ed25519),
        ] {
            if n > 0 && cli.schemes.contains(&scheme) {
                let p = bench.run_phase(&rt, mode, scheme, concurrency.min(n), n, "warmup")?;
                eprintln!(
                    "signbench: warm-up {mode} {scheme}: {n} signatures in {:.2} s",
                    p.wall.as_secs_f64()
                );
            }
        }
    }

    for round in 1..=cli.rounds {
        let mut order = cli.modes.clone();
        if round % 2 == 0 {
            order.reverse();
        }
        let names: Vec<&str> = order.iter().map(|m| m.as_str()).collect();
        eprintln!(
            "signbench: round {round}/{} ({}) at {:.0} s",
            cli.rounds,
            names.join(", "),
            started.elapsed().as_secs_f64()
        );
        for (scheme, sequential, concurrent) in [
            (Scheme::Ecdsa, cli.ecdsa_sequential, cli.ecdsa_concurrent),
            (Scheme::Dkls23, cli.dkls23_sequential, cli.dkls23_concurrent),
            (
                Scheme::Ed25519,
                cli.ed25519_sequential,
                cli.ed25519_concurrent,
            ),
        ] {
            for (phase, n, count) in [
                ("sequential", 1, sequential),
                ("concurrent", concurrency, concurrent),
            ] {
                if count == 0 || !cli.schemes.contains(&scheme) {
                    continue;
                }
                for (position, &mode) in order.iter().enumerate() {
                    let tag = format!("r{round}-{phase}");
                    let p = bench
                        .run_phase(&rt, mode, scheme, n, count, &tag)
                        .with_context(|| format!("round {round}, {mode} {scheme} {phase}"))?;
                    println!("{}", line(round, position, mode, scheme, phase, &p));
                }
            }
        }
    }
    rt.block_on(bench.stop());
    eprintln!(
        "signbench: done in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn ms(d: Option<Duration>) -> Option<f64> {
    d.map(|d| d.as_secs_f64() * 1e3)
}

fn line(
    round: usize,
    position: usize,
    mode: Mode,
    scheme: Scheme,
    phase: &str,
    p: &Phase,
) -> serde_json::Value {
    let n = p.signatures.max(1) as f64;
    let mean = p.latencies.iter().map(Duration::as_secs_f64).sum::<f64>() / n;
    json!({
        "type": "phase",
        "round": round,
        "position": position,
        "mode": mode.as_str(),
        "scheme": scheme.as_str(),
        "phase": phase,
        "concurrency": p.concurrency,
        "signatures": p.signatures,
        "wall_s": p.wall.as_secs_f64(),
        "signatures_per_s": p.signatures as f64 / p.wall.as_secs_f64(),
        "p50_ms": ms(percentile(&p.latencies, 50.0)),
        "p99_ms": ms(percentile(&p.latencies, 99.0)),
        "max_ms": ms(p.latencies.iter().max().copied()),
        "mean_ms": mean * 1e3,
        "cpu_s": p.cpu.as_secs_f64(),
        "cpu_ms_per_signature": p.cpu.as_secs_f64() * 1e3 / n,
        "payload_bytes_per_signature": p.payload_bytes as f64 / n,
        "wire_bytes_per_signature": p.wire_bytes.map(|b| b as f64 / n),
    })
}
