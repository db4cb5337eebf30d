//! The split itself, in memory: a [`Plan`] (accounts, t-of-n, service party, optional child
//! key and chain code, the ECDSA engine, the prime sets of a cggmp24 group) becomes a
//! [`Ceremony`]: one [`ShareFile`] per party and the public [`Summary`]. No file and no age
//! here, so other crates' tests can build key-share fixtures with [`split`].
//!
//! ECDSA secp256k1 has two engines, chosen per account (the plan's [`Plan::engine`], by
//! default DKLs23, unless the account names its own); each engine used by a run gets one
//! signer group (the same n parties and t), whose per-group state is dealt once and stored
//! once per file under a group id:
//!
//! - **DKLs23** (`sigil_mpc::dkls23_dealer`): one pair setup per group (the pairwise OT and
//!   zero-share state, which does not depend on any key), then per account a Shamir split of
//!   the key at the points 1..=n, with its chain code;
//! - **cggmp24**'s trusted dealer: aux data (Paillier keys, ring-Pedersen parameters) from the
//!   n prime sets, then per account a core share.
//!
//! Every ECDSA account gets a random chain code (HD derivation on), or the given one with a
//! given child key, so a key re-split in the other engine keeps its addresses: both engines
//! derive SLIP-10 non-hardened children the same way. Ed25519: FROST `split`, party index i
//! holding FROST identifier i + 1.
//!
//! Accounts are dealt independently of each other, each with fresh randomness drawn from the
//! OS RNG by the thread dealing it, so they are dealt in parallel on every core (chunks of
//! accounts from one queue) and put back in plan order; the group state stays once per run.
//!
//! A given child key is used as is: for secp256k1 the 32-byte secret scalar (1 ≤ k < n); for
//! Ed25519 the 32-byte RFC 8032 seed, whose signing scalar is clamp(SHA-512(seed)[..32]) mod ℓ,
//! so the group key equals the seed's standard Ed25519 public key.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use cggmp24::generic_ec::{NonZero, Point, SecretScalar};
use cggmp24::key_share::{AuxInfo, Validate};
use cggmp24::security_level::SecurityLevel128;
use cggmp24::supported_curves::Secp256k1;
use curve25519_dalek::Scalar as EdScalar;
use curve25519_dalek::edwards::EdwardsPoint;
use frost_ed25519::SigningKey;
use frost_ed25519::keys::{IdentifierList, KeyPackage};
use serde::Serialize;
use sha2::{Digest, Sha256, Sha512};
use sigil_mpc::dkls23_dealer as dealer;
use sigil_mpc::ecdsa::point_bytes;
use sigil_mpc::ed25519::identifier;
use sigil_mpc::share_file::{AccountShare, EcdsaGroup, FORMAT, SchemeShare, ShareFile, VERSION};
use sigil_mpc::{DerivationPath, Engine, KeyStore, MAX_PARTIES, PublicKey, Scheme};
use zeroize::{Zeroize, Zeroizing};

use crate::KeyGenError;
use crate::accounts::{AccountSpec, check_accounts};
use crate::primes::{PrimeSet, check_sizes};
use crate::summary::{AccountSummary, SUMMARY_FORMAT, SUMMARY_VERSION, Sizes, Summary};

/// A 32-byte child key to split instead of a fresh one: a secp256k1 secret scalar (big-endian)
/// or an Ed25519 RFC 8032 seed, depending on the account's scheme. Zeroized on drop; its
/// `Debug` shows nothing.
#[derive(Clone)]
pub struct ChildKey(Zeroizing<[u8; 32]>);

impl ChildKey {
    /// From raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// From 64 hex digits (an optional `0x` prefix and surrounding whitespace are ignored).
    pub fn from_hex(text: &str) -> Result<Self, KeyGenError> {
        let t = text.trim();
        let t = t.strip_prefix("0x").unwrap_or(t);
        let mut out = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(t, &mut out[..]).map_err(|_| {
            KeyGenError::Input("--child-key must be 32 bytes as 64 hex digits".into())
        })?;
        Ok(Self(out))
    }

