//! `nsm-sim`: the simulated NSM's command line.
//!
//! * `init-root --dir DIR` — make and store the development root CA (once per machine).
//! * `measure --image FILE` — print the PCR0/1/2 the simulation gives that image.
//! * `attest --root-dir DIR --image FILE --out FILE [...]` — write one attestation document.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use sha2::Digest;
use sigil_nsm::{AttestationRequest, DevRoot, ImageMeasurement, Nsm, SimulatedNsm};

#[derive(Parser)]
#[command(
    name = "nsm-sim",
    about = "Simulated Nitro Security Module (development root, measurements, documents)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate the development root CA and store it in DIR (dev-root.pem, dev-root.key.pem).
    InitRoot {
        #[arg(long)]
        dir: PathBuf,
        /// Replace an existing root (documents from the old one stop verifying).
        #[arg(long)]
        force: bool,
    },
    /// Print the simulated PCR0/1/2 of an image file as JSON.
    Measure {
        #[arg(long)]
        image: PathBuf,
    },
    /// Write an attestation document for an image.
    Attest {
        #[arg(long)]
        root_dir: PathBuf,
        #[arg(long)]
        image: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "i-0123456789abcdef0")]
        instance_id: String,
        #[arg(long)]
        role_arn: Option<String>,
        /// Hex.
        #[arg(long)]
        nonce: Option<String>,
        /// Hex.
        #[arg(long)]
        user_data: Option<String>,
        /// A DER public key file.
        #[arg(long)]
        public_key: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::InitRoot { dir, force } => {
            if dir.join("dev-root.pem").exists() && !force {
                bail!(
                    "{} already holds a development root; pass --force to replace it",
                    dir.display()
                );
            }
            let root = DevRoot::generate()?;
            root.save(&dir)?;
            let fp = hex::encode(sha2::Sha256::digest(root.cert_der()));
            println!(
                "{}",
                serde_json::json!({"root_cert": dir.join("dev-root.pem"), "sha256": fp, "note": "development root: never trust it in production"})
            );
        }
        Command::Measure { image } => {
            let m = ImageMeasurement::of_file(&image)
                .with_context(|| format!("reading {}", image.display()))?;
            println!(
                "{}",
                serde_json::json!({"image": image, "pcr0": hex::encode(&m.pcr0), "pcr1": hex::encode(&m.pcr1), "pcr2": hex::encode(&m.pcr2)})
            );
        }
        Command::Attest {
            root_dir,
            image,
            out,
            instance_id,
            role_arn,
            nonce,
            user_data,
            public_key,
        } => {
            let root = DevRoot::load(&root_dir)?;
            let m = ImageMeasurement::of_file(&image)
                .with_context(|| format!("reading {}", image.display()))?;
            let nsm = SimulatedNsm::new(root, &m, &instance_id, role_arn.as_deref())?;
            let decode = |what: &str, v: Option<String>| -> anyhow::Result<Option<Vec<u8>>> {
                v.map(|h| hex::decode(h.trim()).with_context(|| format!("--{what} is not hex")))
                    .transpose()
            };
            let req = AttestationRequest {
                nonce: decode("nonce", nonce)?,
                user_data: decode("user-data", user_data)?,
                public_key: public_key
                    .map(|p| std::fs::read(&p).with_context(|| format!("reading {}", p.display())))
                    .transpose()?,
            };
            let doc = nsm.attestation(&req)?;
            std::fs::write(&out, &doc).with_context(|| format!("writing {}", out.display()))?;
            println!(
                "{}",
                serde_json::json!({"document": out, "bytes": doc.len(), "module_id": nsm.module_id(), "pcr0": hex::encode(&m.pcr0)})
            );
        }
    }
    Ok(())
}
