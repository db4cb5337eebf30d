//! `cosigner`: plays the other parties of a signing session against a SignService and prints
//! the result as one JSON line. For tests, demos and Sign Gateway developers.
//!
//! Every command needs a connection mode: mutual TLS (`--tls-ca --tls-cert --tls-key
//! --tls-server-name`, optionally `--tls-pin-spki-sha256`) or `--insecure-plaintext` for a
//! service in simulation.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{ArgGroup, Parser, Subcommand, ValueEnum};
use sigil_mpc::{DerivationPath, Scheme, ThresholdKey};
use sigil_proto::signer::v1 as pb;
use sigil_transport::{Addr, Transport};

#[derive(Parser)]
#[command(version, about = "Co-signer for a Sigil SignService")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Hash {
    Keccak256,
    Sha256,
    Prehashed,
}

#[derive(Parser)]
#[command(group(
    ArgGroup::new("security")
        .required(true)
        .args(["tls_ca", "insecure_plaintext"])
))]
struct Target {
    /// SignService address: unix:///path, tcp://host:port or vsock://cid:port.
    #[arg(long)]
    endpoint: Addr,
    /// PEM file of the CA(s) that issue the service's TLS certificate (mutual TLS).
    #[arg(long, value_name = "PEM", requires_all = ["tls_cert", "tls_key", "tls_server_name"])]
    tls_ca: Option<PathBuf>,
    /// PEM file of this client's certificate chain (leaf first).
    #[arg(long, value_name = "PEM", requires = "tls_ca")]
    tls_cert: Option<PathBuf>,
    /// PEM file of this client's private key.
    #[arg(long, value_name = "PEM", requires = "tls_ca")]
    tls_key: Option<PathBuf>,
    /// The name the service's certificate must be valid for (e.g. signer.sigil.internal).
    #[arg(long, value_name = "NAME", requires = "tls_ca")]
    tls_server_name: Option<String>,
    /// Also require the service's TLS key to hash (SHA-256 of its SubjectPublicKeyInfo) to
    /// this value: the user_data of the enclave's verified attestation document. 64 hex digits.
    #[arg(long, value_name = "HEX", requires = "tls_ca", value_parser = parse_pin)]
    tls_pin_spki_sha256: Option<[u8; 32]>,
    /// Connect without TLS (a service in simulation only).
    #[arg(long)]
    insecure_plaintext: bool,
    /// Simulated vsock: Unix sockets in this directory stand in for vsock addresses.
    #[arg(long)]
    vsock_sim_dir: Option<PathBuf>,
    /// Connect timeout.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    connect_timeout: Duration,
}

impl Target {
    async fn channel(&self) -> anyhow::Result<tonic::transport::Channel> {
        let transport = match &self.vsock_sim_dir {
            Some(dir) => Transport::simulated(dir, 3),
            None => Transport::native(),
        };
        let tls = match (
            &self.tls_ca,
            &self.tls_cert,
            &self.tls_key,
            &self.tls_server_name,
        ) {
            (Some(ca), Some(cert), Some(key), Some(name)) => Some(
                sigil_tls::ClientTls::from_files(ca, cert, key, name, self.tls_pin_spki_sha256)
                    .context("client TLS")?,
            ),
            _ => None,
        };
        sigil_cosigner::connect(
            transport,
            self.endpoint.clone(),
            self.connect_timeout,
            tls.as_ref(),
        )
        .await
        .with_context(|| format!("connecting to {}", self.endpoint))
    }
}

fn parse_pin(s: &str) -> Result<[u8; 32], String> {
    let bytes = hex::decode(s.trim()).map_err(|e| format!("not hex: {e}"))?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("{} bytes, a SHA-256 is 32", b.len()))
}

