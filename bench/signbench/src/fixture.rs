//! The benchmark's keys: a fresh 2-of-2 trusted-dealer ceremony over one ECDSA and one Ed25519
//! account (prime sets from a copy of a pool file), the engines' keys of both parties, the
//! service's key stores as the enclave loads them, and independent verifiers.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, anyhow, bail, ensure};
use cggmp24::KeyShare;
use cggmp24::supported_curves::Secp256k1;
use k256::ecdsa::signature::hazmat::PrehashVerifier;
use sha3::{Digest, Keccak256};
use sigil_key_gen::accounts::AccountSpec;
use sigil_key_gen::ceremony::{Plan, split};
use sigil_mpc::ecdsa::EcdsaKey;
use sigil_mpc::ed25519::Ed25519Key;
use sigil_mpc::share_file::{SchemeShare, ShareFile};
use sigil_mpc::{DerivationPath, KeyStore, ThresholdKey};

use crate::Scheme;

/// The ECDSA account.
pub const ECDSA_ACCOUNT: &str = "eth-bench";
/// The Ed25519 account.
pub const ED25519_ACCOUNT: &str = "sol-bench";
/// Every ECDSA signature is made with the child key at this (non-hardened) path, as an
/// Ethereum wallet would.
pub const ECDSA_PATH: &str = "m/0/7";

/// Both parties' keys and the verifiers. Party 0 is the service, party 1 the co-signer.
pub struct Fixture {
    /// Both parties' ECDSA keys.
    pub ecdsa: [Arc<EcdsaKey>; 2],
    /// Both parties' complete cggmp24 key shares, assembled once (the bare-library baseline
    /// holds them as a plain cggmp24 user would; the engine assembles one per session).
    pub ecdsa_shares: [KeyShare<Secp256k1>; 2],
    /// Both parties' Ed25519 keys.
    pub ed25519: [Arc<Ed25519Key>; 2],
    /// The Ed25519 group's public key package, built once for the bare-library baseline.
    pub ed25519_public_key_package: frost_ed25519::keys::PublicKeyPackage,
    /// The ECDSA child key at [`ECDSA_PATH`].
    pub ecdsa_vk: k256::ecdsa::VerifyingKey,
    /// The Ed25519 group key.
    pub ed25519_vk: ed25519_dalek::VerifyingKey,
    /// [`ECDSA_PATH`], parsed.
    pub ecdsa_path: DerivationPath,
}

/// Runs the ceremony. Returns the fixture and two copies of the service's (party 0's) key
/// store, loaded through the key-share file format like the enclave loads them.
pub(crate) fn build(prime_pool: &Path) -> anyhow::Result<(Fixture, [KeyStore; 2])> {
    let dir = tempfile::tempdir()?;
    let pool = dir.path().join("pool.json");
    std::fs::copy(prime_pool, &pool)
        .with_context(|| format!("copying the prime pool {}", prime_pool.display()))?;
    let (sets, _) = sigil_key_gen::primes::consume(&pool, 2)?;
    let mut plan = Plan::new(
        vec![
            AccountSpec::new(ECDSA_ACCOUNT, sigil_mpc::Scheme::EcdsaSecp256k1),
            AccountSpec::new(ED25519_ACCOUNT, sigil_mpc::Scheme::Ed25519),
        ],
        2,
        2,
    );
    plan.primes = Some(sets);
    let ceremony = split(&plan)?;
    let stores = [ceremony.key_store(0)?, ceremony.key_store(1)?];
    let service_stores = [ceremony.key_store(0)?, ceremony.key_store(0)?];

    let mut ecdsa = Vec::new();
    let mut ed25519 = Vec::new();
    for file in ceremony.shares {
        let (e, d) = engine_keys(file)?;
        ecdsa.push(Arc::new(e));
        ed25519.push(Arc::new(d));
    }
    let ecdsa: [Arc<EcdsaKey>; 2] = ecdsa
        .try_into()
        .map_err(|_| anyhow!("the ceremony did not produce two ECDSA keys"))?;
    let ed25519: [Arc<Ed25519Key>; 2] = ed25519
        .try_into()
        .map_err(|_| anyhow!("the ceremony did not produce two Ed25519 keys"))?;

    let ecdsa_shares = [ecdsa[0].session_share()?, ecdsa[1].session_share()?];
    let ed25519_public_key_package = ed25519[0].public_key_package();
    let ecdsa_path: DerivationPath = ECDSA_PATH.parse()?;
    let child = ecdsa[0].public_key(&ecdsa_path)?;
    let ecdsa_vk = k256::ecdsa::VerifyingKey::from_sec1_bytes(&child.bytes)?;
    let group = ed25519[0].public_key(&DerivationPath::root())?;
    let group: [u8; 32] = group
        .bytes
        .as_slice()
        .try_into()
        .map_err(|_| anyhow!("an Ed25519 group key is 32 bytes"))?;
    let ed25519_vk = ed25519_dalek::VerifyingKey::from_bytes(&group)?;

    // The engines' keys and the loaded stores must be the same keys.
    for (party, store) in stores.iter().enumerate() {
        let same = |account: &str, key: &dyn ThresholdKey, path: &DerivationPath| {
            let loaded = store
                .get(account)
                .ok_or_else(|| anyhow!("party {party} has no account {account}"))?;
            anyhow::Ok(loaded.public_key(path)?.bytes == key.public_key(path)?.bytes)
        };
        ensure!(
            same(ECDSA_ACCOUNT, ecdsa[party].as_ref(), &ecdsa_path)?
                && same(
                    ED25519_ACCOUNT,
                    ed25519[party].as_ref(),
                    &DerivationPath::root()
                )?,
            "party {party}'s key store and engine keys differ"
        );
    }
    Ok((
        Fixture {
            ecdsa,
            ecdsa_shares,
            ed25519,
            ed25519_public_key_package,
            ecdsa_vk,
            ed25519_vk,
            ecdsa_path,
        },
        service_stores,
    ))
}

