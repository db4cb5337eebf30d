//! `kms-sim`: a KMS simulator that the stock `aws` CLI and `aws-sdk-kms` talk to unchanged
//! through an endpoint URL. It speaks awsJson1.1 (`X-Amz-Target: TrentService.<Op>`),
//! verifies SigV4, enforces key policies and implements the attested `Recipient` parameter
//! (`CiphertextForRecipient`). State lives in JSON files in `--state-dir`.

mod blob;
mod errors;
mod ops;
mod policy;
mod recipient;
mod server;
mod sigv4;
mod store;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use serde_json::json;
use sigil_attestation::{TrustAnchor, Verifier};

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(
    name = "kms-sim",
    about = "A KMS simulator with SigV4, key policies and Recipient"
)]
struct Args {
    /// Address to listen on (port 0 picks a free port; the real one is printed).
    #[arg(long, default_value = "127.0.0.1:4000")]
    listen: String,
    /// Directory holding keys and aliases (created if missing).
    #[arg(long)]
    state_dir: PathBuf,
    /// The access key id requests must be signed with.
    #[arg(long)]
    access_key_id: String,
    /// Its secret access key.
    #[arg(long)]
    secret_access_key: String,
    /// When set, requests must carry this X-Amz-Security-Token.
    #[arg(long)]
    session_token: Option<String>,
    /// The identity of the credentials for key-policy evaluation
    /// (default `arn:aws:iam::<account>:user/kms-sim`).
    #[arg(long)]
    principal_arn: Option<String>,
    /// The simulated account.
    #[arg(long, default_value = "111122223333")]
    account_id: String,
    /// The simulated region (also the SigV4 scope region).
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Policy document (key-policy syntax, resource `*`) governing the operations that have
    /// no key: CreateKey, ListKeys, ListAliases, GenerateRandom. Default: all allowed.
    #[arg(long)]
    identity_policy: Option<PathBuf>,
    /// PEM root certificate that Recipient attestation documents must chain to
    /// (default: the pinned AWS Nitro Enclaves Root G1).
    #[arg(long)]
    attestation_root: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let anchor = match &args.attestation_root {
        Some(path) => {
            let pem = std::fs::read(path)
                .with_context(|| format!("reading attestation root {}", path.display()))?;
            TrustAnchor::from_pem(&pem)
                .with_context(|| format!("parsing attestation root {}", path.display()))?
        }
        None => TrustAnchor::aws_nitro_g1().context("loading the AWS Nitro root G1")?,
    };
    let root_fingerprint = anchor.fingerprint_hex();
    let identity_policy = match &args.identity_policy {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading identity policy {}", path.display()))?;
            Some(policy::validate(&text).map_err(|e| {
                anyhow::anyhow!("identity policy {}: {}", path.display(), e.message)
            })?)
        }
        None => None,
    };
    let store = store::Store::open(&args.state_dir)
        .with_context(|| format!("opening state dir {}", args.state_dir.display()))?;
    let keys_loaded = store.lock().map(|s| s.keys.len()).unwrap_or(0);
    let principal_arn = args
        .principal_arn
        .clone()
        .unwrap_or_else(|| format!("arn:aws:iam::{}:user/kms-sim", args.account_id));
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let address = listener.local_addr().context("reading the bound address")?;
    let server = Arc::new(server::Server {
        ctx: ops::Ctx {
            store,
            verifier: Verifier::new(anchor),
            account_id: args.account_id.clone(),
            region: args.region.clone(),
            principal_arn: principal_arn.clone(),
            identity_policy,
        },
        sigv4: sigv4::SigV4Config {
            access_key_id: args.access_key_id,
            secret_access_key: args.secret_access_key,
            session_token: args.session_token,
            region: args.region.clone(),
            service: "kms".into(),
        },
    });
    server::log_line(json!({
        "event": "listening",
        "address": address.to_string(),
        "region": args.region,
        "account_id": args.account_id,
        "principal_arn": principal_arn,
        "state_dir": args.state_dir.display().to_string(),
        "keys_loaded": keys_loaded,
        "attestation_root_sha256": root_fingerprint,
    }));
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        () = server::serve(listener, server) => {}
        r = tokio::signal::ctrl_c() => { r.context("waiting for Ctrl-C")?; }
        _ = terminate.recv() => {}
    }
    server::log_line(json!({ "event": "stopped" }));
    Ok(())
}