    /// As a secp256k1 secret key; rejects 0 and values ≥ the group order.
    pub fn secp256k1(&self) -> Result<NonZero<SecretScalar<Secp256k1>>, KeyGenError> {
        SecretScalar::<Secp256k1>::from_be_bytes(&self.0[..])
            .ok()
            .and_then(NonZero::from_secret_scalar)
            .ok_or_else(|| {
                KeyGenError::Input(
                    "--child-key is not a valid secp256k1 secret key (must be 1 ≤ k < n)".into(),
                )
            })
    }

    /// The Ed25519 signing scalar of the seed: clamp(SHA-512(seed)[..32]) mod ℓ (RFC 8032).
    fn ed25519_scalar(&self) -> EdScalar {
        let mut h = Sha512::digest(&self.0[..]);
        let mut s = Zeroizing::new([0u8; 32]);
        s.copy_from_slice(&h[..32]);
        h.as_mut_slice().zeroize();
        s[0] &= 248;
        s[31] &= 127;
        s[31] |= 64;
        EdScalar::from_bytes_mod_order(*s)
    }

    /// As a FROST Ed25519 signing key (the seed's RFC 8032 scalar).
    fn ed25519(&self) -> Result<(SigningKey, [u8; 32]), KeyGenError> {
        let mut scalar = self.ed25519_scalar();
        let public = EdwardsPoint::mul_base(&scalar).compress().to_bytes();
        let key = SigningKey::deserialize(scalar.as_bytes()).map_err(|e| {
            KeyGenError::Input(format!("--child-key is not a usable Ed25519 seed: {e}"))
        });
        scalar.zeroize();
        Ok((key?, public))
    }
}

impl fmt::Debug for ChildKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChildKey(<redacted>)")
    }
}

/// A BIP32/SLIP-10 chain code from 64 hex digits (an optional `0x` prefix and surrounding
/// whitespace are ignored): `--chain-code`.
pub fn parse_chain_code(text: &str) -> Result<[u8; 32], KeyGenError> {
    let t = text.trim();
    let t = t.strip_prefix("0x").unwrap_or(t);
    let mut out = [0u8; 32];
    hex::decode_to_slice(t, &mut out[..])
        .map_err(|_| KeyGenError::Input("--chain-code must be 32 bytes as 64 hex digits".into()))?;
    Ok(out)
}

/// The ECDSA engine of accounts that name none, in [`Plan::new`] and on the command line.
pub const DEFAULT_ENGINE: Engine = Engine::Dkls23;

/// What to split.
#[derive(Clone)]
pub struct Plan {
    /// The accounts, in output order.
    pub accounts: Vec<AccountSpec>,
    /// Number of parties n (2..=16).
    pub parties: u16,
    /// Signers needed t (2..=n).
    pub threshold: u16,
    /// Key-generation index of the service (recorded in the summary).
    pub service_party: u16,
    /// A key to split instead of a fresh one (exactly one account).
    pub child_key: Option<ChildKey>,
    /// The chain code of the `child_key` account (secp256k1 only), so that a key re-split keeps
    /// its derived addresses. `None`: a fresh random one.
    pub chain_code: Option<[u8; 32]>,
    /// The ECDSA engine of accounts that name none ([`DEFAULT_ENGINE`] in [`Plan::new`]).
    pub engine: Engine,
    /// One prime set per party for the cggmp24 group, from a pool. `None`: generate them now
    /// (minutes per set). Ignored when no account is a cggmp24 account.
    pub primes: Option<Vec<PrimeSet>>,
}

impl Plan {
    /// A plan with fresh keys, ECDSA accounts in [`DEFAULT_ENGINE`] unless they name their
    /// own, and no prime sets yet.
    pub fn new(accounts: Vec<AccountSpec>, parties: u16, threshold: u16) -> Self {
        Self {
            accounts,
            parties,
            threshold,
            service_party: 0,
            child_key: None,
            chain_code: None,
            engine: DEFAULT_ENGINE,
            primes: None,
        }
    }

    /// The ECDSA engine `account` is dealt in (its own, or the plan's); `None` for Ed25519.
    pub fn engine_of(&self, account: &AccountSpec) -> Option<Engine> {
        match account.scheme {
            Scheme::EcdsaSecp256k1 => Some(account.engine.unwrap_or(self.engine)),
            Scheme::Ed25519 => None,
        }
    }

    /// Whether any account is dealt in `engine`.
    pub fn uses(&self, engine: Engine) -> bool {
        self.accounts
            .iter()
            .any(|a| self.engine_of(a) == Some(engine))
    }