/// One party's engine keys, taken out of its key-share file.
fn engine_keys(file: ShareFile) -> anyhow::Result<(EcdsaKey, Ed25519Key)> {
    let ShareFile {
        party_index,
        mut ecdsa_groups,
        accounts,
        ..
    } = file;
    let (mut ecdsa, mut ed25519) = (None, None);
    for account in accounts {
        match account.share {
            SchemeShare::EcdsaSecp256k1 {
                group,
                core: Some(core),
                ..
            } => {
                let group = ecdsa_groups
                    .remove(&group)
                    .ok_or_else(|| anyhow!("ECDSA group {group} is missing"))?;
                let aux = group
                    .aux
                    .ok_or_else(|| anyhow!("ECDSA group has no cggmp24 aux data"))?;
                ecdsa = Some(EcdsaKey::from_parts(*core, aux)?);
            }
            SchemeShare::EcdsaSecp256k1 { .. } => bail!("only cggmp24 accounts are benchmarked"),
            SchemeShare::Ed25519 {
                parties,
                key_package,
                public_key_package,
            } => {
                ed25519 = Some(Ed25519Key::new(
                    party_index,
                    parties,
                    key_package,
                    public_key_package,
                )?);
            }
        }
    }
    match (ecdsa, ed25519) {
        (Some(e), Some(d)) => Ok((e, d)),
        _ => bail!("party {party_index}'s file lacks an account"),
    }
}

impl Fixture {
    /// Checks a signature over `payload`: ECDSA (r || s, low s) over Keccak-256 of the payload
    /// under the child key at [`ECDSA_PATH`] with k256; Ed25519 (R || S) under the group key
    /// with ed25519-dalek's strict verification.
    pub fn verify(&self, scheme: Scheme, payload: &[u8], sig: &[u8; 64]) -> anyhow::Result<()> {
        match scheme {
            Scheme::Ecdsa => {
                let sig = k256::ecdsa::Signature::from_slice(sig)?;
                ensure!(sig.normalize_s().is_none(), "ECDSA signature has a high s");
                self.ecdsa_vk
                    .verify_prehash(&Keccak256::digest(payload), &sig)
                    .context("ECDSA signature does not verify")
            }
            Scheme::Ed25519 => self
                .ed25519_vk
                .verify_strict(payload, &ed25519_dalek::Signature::from_bytes(sig))
                .context("Ed25519 signature does not verify"),
        }
    }
}

/// The simulated NSM the service attests with (not used by signing).
pub(crate) fn nsm() -> anyhow::Result<Arc<dyn sigil_nsm::Nsm>> {
    let root = sigil_nsm::DevRoot::generate()?;
    let image = sigil_nsm::ImageMeasurement::of_bytes(b"sigil signing benchmark");
    Ok(Arc::new(sigil_nsm::SimulatedNsm::new(
        root,
        &image,
        "i-0123456789abcdef0",
        None,
    )?))
}