#[derive(Subcommand)]
enum Command {
    /// Sign a payload together with the service.
    Sign {
        #[command(flatten)]
        target: Target,
        /// Key-share file of a local party (repeat for several parties); age-encrypted unless
        /// it is plaintext JSON from `key-gen --insecure-plaintext-out`.
        #[arg(long = "shares", required = true)]
        shares: Vec<PathBuf>,
        /// age identity file that decrypts the share files.
        #[arg(long)]
        identity: Option<PathBuf>,
        /// Account id.
        #[arg(long)]
        account: String,
        /// Derivation path (non-hardened).
        #[arg(long, default_value = "m")]
        path: DerivationPath,
        /// Payload, hex.
        #[arg(long)]
        payload_hex: String,
        /// Scheme: ecdsa-secp256k1 or ed25519.
        #[arg(long)]
        scheme: Scheme,
        /// ECDSA hash rule.
        #[arg(long, value_enum, default_value = "keccak256")]
        hash: Hash,
        /// Session id (default: random).
        #[arg(long)]
        session_id: Option<String>,
        /// The service's key-generation index.
        #[arg(long, default_value_t = 0)]
        service_party: u16,
        /// Session timeout.
        #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
    /// Ask the service for an account's public key.
    PublicKey {
        #[command(flatten)]
        target: Target,
        /// Account id.
        #[arg(long)]
        account: String,
        /// Derivation path.
        #[arg(long, default_value = "m")]
        path: DerivationPath,
    },
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Sign {
            target,
            shares,
            identity,
            account,
            path,
            payload_hex,
            scheme,
            hash,
            session_id,
            service_party,
            timeout,
        } => {
            let mut locals: Vec<Arc<dyn ThresholdKey>> = Vec::new();
            for file in &shares {
                let store = sigil_sealed_shares::open(file, identity.as_deref())?;
                let key = store.get(&account).with_context(|| {
                    format!("{} has no share of account {account:?}", file.display())
                })?;
                locals.push(key.clone());
            }
            let threshold = usize::from(locals[0].threshold());
            let mut parties: Vec<u16> = locals.iter().map(|k| k.party_index()).collect();
            parties.push(service_party);
            parties.sort_unstable();
            parties.dedup();
            if parties.len() != threshold {
                bail!(
                    "account is {threshold}-of-{}: the service plus the local parties {:?} make {} signers",
                    locals[0].parties(),
                    locals.iter().map(|k| k.party_index()).collect::<Vec<_>>(),
                    parties.len()
                );
            }
            let payload = hex::decode(payload_hex.trim_start_matches("0x"))
                .context("--payload-hex is not hex")?;
            let request = sigil_cosigner::Request {
                session_id: session_id.unwrap_or_else(sigil_cosigner::random_session_id),
                account_id: account,
                path,
                scheme,
                ecdsa_hash: match hash {
                    Hash::Keccak256 => pb::EcdsaHash::Keccak256,
                    Hash::Sha256 => pb::EcdsaHash::Sha256,
                    Hash::Prehashed => pb::EcdsaHash::Prehashed,
                },
                payload,
                parties,
            };
            let channel = target.channel().await?;
            let outcome = sigil_cosigner::cosign(channel, locals, &request, timeout).await?;
            let r = &outcome.result;
            let public_key = sigil_mpc::PublicKey {
                scheme,
                bytes: r.public_key.clone(),
            };
            let line = serde_json::json!({
                "scheme": scheme.as_str(),
                "account_id": r.account_id,
                "session_id": r.session_id,
                "derivation_path": r.derivation_path,
                "public_key": hex::encode(&r.public_key),
                "ethereum_address": public_key.ethereum_address(),
                "payload": hex::encode(&request.payload),
                "hash": match scheme { Scheme::Ed25519 => None, Scheme::EcdsaSecp256k1 => Some(match hash {
                    Hash::Keccak256 => "keccak256", Hash::Sha256 => "sha256", Hash::Prehashed => "prehashed" }) },
                "digest": hex::encode(&r.digest),
                "signature": hex::encode(&r.signature),
                "recovery_id": r.recovery_id,
                "cached": r.cached,
            });
            println!("{line}");
        }
        Command::PublicKey {
            target,
            account,
            path,
        } => {
            let channel = target.channel().await?;
            let mut client = pb::sign_service_client::SignServiceClient::new(channel);
            let r = client
                .get_public_key(pb::GetPublicKeyRequest {
                    account_id: account,
                    derivation_path: path.to_string(),
                })
                .await
                .map_err(|s| anyhow::anyhow!("{}: {}", s.code(), s.message()))?
                .into_inner();
            let line = serde_json::json!({
                "account_id": r.account_id,
                "derivation_path": r.derivation_path,
                "public_key": hex::encode(&r.public_key),
                "ethereum_address": (!r.ethereum_address.is_empty()).then_some(&r.ethereum_address),
                "threshold": r.threshold,
                "parties": r.parties,
                "party_index": r.party_index,
            });
            println!("{line}");
        }
    }
    Ok(())
}
