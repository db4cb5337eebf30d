//! The benchmark's keys: a fresh 2-of-2 trusted-dealer ceremony (`key-gen`'s) over one ECDSA
//! account in a cggmp24 signer group (prime sets from a copy of a pool file), one ECDSA account
//! in a DKLs23 signer group and one Ed25519 account; the engines' keys of both parties, the
//! DKLs23 library's own `Party` values for the bare baseline (built from the same shares and
//! pair setups), the service's key stores as the enclave loads them, and independent verifiers.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, anyhow, bail, ensure};
use cggmp24::KeyShare;
use cggmp24::supported_curves::Secp256k1;
use dkls23_core::protocols::derivation::DerivData;
use dkls23_core::protocols::{Parameters, Party, PartyIndex};
use k256::ecdsa::signature::hazmat::PrehashVerifier;
use k256_014::elliptic_curve::PrimeField;
use sha3::{Digest, Keccak256};
use sigil_key_gen::accounts::AccountSpec;
use sigil_key_gen::ceremony::{Plan, split};
use sigil_mpc::dkls23::PairSetup;
use sigil_mpc::ecdsa::EcdsaKey;
use sigil_mpc::ed25519::Ed25519Key;
use sigil_mpc::share_file::{SchemeShare, ShareFile};
use sigil_mpc::{DerivationPath, Engine, KeyStore, ThresholdKey};

use crate::Scheme;

/// The ECDSA account.
pub const ECDSA_ACCOUNT: &str = "eth-bench";
/// The Ed25519 account.
pub const ED25519_ACCOUNT: &str = "sol-bench";
/// The DKLs23 ECDSA account.
pub const DKLS23_ACCOUNT: &str = "eth-dkls23-bench";
/// Every ECDSA signature (cggmp24 and DKLs23) is made with the child key at this
/// (non-hardened) path, as an Ethereum wallet would.
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
    /// Both parties' DKLs23 keys (`sigil_mpc::dkls23::Dkls23Key`, from their key stores, as the
    /// service holds them).
    pub dkls23: [Arc<dyn ThresholdKey>; 2],
    /// Both parties' DKLs23 root keys as the library's own `Party` (the same share, public
    /// key, chain code and pairwise OT state), for the bare-library baseline.
    pub dkls23_parties: [Party<k256_014::Secp256k1>; 2],
    /// The ECDSA child key at [`ECDSA_PATH`].
    pub ecdsa_vk: k256::ecdsa::VerifyingKey,
    /// The DKLs23 account's child key at [`ECDSA_PATH`].
    pub dkls23_vk: k256::ecdsa::VerifyingKey,
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
    let secp256k1 = sigil_mpc::Scheme::EcdsaSecp256k1;
    let mut plan = Plan::new(
        vec![
            AccountSpec::new(ECDSA_ACCOUNT, secp256k1).with_engine(Engine::Cggmp24),
            AccountSpec::new(DKLS23_ACCOUNT, secp256k1).with_engine(Engine::Dkls23),
            AccountSpec::new(ED25519_ACCOUNT, sigil_mpc::Scheme::Ed25519),
        ],
        2,
        2,
    );
    plan.primes = Some(sets);
    let ceremony = split(&plan)?;
    let stores = [ceremony.key_store(0)?, ceremony.key_store(1)?];
    let service_stores = [ceremony.key_store(0)?, ceremony.key_store(0)?];
    let dkls23 = [0, 1].map(|p| stores[p].get(DKLS23_ACCOUNT).cloned());
    let [Some(dkls23_0), Some(dkls23_1)] = dkls23 else {
        bail!("a key store lacks the DKLs23 account");
    };
    let dkls23 = [dkls23_0, dkls23_1];

    let mut ecdsa = Vec::new();
    let mut ed25519 = Vec::new();
    let mut dkls23_parties = Vec::new();
    for file in ceremony.shares {
        let (e, d, p) = engine_keys(file)?;
        ecdsa.push(Arc::new(e));
        ed25519.push(Arc::new(d));
        dkls23_parties.push(p);
    }
    let dkls23_parties: [Party<k256_014::Secp256k1>; 2] = dkls23_parties
        .try_into()
        .map_err(|_| anyhow!("the ceremony did not produce two DKLs23 keys"))?;
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
    let dkls23_vk =
        k256::ecdsa::VerifyingKey::from_sec1_bytes(&dkls23[0].public_key(&ecdsa_path)?.bytes)?;
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
            dkls23,
            dkls23_parties,
            ecdsa_vk,
            dkls23_vk,
            ed25519_vk,
            ecdsa_path,
        },
        service_stores,
    ))
}