    /// Whether any account is a cggmp24 account (and so the run needs prime sets).
    pub fn needs_primes(&self) -> bool {
        self.uses(Engine::Cggmp24)
    }

    /// Checks everything that does not need the dealer: party counts, accounts, child key,
    /// prime sets.
    pub fn validate(&self) -> Result<(), KeyGenError> {
        check_parameters(self.parties, self.threshold, self.service_party)?;
        check_accounts(&self.accounts)?;
        if let Some(key) = &self.child_key {
            let [account] = self.accounts.as_slice() else {
                return Err(KeyGenError::Input(format!(
                    "--child-key splits one given key: it needs exactly one account, got {}",
                    self.accounts.len()
                )));
            };
            match account.scheme {
                Scheme::EcdsaSecp256k1 => drop(key.secp256k1()?),
                Scheme::Ed25519 => drop(key.ed25519()?),
            }
        }
        if self.chain_code.is_some() {
            match (self.child_key.is_some(), self.accounts.as_slice()) {
                (false, _) => {
                    return Err(KeyGenError::Input(
                        "--chain-code goes with --child-key (a fresh key gets a fresh chain code)"
                            .into(),
                    ));
                }
                (true, [account]) if account.scheme != Scheme::EcdsaSecp256k1 => {
                    return Err(KeyGenError::Input(format!(
                        "--chain-code is for a secp256k1 key; account {:?} is {}",
                        account.account_id, account.scheme
                    )));
                }
                _ => {}
            }
        }
        if let (true, Some(sets)) = (self.needs_primes(), &self.primes) {
            if sets.len() != usize::from(self.parties) {
                return Err(KeyGenError::Input(format!(
                    "{} prime sets given for {} parties (one set per party)",
                    sets.len(),
                    self.parties
                )));
            }
            for (i, set) in sets.iter().enumerate() {
                check_sizes(set).map_err(|e| KeyGenError::Input(format!("prime set {i}: {e}")))?;
            }
        }
        Ok(())
    }
}

/// Checks 2 ≤ threshold ≤ parties ≤ 16 and service_party < parties.
pub fn check_parameters(
    parties: u16,
    threshold: u16,
    service_party: u16,
) -> Result<(), KeyGenError> {
    if !(2..=MAX_PARTIES).contains(&parties) {
        return Err(KeyGenError::Input(format!(
            "--parties must be 2 to {MAX_PARTIES}, got {parties}"
        )));
    }
    if threshold < 2 {
        return Err(KeyGenError::Input(format!(
            "--threshold must be at least 2, got {threshold} (1-of-n would hand every party the whole key)"
        )));
    }
    if threshold > parties {
        return Err(KeyGenError::Input(format!(
            "--threshold {threshold} is larger than --parties {parties}"
        )));
    }
    if service_party >= parties {
        return Err(KeyGenError::Input(format!(
            "--service-party {service_party} is not a party (parties are 0..{})",
            parties - 1
        )));
    }
    Ok(())
}

/// The result of a split: one key-share file per party (index = party) and the summary.
pub struct Ceremony {
    /// `shares[i]` is party i's file.
    pub shares: Vec<ShareFile>,
    /// The public summary (`files` is filled in by [`crate::output::write_run`]).
    pub summary: Summary,
}

impl Ceremony {
    /// Party `party`'s file as compact JSON in a zeroizing buffer, after checking that
    /// [`KeyStore::from_json`] accepts it and agrees with the summary (party index, accounts,
    /// public keys, threshold).
    pub fn party_json(&self, party: u16) -> Result<Zeroizing<Vec<u8>>, KeyGenError> {
        let file = self
            .shares
            .get(usize::from(party))
            .ok_or_else(|| KeyGenError::Input(format!("party {party} is not in this ceremony")))?;
        let json = file_json(file)
            .map_err(|e| KeyGenError::Dealer(format!("encoding party {party}'s file: {e}")))?;
        let store = KeyStore::from_json(&json).map_err(|e| {
            KeyGenError::Dealer(format!("party {party}'s file does not validate: {e}"))
        })?;
        self.check_store(party, &store)?;
        Ok(json)
    }

