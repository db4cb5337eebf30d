//! `key-gen`: the offline key-share ceremony command (`split`, with `--engine dkls23|cggmp24`
//! for ECDSA; `primes`, the cggmp24 prime pools), and `tls-bundle`, which seals the
//! SignService's TLS material. A thin layer over the `sigil_key_gen` library:
//! argument parsing, stdin for the child key, progress and the report on stderr. Procedures:
//! docs/key-shares.md, docs/tls.md.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use cggmp24::security_level::{SecurityLevel, SecurityLevel128};
use clap::{Args, Parser, Subcommand};
use sigil_key_gen::accounts::{AccountSpec, read_accounts_file};
use sigil_key_gen::ceremony::{ChildKey, DEFAULT_ENGINE, Plan, parse_chain_code, split};
use sigil_key_gen::output::{OutputOptions, Recipients, write_run};
use sigil_key_gen::primes::{self, PrimePool};
use sigil_mpc::{Engine, Scheme};
use zeroize::Zeroizing;

/// The offline key-share ceremony of Sigil.
#[derive(Parser)]
#[command(name = "key-gen", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Split account keys into t-of-n shares, one age-encrypted key-share file per party
    /// (the default command).
    Split(SplitArgs),
    /// Generate Paillier prime sets into a prime pool (SECRET file) for later `split --primes`.
    Primes(PrimesArgs),
    /// Seal the SignService's TLS key, chain and client CAs into an age-encrypted
    /// sigil-tls-bundle (validated first); prints a JSON summary line (no key material).
    TlsBundle(TlsBundleArgs),
}

#[derive(Args)]
struct TlsBundleArgs {
    /// PEM private key of the service's certificate (PKCS#8, SEC1 or PKCS#1).
    #[arg(long, value_name = "PEM")]
    server_key: PathBuf,
    /// PEM certificate chain, leaf first.
    #[arg(long, value_name = "PEM")]
    server_chain: PathBuf,
    /// PEM certificate(s) of the CA(s) that issue accepted client certificates.
    #[arg(long, value_name = "PEM")]
    client_ca: PathBuf,
    /// age recipients of the service, comma-separated or repeated (age1...).
    #[arg(
        long = "pubkeys",
        value_name = "AGE_RECIPIENT",
        value_delimiter = ',',
        required = true
    )]
    pubkeys: Vec<String>,
    /// The sealed bundle to write (e.g. service_tls.json.age).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Replace an existing file.
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
struct SplitArgs {
    /// Scheme of --account-id accounts and of accounts-file lines without a scheme column
    /// (ecdsa-secp256k1 or ed25519).
    #[arg(long, value_name = "SCHEME", default_value = "ecdsa-secp256k1")]
    scheme: Scheme,
    /// An account id (repeatable).
    #[arg(long = "account-id", value_name = "ID")]
    account_ids: Vec<String>,
    /// A file of account ids, one per line: ACCOUNT_ID [SCHEME [ENGINE]] (ENGINE after
    /// ecdsa-secp256k1 only, overriding --engine); `#` comments.
    #[arg(long, value_name = "FILE")]
    accounts_file: Option<PathBuf>,
    /// ECDSA engine of the secp256k1 accounts that name none: dkls23 (OT-based, no prime
    /// sets needed) or cggmp24 (Paillier-based, needs N prime sets). Each engine used gets
    /// one signer group.
    #[arg(long, value_name = "ENGINE", default_value = DEFAULT_ENGINE.as_str())]
    engine: Engine,
    /// Number of parties n (2..=16).
    #[arg(long, value_name = "N")]
    parties: u16,
    /// Signers needed t (2..=n).
    #[arg(long, value_name = "T")]
    threshold: u16,
    /// Key-generation index of the service (the enclave).
    #[arg(long, value_name = "K", default_value_t = 0)]
    service_party: u16,
    /// Split this key instead of a fresh one (exactly one account): 64 hex digits, a secp256k1
    /// secret scalar or an Ed25519 RFC 8032 seed; `-` reads it from stdin (preferred: argv is
    /// visible to other processes).
    #[arg(long, value_name = "HEX|-")]
    child_key: Option<String>,
    /// With --child-key (secp256k1): its BIP32/SLIP-10 chain code, 64 hex digits, instead of
    /// a fresh random one, so a key re-split (e.g. in another engine) keeps its derived
    /// addresses.
    #[arg(long, value_name = "HEX", value_parser = parse_chain_code_arg)]
    chain_code: Option<[u8; 32]>,
    /// age recipient (age1...) of the service's key-share file (repeatable).
    #[arg(long = "pubkeys", value_name = "AGE_RECIPIENT")]
    pubkeys: Vec<String>,
    /// age recipient of party P's key-share file, as P=age1... (repeatable; every non-service
    /// party needs one).
    #[arg(long = "party-pubkeys", value_name = "P=AGE_RECIPIENT", value_parser = parse_party_pubkey)]
    party_pubkeys: Vec<(u16, String)>,
    /// Output directory (created 0700 if missing).
    #[arg(long, value_name = "DIR")]
    out_dir: PathBuf,
    /// Replace existing output files.
    #[arg(long)]
    force: bool,
    /// Prime pool to take the cggmp24 group's prime sets from (the pool is rewritten without
    /// them). Without it the sets are generated now: minutes each. Unused without cggmp24
    /// accounts.
    #[arg(long, value_name = "POOL")]
    primes: Option<PathBuf>,
    /// TESTS ONLY: also write the plaintext key-share JSON next to the .age files.
    #[arg(long)]
    insecure_plaintext_out: bool,
}