/// Party `party`'s root key as a `dkls23_core::protocols::Party`, as `re_key` would have made
/// it: the Shamir share as `poly_point`, the account key, the pairwise state, and the chain
/// code for the library's own BIP-32 derivation.
fn library_party(
    party: usize,
    setup: &PairSetup,
    share: &sigil_mpc::dkls23::AccountShare,
    public_key: &[u8],
) -> anyhow::Result<Party<k256_014::Secp256k1>> {
    let poly_point: k256_014::Scalar =
        Option::from(k256_014::Scalar::from_repr((*share.share).into()))
            .ok_or_else(|| anyhow!("a DKLs23 share is not a scalar"))?;
    let pk = *k256_014::PublicKey::from_sec1_bytes(public_key)
        .map_err(|_| anyhow!("the DKLs23 public key is not a point"))?
        .as_affine();
    let index = u8::try_from(party + 1)
        .ok()
        .and_then(|i| PartyIndex::new(i).ok())
        .ok_or_else(|| anyhow!("party index {party}"))?;
    Ok(Party {
        parameters: Parameters::new(2, 2).map_err(|e| anyhow!("parameters: {e}"))?,
        party_index: index,
        session_id: hex::decode(&setup.session_id)?,
        poly_point,
        pk,
        zero_share: setup.zero_share.clone(),
        mul_senders: setup.mul_senders.clone(),
        mul_receivers: setup.mul_receivers.clone(),
        derivation_data: DerivData {
            depth: 0,
            child_number: 0,
            parent_fingerprint: [0; 4],
            poly_point,
            pk,
            chain_code: *share.chain_code,
        },
        address: String::new(),
    })
}

/// One party's cggmp24 and Ed25519 engine keys and its DKLs23 root key as the library's
/// `Party`, taken out of its key-share file.
fn engine_keys(
    file: ShareFile,
) -> anyhow::Result<(EcdsaKey, Ed25519Key, Party<k256_014::Secp256k1>)> {
    let ShareFile {
        party_index,
        mut ecdsa_groups,
        accounts,
        ..
    } = file;
    let (mut ecdsa, mut ed25519, mut dkls23) = (None, None, None);
    for account in accounts {
        let group_missing = |group: &str| anyhow!("ECDSA group {group} is missing");
        match account.share {
            SchemeShare::EcdsaSecp256k1 {
                group,
                core: Some(core),
                ..
            } => {
                let group = ecdsa_groups
                    .remove(&group)
                    .ok_or_else(|| group_missing(&group))?;
                let aux = group
                    .aux
                    .ok_or_else(|| anyhow!("ECDSA group has no cggmp24 aux data"))?;
                ecdsa = Some(EcdsaKey::from_parts(*core, aux)?);
            }
            SchemeShare::EcdsaSecp256k1 {
                group,
                dkls23: Some(share),
                ..
            } => {
                let setup = ecdsa_groups
                    .get(&group)
                    .and_then(|g| g.pair_setup.as_ref())
                    .ok_or_else(|| group_missing(&group))?;
                let public_key = hex::decode(&account.public_key)?;
                dkls23 = Some(library_party(
                    usize::from(party_index),
                    setup,
                    &share,
                    &public_key,
                )?);
            }
            SchemeShare::EcdsaSecp256k1 { .. } => bail!("an ECDSA account without a share"),
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
    match (ecdsa, ed25519, dkls23) {
        (Some(e), Some(d), Some(p)) => Ok((e, d, p)),
        _ => bail!("party {party_index}'s file lacks an account"),
    }
}

impl Fixture {
    /// Checks a signature over `payload`: ECDSA (r || s, low s) over Keccak-256 of the payload
    /// under the account's child key at [`ECDSA_PATH`] with k256 (cggmp24 and DKLs23); Ed25519
    /// (R || S) under the group key with ed25519-dalek's strict verification.
    pub fn verify(&self, scheme: Scheme, payload: &[u8], sig: &[u8; 64]) -> anyhow::Result<()> {
        match scheme {
            Scheme::Ecdsa | Scheme::Dkls23 => {
                let vk = if scheme == Scheme::Ecdsa {
                    &self.ecdsa_vk
                } else {
                    &self.dkls23_vk
                };
                let sig = k256::ecdsa::Signature::from_slice(sig)?;
                ensure!(sig.normalize_s().is_none(), "ECDSA signature has a high s");
                vk.verify_prehash(&Keccak256::digest(payload), &sig)
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