    /// Party `party`'s validated key store (through [`Self::party_json`]).
    pub fn key_store(&self, party: u16) -> Result<KeyStore, KeyGenError> {
        let json = self.party_json(party)?;
        KeyStore::from_json(&json).map_err(|e| KeyGenError::Dealer(e.to_string()))
    }

    fn check_store(&self, party: u16, store: &KeyStore) -> Result<(), KeyGenError> {
        let bad = |why: String| KeyGenError::Dealer(format!("party {party}'s file: {why}"));
        if store.party_index() != party || store.len() != self.summary.accounts.len() {
            return Err(bad(
                "party index or account count differs from the plan".into()
            ));
        }
        let engines: BTreeMap<&str, Engine> = (self.summary.ecdsa_groups.iter())
            .map(|(id, e)| (id.as_str(), *e))
            .collect();
        if store.ecdsa_engines() != engines {
            return Err(bad("its ECDSA groups differ from the plan".into()));
        }
        in_parallel(&self.summary.accounts, |a| {
            let key = store
                .get(&a.account_id)
                .ok_or_else(|| bad(format!("account {:?} is missing", a.account_id)))?;
            let pk = key
                .public_key(&DerivationPath::root())
                .map_err(|e| bad(e.to_string()))?;
            if key.scheme() != a.scheme
                || hex::encode(&pk.bytes) != a.public_key
                || key.threshold() != a.threshold
                || key.parties() != a.parties
            {
                return Err(bad(format!(
                    "account {:?} differs from the summary",
                    a.account_id
                )));
            }
            Ok(())
        })
        .map(drop)
    }
}

/// Splits every account of `plan`. Validates the plan first; the dealer's randomness is the
/// OS RNG.
pub fn split(plan: &Plan) -> Result<Ceremony, KeyGenError> {
    plan.validate()?;
    let (n, t) = (plan.parties, plan.threshold);
    let mut shares: Vec<ShareFile> = (0..n)
        .map(|i| ShareFile {
            format: FORMAT.to_owned(),
            version: VERSION,
            party_index: i,
            ecdsa_groups: BTreeMap::new(),
            accounts: Vec::with_capacity(plan.accounts.len()),
        })
        .collect();

    let cggmp24_group = if plan.uses(Engine::Cggmp24) {
        Some(deal_cggmp24_group(plan, &mut shares)?)
    } else {
        None
    };
    let dkls23_group = if plan.uses(Engine::Dkls23) {
        Some(deal_dkls23_group(n, t, &mut shares)?)
    } else {
        None
    };

    // Every account is dealt on its own (fresh randomness from the OS RNG, no state shared
    // between accounts), so accounts are dealt in parallel and put back in plan order.
    let child = plan.child_key.as_ref();
    let chain_code = plan.chain_code;
    let no_group = || KeyGenError::Dealer("no ECDSA group for the account's engine".into());
    let dealt = in_parallel(&plan.accounts, |spec| match plan.engine_of(spec) {
        Some(Engine::Cggmp24) => {
            let group = cggmp24_group.as_deref().ok_or_else(no_group)?;
            split_cggmp24(spec, n, t, child, chain_code, group)
        }
        Some(Engine::Dkls23) => {
            let group = dkls23_group.as_deref().ok_or_else(no_group)?;
            split_dkls23(spec, n, t, child, chain_code, group)
        }
        None => split_ed25519(spec, n, t, child),
    })?;
    let mut accounts = Vec::with_capacity(plan.accounts.len());
    for Dealt {
        shares: parts,
        summary,
    } in dealt
    {
        if parts.len() != shares.len() {
            return Err(KeyGenError::Dealer(format!(
                "account {:?}: the dealer returned shares for the wrong number of parties",
                summary.account_id
            )));
        }
        for (file, part) in shares.iter_mut().zip(parts) {
            file.accounts.push(part);
        }
        accounts.push(summary);
    }

    let ecdsa_groups = [
        (cggmp24_group, Engine::Cggmp24),
        (dkls23_group, Engine::Dkls23),
    ]
    .into_iter()
    .filter_map(|(id, engine)| Some((id?, engine)))
    .collect();
    let sizes = measure(&shares[usize::from(plan.service_party)])?;
    Ok(Ceremony {
        shares,
        summary: Summary {
            format: SUMMARY_FORMAT.to_owned(),
            version: SUMMARY_VERSION,
            parties: n,
            threshold: t,
            service_party: plan.service_party,
            ecdsa_groups,
            accounts,
            sizes,
            files: Vec::new(),
            insecure_plaintext_written: false,
        },
    })
}

