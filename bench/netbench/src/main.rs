//! `netbench`: the load generator and servers behind `scripts/bench-bridge.sh` and the
//! bridge demo. Servers and clients speak over any Sigil address (tcp, unix, vsock).
//!
//! * `serve --listen ADDR` — on each connection, echo everything back; or with `--sink`,
//!   swallow everything and answer the byte count (8 bytes, little endian) at EOF.
//! * `throughput --connect ADDR --bytes N --streams S` — push N bytes in total through S
//!   connections to a sink and time it until every count is confirmed.
//! * `latency --connect ADDR --round-trips N --size B --streams S` — N echo round trips of
//!   B bytes on each of S connections; p50/p99/max.
//!
//! Every client prints one JSON line.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use hdrhistogram::Histogram;
use sigil_transport::{Addr, Stream, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Parser)]
#[command(name = "netbench", about = "Bridge benchmark servers and clients")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve echo (default) or sink connections.
    Serve {
        #[arg(long)]
        listen: Addr,
        /// Count and discard instead of echoing.
        #[arg(long)]
        sink: bool,
    },
    /// Bulk transfer to a sink.
    Throughput {
        #[arg(long)]
        connect: Addr,
        /// Total bytes (suffixes K, M, G: powers of 1024).
        #[arg(long, default_value = "1G", value_parser = parse_size)]
        bytes: u64,
        #[arg(long, default_value_t = 1)]
        streams: u64,
        /// Write size.
        #[arg(long, default_value = "256K", value_parser = parse_size)]
        chunk: u64,
    },
    /// Request/response round trips against an echo server.
    Latency {
        #[arg(long)]
        connect: Addr,
        #[arg(long, default_value_t = 10_000)]
        round_trips: u64,
        #[arg(long, default_value_t = 64)]
        size: usize,
        #[arg(long, default_value_t = 1)]
        streams: u64,
        /// Untimed round trips per stream before measuring.
        #[arg(long, default_value_t = 200)]
        warmup: u64,
    },
}

fn parse_size(s: &str) -> Result<u64, String> {
    let (num, mult) = match s.chars().last() {
        Some('K') => (&s[..s.len() - 1], 1u64 << 10),
        Some('M') => (&s[..s.len() - 1], 1 << 20),
        Some('G') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<u64>()
        .map(|n| n * mult)
        .map_err(|e| format!("{s}: {e}"))
}

const TIMEOUT: Duration = Duration::from_secs(5);

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // A single-stream latency client runs on one thread, so its own wake-ups do not
    // cross cores and blur the bridge's figures; everything else uses every core.
    let rt = match &cli.command {
        Command::Latency { streams: 1, .. } => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
        _ => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?,
    };
    rt.block_on(run(cli.command))
}

async fn run(command: Command) -> anyhow::Result<()> {
    let t = Transport::native();
    match command {
        Command::Serve { listen, sink } => serve(&t, &listen, sink).await,
        Command::Throughput {
            connect,
            bytes,
            streams,
            chunk,
        } => {
            anyhow::ensure!(
                streams > 0 && chunk > 0,
                "--streams and --chunk must be positive"
            );
            let per = bytes / streams;
            let started = Instant::now();
            let mut tasks = Vec::new();
            for _ in 0..streams {
                let (t, a) = (t.clone(), connect.clone());
                tasks.push(tokio::spawn(async move {
                    push(&t, &a, per, chunk as usize).await
                }));
            }
            for task in tasks {
                task.await??;
            }
            let secs = started.elapsed().as_secs_f64();
            let total = per * streams;
            println!(
                "{}",
                serde_json::json!({"bytes": total, "streams": streams, "seconds": secs,
                    "mib_per_s": total as f64 / (1 << 20) as f64 / secs})
            );
            Ok(())
        }
        Command::Latency {
            connect,
            round_trips,
            size,
            streams,
            warmup,
        } => {
            let started = Instant::now();
            let mut tasks = Vec::new();
            for _ in 0..streams {
                let (t, a) = (t.clone(), connect.clone());
                tasks.push(tokio::spawn(async move {
                    ping(&t, &a, round_trips, warmup, size).await
                }));
            }
            let mut all = Histogram::<u64>::new(3)?;
            for task in tasks {
                all.add(task.await??)?;
            }
            let secs = started.elapsed().as_secs_f64();
            println!(
                "{}",
                serde_json::json!({"round_trips": all.len(), "streams": streams, "size": size,
                    "p50_us": all.value_at_quantile(0.5) as f64 / 1000.0,
                    "p99_us": all.value_at_quantile(0.99) as f64 / 1000.0,
                    "max_us": all.max() as f64 / 1000.0,
                    "round_trips_per_s": (round_trips * streams) as f64 / secs})
            );
            Ok(())
        }
    }
}

async fn serve(t: &Transport, addr: &Addr, sink: bool) -> anyhow::Result<()> {
    let l = t.bind(addr).await?;
    eprintln!(
        "netbench: serving {} on {}",
        if sink { "sink" } else { "echo" },
        l.local_addr()
    );
    let l = Arc::new(l);
    loop {
        let (mut s, _) = l.accept().await?;
        tokio::spawn(async move {
            let mut buf = vec![0u8; 256 * 1024];
            let mut total = 0u64;
            loop {
                let n = match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                total += n as u64;
                if !sink && s.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
            if sink {
                let _ = s.write_all(&total.to_le_bytes()).await;
            }
            let _ = s.shutdown().await;
        });
    }
}

async fn dial(t: &Transport, a: &Addr) -> anyhow::Result<Stream> {
    t.connect(a, TIMEOUT)
        .await
        .with_context(|| format!("connecting to {a}"))
}

async fn push(t: &Transport, a: &Addr, bytes: u64, chunk: usize) -> anyhow::Result<()> {
    let mut s = dial(t, a).await?;
    let buf = vec![0x5au8; chunk];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk as u64) as usize;
        s.write_all(&buf[..n]).await?;
        left -= n as u64;
    }
    s.shutdown().await?;
    let mut count = [0u8; 8];
    s.read_exact(&mut count)
        .await
        .context("reading the sink's byte count")?;
    let got = u64::from_le_bytes(count);
    if got != bytes {
        bail!("the sink received {got} bytes of {bytes}");
    }
    Ok(())
}

async fn ping(
    t: &Transport,
    a: &Addr,
    n: u64,
    warmup: u64,
    size: usize,
) -> anyhow::Result<Histogram<u64>> {
    let mut s = dial(t, a).await?;
    let mut h = Histogram::<u64>::new(3)?;
    let msg = vec![0x42u8; size];
    let mut back = vec![0u8; size];
    for i in 0..warmup + n {
        let started = Instant::now();
        s.write_all(&msg).await?;
        s.read_exact(&mut back).await?;
        if i >= warmup {
            h.record(started.elapsed().as_nanos() as u64)?;
        }
    }
    if back != msg {
        bail!("echo returned different bytes");
    }
    Ok(h)
}