#[derive(Args)]
struct PrimesArgs {
    /// Number of prime sets to generate (one set per party of a future run).
    #[arg(long, value_name = "K")]
    count: usize,
    /// The pool file to create or append to (mode 0600; SECRET).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Worker threads (default: available parallelism).
    #[arg(long, value_name = "J")]
    threads: Option<usize>,
}

fn parse_chain_code_arg(s: &str) -> Result<[u8; 32], String> {
    parse_chain_code(s).map_err(|e| e.to_string())
}

fn parse_party_pubkey(s: &str) -> Result<(u16, String), String> {
    let (party, recipient) = s
        .split_once('=')
        .ok_or_else(|| format!("expected P=age1..., got {s:?}"))?;
    let party = party
        .trim()
        .parse::<u16>()
        .map_err(|_| format!("party index {party:?} is not a number"))?;
    Ok((party, recipient.trim().to_owned()))
}

/// `split` is the default command: `key-gen --account-id ... --pubkeys ...` means
/// `key-gen split --account-id ...`.
fn args_with_default_command() -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let first = args.get(1).and_then(|a| a.to_str());
    let explicit = matches!(
        first,
        None | Some(
            "split" | "primes" | "tls-bundle" | "help" | "-h" | "--help" | "-V" | "--version"
        )
    );
    if !explicit {
        args.insert(1, "split".into());
    }
    args
}