/// Deals the cggmp24 group's aux data from the plan's prime sets (or sets generated now)
/// into every party's file; returns the group id.
fn deal_cggmp24_group(plan: &Plan, shares: &mut [ShareFile]) -> Result<String, KeyGenError> {
    let n = plan.parties;
    let primes = match &plan.primes {
        Some(p) => p.clone(),
        None => generate_primes_now(n)?,
    };
    let aux = cggmp24::trusted_dealer::generate_aux_data_with_primes::<SecurityLevel128, _>(
        &mut rand_core::OsRng,
        primes,
        false,
    )
    .map_err(|e| {
        KeyGenError::Dealer(format!(
            "cggmp24 aux data: {}",
            sigil_std_ext::error_chain(&e)
        ))
    })?;
    if aux.len() != usize::from(n) {
        return Err(KeyGenError::Dealer(
            "cggmp24 returned aux data for the wrong number of parties".into(),
        ));
    }
    let id = group_id(&aux[0]);
    for (file, aux) in shares.iter_mut().zip(aux) {
        file.ecdsa_groups
            .insert(id.clone(), EcdsaGroup::cggmp24(n, aux));
    }
    Ok(id)
}

/// Deals the DKLs23 group's pair setups (one per party, none depending on a key) into every
/// party's file; returns the group id.
fn deal_dkls23_group(n: u16, t: u16, shares: &mut [ShareFile]) -> Result<String, KeyGenError> {
    let setups = dealer::pair_setups(t, n)
        .map_err(|e| KeyGenError::Dealer(format!("dkls23 pair setups: {e}")))?;
    let session_id = setups.first().map(|s| s.session_id.clone());
    let Some(session_id) = session_id
        .filter(|id| setups.len() == usize::from(n) && setups.iter().all(|s| &s.session_id == id))
    else {
        return Err(KeyGenError::Dealer(
            "dkls23 returned inconsistent pair setups".into(),
        ));
    };
    let id = dkls23_group_id(&session_id);
    for (file, setup) in shares.iter_mut().zip(setups) {
        file.ecdsa_groups
            .insert(id.clone(), EcdsaGroup::dkls23(n, t, setup));
    }
    Ok(id)
}

/// Generates one prime set per party on the spot, in parallel (slow: minutes per set).
fn generate_primes_now(n: u16) -> Result<Vec<PrimeSet>, KeyGenError> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let mut sets = Vec::with_capacity(usize::from(n));
    crate::primes::generate::<SecurityLevel128>(
        usize::from(n),
        threads,
        |_, _| {},
        |set, _, _| {
            sets.push(set);
            Ok(())
        },
    )?;
    Ok(sets)
}

/// `secp256k1-` and the first 8 bytes of SHA-256 over the group's Paillier moduli: unique per
/// group, and checkable against the file's own aux data.
fn group_id(aux: &AuxInfo) -> String {
    let mut h = Sha256::new();
    h.update(b"sigil/ecdsa-group/v1");
    for n in &aux.N {
        let bytes = n.to_bytes_msf();
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(&bytes);
    }
    format!("secp256k1-{}", hex::encode(&h.finalize()[..8]))
}

/// `secp256k1-dkls23-` and the first 8 bytes of SHA-256 over the group's dealing id (the pair
/// setups' `session_id`, the same in every party's file): unique per dealing.
fn dkls23_group_id(session_id: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"sigil/ecdsa-group/dkls23/v1");
    h.update(session_id.as_bytes());
    format!("secp256k1-dkls23-{}", hex::encode(&h.finalize()[..8]))
}

/// One account, dealt: its entry in every party's file (index = party) and its summary.
struct Dealt {
    shares: Vec<AccountShare>,
    summary: AccountSummary,
}

/// Accounts handed to a thread at a time.
const DEAL_CHUNK: usize = 64;

/// One chunk's first index and its results.
type DealtChunk<U> = (usize, Result<Vec<U>, KeyGenError>);

