//! `parent-agent attestation verify`: check an attestation document from a file and print
//! a JSON summary, or one line saying why it is not valid.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::{Context, anyhow, bail};
use sigil_attestation::{Expectations, RootKind, TrustAnchor, Verifier, VerifyAt};

/// Arguments of `attestation verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The document (raw COSE_Sign1 bytes, as the NSM returns them).
    #[arg(long)]
    pub doc: PathBuf,
    /// `aws` (the pinned AWS Nitro Enclaves Root G1) or a PEM file (a development root).
    #[arg(long, default_value = "aws")]
    pub root: String,
    /// When certificates must be valid: `now`, `doc` (the document's own timestamp) or an
    /// RFC 3339 time.
    #[arg(long, default_value = "now")]
    pub at: String,
    /// Expected PCR value, `N=HEX` (repeatable).
    #[arg(long = "pcr", value_name = "N=HEX")]
    pub pcrs: Vec<String>,
    /// Expected nonce, hex.
    #[arg(long)]
    pub nonce: Option<String>,
    /// Expected public key, hex.
    #[arg(long)]
    pub public_key: Option<String>,
    /// Expected user data, hex.
    #[arg(long)]
    pub user_data: Option<String>,
    /// Refuse documents older than this (e.g. `5m`), measured from now.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub max_age: Option<Duration>,
    /// Accept a debug-mode document (PCR0 all zeros), which proves nothing about the image.
    #[arg(long)]
    pub allow_debug: bool,
}

fn hex_arg(what: &str, v: &Option<String>) -> anyhow::Result<Option<Vec<u8>>> {
    v.as_ref()
        .map(|h| hex::decode(h.trim()).map_err(|e| anyhow!("--{what}: not hex ({e})")))
        .transpose()
}

/// Verifies and returns the summary; an error is the one-line reason.
pub fn verify(args: &VerifyArgs) -> anyhow::Result<serde_json::Value> {
    let bytes =
        std::fs::read(&args.doc).with_context(|| format!("reading {}", args.doc.display()))?;
    let anchor = if args.root == "aws" {
        TrustAnchor::aws_nitro_g1()?
    } else {
        let pem =
            std::fs::read(&args.root).with_context(|| format!("reading root {}", args.root))?;
        TrustAnchor::from_pem(&pem)?
    };
    let at = match args.at.as_str() {
        "now" => VerifyAt::Time(SystemTime::now()),
        "doc" => VerifyAt::DocumentTime,
        t => VerifyAt::Time(
            humantime::parse_rfc3339_weak(t)
                .map_err(|e| anyhow!("--at {t}: {e} (use now, doc or RFC 3339)"))?,
        ),
    };
    let mut pcrs = BTreeMap::new();
    for p in &args.pcrs {
        let (n, h) = p
            .split_once('=')
            .ok_or_else(|| anyhow!("--pcr {p}: expected N=HEX"))?;
        let n: u8 = n
            .parse()
            .ok()
            .filter(|n| *n < 32)
            .ok_or_else(|| anyhow!("--pcr {p}: index must be 0 to 31"))?;
        let v = hex::decode(h).map_err(|e| anyhow!("--pcr {p}: not hex ({e})"))?;
        if v.len() != 48 {
            bail!(
                "--pcr {p}: a PCR is 48 bytes (96 hex digits), got {}",
                v.len()
            );
        }
        pcrs.insert(n, v);
    }
    let expect = Expectations {
        pcrs,
        nonce: hex_arg("nonce", &args.nonce)?,
        public_key: hex_arg("public-key", &args.public_key)?,
        user_data: hex_arg("user-data", &args.user_data)?,
        max_age: args.max_age.map(|d| (d, SystemTime::now())),
        allow_debug: args.allow_debug,
    };
    let v = Verifier::new(anchor).verify(&bytes, at, &expect)?;
    let d = &v.document;
    let issued = SystemTime::UNIX_EPOCH + Duration::from_millis(d.timestamp_ms);
    let dev = v.root != RootKind::AwsNitroG1;
    let mut out = serde_json::json!({
        "valid": true,
        "module_id": d.module_id,
        "timestamp": sigil_std_ext::time::format_time(issued, true),
        "timestamp_ms": d.timestamp_ms,
        "digest": "SHA384",
        "pcrs": d.pcrs.iter().map(|(i, v)| (i.to_string(), serde_json::Value::String(hex::encode(v)))).collect::<serde_json::Map<_, _>>(),
        "debug_mode": d.debug_mode(),
        "public_key": d.public_key.as_ref().map(hex::encode),
        "user_data": d.user_data.as_ref().map(hex::encode),
        "nonce": d.nonce.as_ref().map(hex::encode),
        "checked_at": sigil_std_ext::time::format_time(v.checked_at, false),
        "root": if dev { "explicit" } else { "aws-nitro-enclaves-root-g1" },
        "root_sha256": v.root_fingerprint,
        "dev_root": dev,
    });
    if dev {
        out["warning"] = "verified against an explicitly given root, not the AWS Nitro root: this proves nothing about a real enclave".into();
    }
    Ok(out)
}