fn main() -> ExitCode {
    let cli = Cli::parse_from(args_with_default_command());
    let result = match cli.command {
        Command::Split(args) => run_split(args),
        Command::Primes(args) => run_primes(args),
        Command::TlsBundle(args) => run_tls_bundle(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("key-gen: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_tls_bundle(args: TlsBundleArgs) -> anyhow::Result<()> {
    let summary =
        sigil_key_gen::tls_bundle::seal_tls_bundle(&sigil_key_gen::tls_bundle::TlsBundleOptions {
            server_key: args.server_key,
            server_chain: args.server_chain,
            client_ca: args.client_ca,
            recipients: args.pubkeys,
            out: args.out,
            force: args.force,
        })?;
    println!("{}", serde_json::to_string(&summary)?);
    eprintln!(
        "key-gen: sealed the TLS bundle for {} to {} recipient(s) in {}; gateways pin SPKI \
         SHA-256 {} (the enclave attests it as user_data)",
        summary.subject,
        summary.recipients.len(),
        summary.out,
        summary.spki_sha256
    );
    Ok(())
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

fn read_child_key(arg: &str) -> anyhow::Result<ChildKey> {
    if arg == "-" {
        // Sized up front: a valid key never makes the buffer reallocate (and leave a copy).
        let mut text = Zeroizing::new(String::with_capacity(256));
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading --child-key from stdin")?;
        Ok(ChildKey::from_hex(&text)?)
    } else {
        Ok(ChildKey::from_hex(arg)?)
    }
}

const PLAINTEXT_WARNING: &str = "\
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
!! --insecure-plaintext-out: UNENCRYPTED KEY SHARES ARE WRITTEN TO DISK.      !!
!! For tests only. Never use these keys for real funds.                       !!
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!";

fn run_split(args: SplitArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut accounts: Vec<AccountSpec> = (args.account_ids.iter())
        .map(|id| AccountSpec::new(id, args.scheme))
        .collect();
    if let Some(file) = &args.accounts_file {
        accounts.extend(read_accounts_file(file, Some(args.scheme))?);
    }
    let mut child_key_arg = args.child_key.map(Zeroizing::new);
    let child_key = child_key_arg
        .as_deref()
        .map(|s| read_child_key(s))
        .transpose()?;
    drop(child_key_arg.take()); // zeroizes the hex text
    let mut plan = Plan {
        accounts,
        parties: args.parties,
        threshold: args.threshold,
        service_party: args.service_party,
        child_key,
        chain_code: args.chain_code,
        engine: args.engine,
        primes: None,
    };
    // Everything is checked before any work or any change to the prime pool.
    plan.validate()?;
    let recipients = Recipients::new(
        args.parties,
        args.service_party,
        &args.pubkeys,
        &args.party_pubkeys,
    )?;
    let opts = OutputOptions {
        out_dir: args.out_dir.clone(),
        force: args.force,
        insecure_plaintext: args.insecure_plaintext_out,
    };
    if plan.needs_primes()
        && let Some(pool) = &args.primes
    {
        primes::check_available(pool, usize::from(args.parties))?;
    }
    opts.prepare(args.parties, args.service_party)?;
    if opts.insecure_plaintext {
        eprintln!("{PLAINTEXT_WARNING}");
    }

    if plan.needs_primes() {
        let n = usize::from(args.parties);
        plan.primes = Some(match &args.primes {
            Some(pool) => {
                let (sets, left) = primes::consume(pool, n)?;
                eprintln!(
                    "key-gen: took {n} prime sets from {} ({left} left)",
                    pool.display()
                );
                sets
            }
            None => {
                eprintln!(
                    "key-gen: note: no --primes pool given; generating {n} Paillier prime sets now \
                     (minutes per set; use `key-gen primes` ahead of the ceremony)"
                );
                generate_sets(n, default_threads(), |_| Ok(()))?
            }
        });
    } else if args.primes.is_some() {
        eprintln!("key-gen: note: no cggmp24 account, the prime pool is not used");
    }

    let split_started = Instant::now();
    let mut ceremony = split(&plan)?;
    let split_time = split_started.elapsed();
    let summary_path = write_run(&mut ceremony, &recipients, &opts)?;

    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for a in &plan.accounts {
        *counts.entry(a.scheme.as_str()).or_default() += 1;
    }
    let counts: Vec<String> = counts.iter().map(|(s, c)| format!("{c} {s}")).collect();
    eprintln!("key-gen: summary: {}", summary_path.display());
    eprintln!(
        "key-gen: split {} account(s) ({}) into {}-of-{} shares, service party {}; wrote {} encrypted \
         key-share files to {} (split {}, total {})",
        plan.accounts.len(),
        counts.join(", "),
        args.threshold,
        args.parties,
        args.service_party,
        args.parties,
        args.out_dir.display(),
        secs(split_time),
        secs(started.elapsed()),
    );
    for (group, engine) in &ceremony.summary.ecdsa_groups {
        let accounts = (ceremony.summary.accounts.iter())
            .filter(|a| a.engine == Some(*engine))
            .count();
        eprintln!(
            "key-gen: ECDSA group {group}: {engine}, {accounts} account(s)",
            engine = engine.as_str()
        );
    }
    if opts.insecure_plaintext {
        eprintln!("{PLAINTEXT_WARNING}");
    }
    Ok(())
}

fn secs(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

/// Generates `count` sets with progress on stderr, handing each to `keep` as it completes
/// (an error from `keep` stops the run); returns all of them.
fn generate_sets(
    count: usize,
    threads: usize,
    mut keep: impl FnMut(&primes::PrimeSet) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<primes::PrimeSet>> {
    let started = Instant::now();
    let mut sets = Vec::new();
    let mut keep_error = None;
    let result = primes::generate::<SecurityLevel128>(
        count,
        threads,
        |done, total| {
            eprintln!(
                "key-gen: prime {done}/{total} after {}",
                secs(started.elapsed())
            )
        },
        |set, done, count| match keep(&set) {
            Ok(()) => {
                eprintln!(
                    "key-gen: prime set {done}/{count} complete after {}",
                    secs(started.elapsed())
                );
                sets.push(set);
                Ok(())
            }
            Err(e) => {
                let msg = format!("{e:#}");
                keep_error = Some(e);
                Err(sigil_key_gen::KeyGenError::Output(msg))
            }
        },
    );
    if let Some(e) = keep_error {
        return Err(e);
    }
    result?;
    Ok(sets)
}

fn run_primes(args: PrimesArgs) -> anyhow::Result<()> {
    if args.count == 0 {
        bail!("--count must be at least 1");
    }
    let threads = args.threads.unwrap_or_else(default_threads);
    if threads == 0 {
        bail!("--threads must be at least 1");
    }
    // Fail now, not hours later, on a pool we could not append to.
    if std::fs::symlink_metadata(&args.out).is_ok() {
        let pool = PrimePool::load(&args.out)?;
        eprintln!(
            "key-gen: appending to {} ({} sets)",
            args.out.display(),
            pool.len()
        );
    }
    eprintln!(
        "key-gen: generating {} prime set(s) (4 safe {}-bit primes each) on {threads} thread(s); \
         each set is appended to {} as soon as it is complete",
        args.count,
        <SecurityLevel128 as SecurityLevel>::RSA_PRIME_BITLEN,
        args.out.display()
    );
    let out = args.out.clone();
    let mut size = 0;
    generate_sets(args.count, threads, |set| {
        size = primes::append(&out, vec![set.clone()])?;
        Ok(())
    })?;
    eprintln!(
        "key-gen: {} now holds {size} prime set(s). It is SECRET (Paillier secret keys): keep it on the \
         offline machine, mode 0600, and never copy a set into two pools",
        args.out.display()
    );
    Ok(())
}