/// Runs `f` over `items` on every available core, results in input order; fails with the
/// first error by input order. The calling thread works too; a helper thread that cannot be
/// spawned is simply missing.
fn in_parallel<T, U, F>(items: &[T], f: F) -> Result<Vec<U>, KeyGenError>
where
    T: Sync,
    U: Send,
    F: Fn(&T) -> Result<U, KeyGenError> + Sync,
{
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let threads = cores.min(items.len().div_ceil(DEAL_CHUNK)).max(1);
    if threads == 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let done: Mutex<Vec<DealtChunk<U>>> = Mutex::new(Vec::new());
    let work = || {
        while !failed.load(Ordering::Relaxed) {
            let start = next.fetch_add(DEAL_CHUNK, Ordering::Relaxed);
            let Some(chunk) = items.get(start..items.len().min(start + DEAL_CHUNK)) else {
                return;
            };
            if chunk.is_empty() {
                return;
            }
            let result: Result<Vec<U>, KeyGenError> = chunk.iter().map(&f).collect();
            if result.is_err() {
                failed.store(true, Ordering::Relaxed);
            }
            done.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((start, result));
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..threads {
            let _ = std::thread::Builder::new().spawn_scoped(scope, work);
        }
        work();
    });
    let mut chunks = done.into_inner().unwrap_or_else(PoisonError::into_inner);
    chunks.sort_unstable_by_key(|(start, _)| *start);
    let mut out = Vec::with_capacity(items.len());
    for (start, result) in chunks {
        if start != out.len() {
            break;
        }
        out.extend(result?);
    }
    if out.len() != items.len() {
        return Err(KeyGenError::Dealer(
            "an account was not dealt (a dealing thread stopped)".into(),
        ));
    }
    Ok(out)
}

fn split_cggmp24(
    spec: &AccountSpec,
    n: u16,
    t: u16,
    child: Option<&ChildKey>,
    given_chain_code: Option<[u8; 32]>,
    group: &str,
) -> Result<Dealt, KeyGenError> {
    let rng = &mut rand_core::OsRng;
    let fail = |why: String| KeyGenError::Dealer(format!("account {:?}: {why}", spec.account_id));
    let mut builder = cggmp24::trusted_dealer::builder::<Secp256k1, SecurityLevel128>(n)
        .set_threshold(Some(t))
        .hd_wallet(true);
    let mut expected = None;
    if let Some(key) = child {
        let sk = key.secp256k1()?;
        expected = Some(Point::<Secp256k1>::generator() * &sk);
        builder = builder.set_shared_secret_key(sk);
    }
    let mut cores = builder
        .generate_core_shares(rng)
        .map_err(|e| fail(sigil_std_ext::error_chain(&e)))?;
    if let Some(code) = given_chain_code {
        // The dealer draws a random chain code and has no setter; the chain code is a public
        // field of the core share, constrained by nothing else cggmp24 checks, so it is set
        // here and every share validated again.
        cores = cores
            .into_iter()
            .map(|core| {
                let mut dirty = core.into_inner();
                dirty.key_info.chain_code = Some(code);
                dirty
                    .validate()
                    .map_err(|e| fail(sigil_std_ext::error_chain(&e.into_error())))
            })
            .collect::<Result<_, _>>()?;
    }
    let first = cores
        .first()
        .ok_or_else(|| fail("the dealer returned no share".into()))?;
    let public = first.shared_public_key;
    let chain_code = first
        .chain_code
        .ok_or_else(|| fail("the dealer returned no chain code".into()))?;
    if cores.len() != usize::from(n)
        || expected.is_some_and(|e| e != *public)
        || given_chain_code.is_some_and(|c| c != chain_code)
        || cores
            .iter()
            .any(|c| c.shared_public_key != public || c.chain_code != Some(chain_code))
    {
        return Err(fail("the dealer's shares are inconsistent".into()));
    }
    let shares = cores
        .into_iter()
        .map(|core| SchemeShare::EcdsaSecp256k1 {
            group: group.to_owned(),
            core: Some(Box::new(core)),
            dkls23: None,
        })
        .collect();
    Ok(ecdsa_dealt(
        spec,
        Engine::Cggmp24,
        t,
        n,
        &public,
        chain_code,
        shares,
    ))
}

/// One ECDSA account's dealt shares (one per party, in party order) as file entries, and its
/// summary line.
fn ecdsa_dealt(
    spec: &AccountSpec,
    engine: Engine,
    t: u16,
    n: u16,
    public: &Point<Secp256k1>,
    chain_code: [u8; 32],
    shares: Vec<SchemeShare>,
) -> Dealt {
    let public_key = PublicKey {
        scheme: Scheme::EcdsaSecp256k1,
        bytes: point_bytes(public),
    };
    let public_hex = hex::encode(&public_key.bytes);
    let shares = shares
        .into_iter()
        .map(|share| AccountShare {
            account_id: spec.account_id.clone(),
            public_key: public_hex.clone(),
            share,
        })
        .collect();
    let summary = AccountSummary {
        account_id: spec.account_id.clone(),
        scheme: Scheme::EcdsaSecp256k1,
        engine: Some(engine),
        threshold: t,
        parties: n,
        public_key: public_hex,
        chain_code: Some(hex::encode(chain_code)),
        ethereum_address: public_key.ethereum_address(),
    };
    Dealt { shares, summary }
}

fn split_dkls23(
    spec: &AccountSpec,
    n: u16,
    t: u16,
    child: Option<&ChildKey>,
    given_chain_code: Option<[u8; 32]>,
    group: &str,
) -> Result<Dealt, KeyGenError> {
    let fail = |why: String| KeyGenError::Dealer(format!("account {:?}: {why}", spec.account_id));
    let secret = match child {
        Some(key) => key.secp256k1()?,
        None => NonZero::<SecretScalar<Secp256k1>>::random(&mut rand_core::OsRng),
    };
    let chain_code = given_chain_code.unwrap_or_else(|| {
        let mut code = [0u8; 32];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut code);
        code
    });
    let public = Point::<Secp256k1>::generator() * &secret;
    let parts = dealer::split(&secret, chain_code, t, n).map_err(|e| fail(e.to_string()))?;
    drop(secret);
    if parts.len() != usize::from(n) {
        return Err(fail("the dealer's shares are inconsistent".into()));
    }
    let shares = parts
        .into_iter()
        .map(|share| SchemeShare::EcdsaSecp256k1 {
            group: group.to_owned(),
            core: None,
            dkls23: Some(share),
        })
        .collect();
    Ok(ecdsa_dealt(
        spec,
        Engine::Dkls23,
        t,
        n,
        &public,
        chain_code,
        shares,
    ))
}

fn split_ed25519(
    spec: &AccountSpec,
    n: u16,
    t: u16,
    child: Option<&ChildKey>,
) -> Result<Dealt, KeyGenError> {
    let rng = &mut rand_core::OsRng;
    let fail = |why: String| KeyGenError::Dealer(format!("account {:?}: {why}", spec.account_id));
    let (key, expected) = match child {
        Some(c) => {
            let (key, public) = c.ed25519()?;
            (key, Some(public))
        }
        None => (SigningKey::new(rng), None),
    };
    let (mut secret_shares, public_key_package) =
        frost_ed25519::keys::split(&key, n, t, IdentifierList::Default, rng)
            .map_err(|e| fail(e.to_string()))?;
    drop(key);
    let public = public_key_package
        .verifying_key()
        .serialize()
        .map_err(|e| fail(e.to_string()))?;
    if expected.is_some_and(|e| e[..] != public[..]) {
        return Err(fail(
            "the group key differs from the seed's public key".into(),
        ));
    }
    let public_hex = hex::encode(&public);
    let mut shares = Vec::with_capacity(usize::from(n));
    for i in 0..n {
        let id = identifier(i).map_err(|e| fail(e.to_string()))?;
        let share = secret_shares
            .remove(&id)
            .ok_or_else(|| fail(format!("FROST returned no share for party {i}")))?;
        let key_package =
            KeyPackage::try_from(share).map_err(|e| fail(format!("party {i}'s share: {e}")))?;
        shares.push(AccountShare {
            account_id: spec.account_id.clone(),
            public_key: public_hex.clone(),
            share: SchemeShare::Ed25519 {
                parties: n,
                key_package,
                public_key_package: public_key_package.clone(),
            },
        });
    }
    if !secret_shares.is_empty() {
        return Err(fail("FROST returned shares for unknown parties".into()));
    }
    let summary = AccountSummary {
        account_id: spec.account_id.clone(),
        scheme: Scheme::Ed25519,
        engine: None,
        threshold: t,
        parties: n,
        public_key: public_hex,
        chain_code: None,
        ethereum_address: None,
    };
    Ok(Dealt { shares, summary })
}

/// The file's header fields and groups: [`ShareFile`]'s encoding with no account (same
/// fields, same order; `accounts` is last).
#[derive(Serialize)]
struct FileOutline<'a> {
    format: &'a str,
    version: u32,
    party_index: u16,
    ecdsa_groups: &'a BTreeMap<String, EcdsaGroup>,
    accounts: [(); 0],
}

/// A file as compact JSON in a zeroizing buffer of exactly its size, byte for byte what
/// `serde_json::to_writer` writes, with the accounts encoded in parallel: each thread encodes
/// a chunk of accounts into a zeroizing buffer of its own (sized exactly, so it never
/// reallocates), and the chunks are copied into the final buffer and wiped.
pub fn file_json(file: &ShareFile) -> Result<Zeroizing<Vec<u8>>, KeyGenError> {
    let encoding = |e: serde_json::Error| KeyGenError::Dealer(format!("encoding: {e}"));
    let outline = FileOutline {
        format: &file.format,
        version: file.version,
        party_index: file.party_index,
        ecdsa_groups: &file.ecdsa_groups,
        accounts: [],
    };
    let head = crate::json::to_json_zeroizing(&outline).map_err(encoding)?;
    // `...,"accounts":[]}`: the accounts go between the brackets.
    let head = head
        .strip_suffix(b"]}")
        .ok_or_else(|| KeyGenError::Dealer("encoding: unexpected file outline".into()))?;
    let chunks: Vec<&[AccountShare]> = file.accounts.chunks(DEAL_CHUNK).collect();
    let parts = in_parallel(&chunks, |chunk| {
        let (first, rest) = chunk
            .split_first()
            .ok_or_else(|| KeyGenError::Dealer("encoding: an empty chunk".into()))?;
        let len = rest.iter().try_fold(rest.len(), |n, a| {
            Ok::<_, serde_json::Error>(n + crate::json::json_len(a)?)
        });
        let len = len.and_then(|n| Ok(n + crate::json::json_len(first)?));
        let mut buf = Zeroizing::new(Vec::with_capacity(len.map_err(encoding)?));
        serde_json::to_writer(&mut *buf, first).map_err(encoding)?;
        for account in rest {
            buf.push(b',');
            serde_json::to_writer(&mut *buf, account).map_err(encoding)?;
        }
        Ok(buf)
    })?;
    let commas = parts.len().saturating_sub(1);
    let total = head.len() + parts.iter().map(|p| p.len()).sum::<usize>() + commas + 2;
    let mut json = Zeroizing::new(Vec::with_capacity(total));
    json.extend_from_slice(head);
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            json.push(b',');
        }
        json.extend_from_slice(part);
    }
    json.extend_from_slice(b"]}");
    if json.len() != json.capacity() {
        return Err(KeyGenError::Dealer(
            "encoding: the file's size was mispredicted".into(),
        ));
    }
    Ok(json)
}

/// Sizes of one file's compact JSON: the largest account entry per kind of share
/// (`ecdsa-secp256k1/cggmp24`, `ecdsa-secp256k1/dkls23`, `ed25519`) and each ECDSA group.
fn measure(file: &ShareFile) -> Result<Sizes, KeyGenError> {
    let len = |r: Result<usize, serde_json::Error>| {
        r.map_err(|e| KeyGenError::Dealer(format!("encoding: {e}")))
    };
    let lengths = in_parallel(&file.accounts, |account| {
        len(crate::json::json_len(account))
    })?;
    let mut sizes = Sizes::default();
    for (account, bytes) in file.accounts.iter().zip(lengths) {
        let kind = match &account.share {
            SchemeShare::EcdsaSecp256k1 {
                dkls23: Some(_), ..
            } => "ecdsa-secp256k1/dkls23",
            SchemeShare::EcdsaSecp256k1 { .. } => "ecdsa-secp256k1/cggmp24",
            SchemeShare::Ed25519 { .. } => "ed25519",
        };
        let entry = sizes.bytes_per_account.entry(kind.to_owned()).or_default();
        *entry = (*entry).max(bytes);
    }
    for group in file.ecdsa_groups.values() {
        sizes.ecdsa_group_bytes.insert(
            group.engine.as_str().to_owned(),
            len(crate::json::json_len(group))?,
        );
    }
    Ok(sizes)
}
