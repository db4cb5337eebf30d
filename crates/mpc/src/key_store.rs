//! [`KeyStore`]: every account of one party, validated from a key-share file
//! ([`share_file`](crate::share_file)) and ready to sign.
//!
//! In memory the file's sharing holds: each ECDSA signer group's state is validated once and
//! shared by its accounts (cggmp24's aux data, [`GroupAux`]; DKLs23's pair setup,
//! [`Dkls23Group`]), each account keeps only its own share.
//!
//! Loading validates every share (cggmp24's and FROST's own checks plus ours) and fails
//! closed on the first problem by account order. [`KeyStore::from_json`] reads the file's
//! outline first, keeping each group and account as a slice of the input (no decoded copy of
//! the whole file), decodes and checks the groups, then decodes and validates the accounts in
//! parallel on every core. Errors name the account and the problem, never a value.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use cggmp24::IncompleteKeyShare;
use cggmp24::key_share::DirtyIncompleteKeyShare;
use cggmp24::supported_curves::Secp256k1;
use serde_json::value::RawValue;

use crate::dkls23::{Dkls23Group, Dkls23Key, Freeze};
use crate::ecdsa::{EcdsaKey, GroupAux};
use crate::ed25519::{Ed25519Key, EncodedShare};
use crate::json::{self, Within};
use crate::parallel::{Ordered, threads_for, try_map_ordered};
use crate::share_file::{
    AccountIdOnly, AccountIn, AccountShare, EcdsaGroup, Engine, Outline, SchemeShare, ShareFile,
    ShareFileError, ShareIn, check_header,
};
use crate::{DerivationPath, MAX_PARTIES, ThresholdKey};

/// A group or account of the outline: its bytes, and where they sit in the file.
fn part<'a>(json: &'a [u8], raw: &'a RawValue) -> (&'a [u8], Within<'a>) {
    let bytes = raw.get().as_bytes();
    (bytes, Within::new(json, bytes))
}

/// One ECDSA signer group's checked state, shared by its accounts.
#[derive(Clone)]
enum GroupState {
    Cggmp24(GroupAux),
    Dkls23(Arc<Dkls23Group>),
}

/// Checks a group of a file of `version` for party `me`: its party count, and its engine's
/// state (cggmp24 aux data, or a DKLs23 pair setup and threshold) and nothing else.
fn check_group(
    id: &str,
    group: EcdsaGroup,
    me: u16,
    version: u32,
) -> Result<GroupState, ShareFileError> {
    let bad = |why: &str| ShareFileError::Header(format!("ECDSA group {id:?}: {why}"));
    if group.parties < 2 || group.parties > MAX_PARTIES {
        return Err(bad("party count is inconsistent"));
    }
    match group {
        EcdsaGroup {
            engine: Engine::Cggmp24,
            parties,
            aux: Some(aux),
            threshold: None,
            pair_setup: None,
        } => {
            if aux.N.len() != usize::from(parties) {
                return Err(bad("party count is inconsistent"));
            }
            GroupAux::new(aux, me)
                .map(GroupState::Cggmp24)
                .map_err(|e| bad(&e.to_string()))
        }
        EcdsaGroup {
            engine: Engine::Dkls23,
            parties,
            aux: None,
            threshold: Some(threshold),
            pair_setup: Some(setup),
        } => {
            if version < 2 {
                return Err(bad("DKLs23 groups need a version 2 file"));
            }
            Dkls23Group::new(id, me, threshold, parties, setup)
                .map(|g| GroupState::Dkls23(Arc::new(g)))
                .map_err(|e| bad(&e.to_string()))
        }
        EcdsaGroup {
            engine: Engine::Cggmp24,
            ..
        } => Err(bad(
            "a cggmp24 group has `aux` and no `threshold` or `pair_setup`",
        )),
        EcdsaGroup {
            engine: Engine::Dkls23,
            ..
        } => Err(bad(
            "a dkls23 group has `threshold` and `pair_setup` and no `aux`",
        )),
    }
}

/// The checked groups of a file: index by id, and each group's shared state.
#[derive(Default)]
struct Groups {
    index: BTreeMap<String, usize>,
    state: Vec<GroupState>,
}

impl Groups {
    fn insert(&mut self, id: String, state: GroupState) {
        match self.index.get(&id).and_then(|&i| self.state.get_mut(i)) {
            Some(slot) => *slot = state,
            None => {
                self.index.insert(id, self.state.len());
                self.state.push(state);
            }
        }
    }
}

/// A cggmp24 core share as either path decoded it.
enum EcdsaCore {
    /// Validated by cggmp24's decoder.
    Valid(Box<IncompleteKeyShare<Secp256k1>>),
    /// Decoded only; [`EcdsaKey::check_with_group`] validates it.
    Unchecked(Box<DirtyIncompleteKeyShare<Secp256k1>>),
}

impl EcdsaCore {
    fn party(&self) -> u16 {
        match self {
            EcdsaCore::Valid(c) => c.i,
            EcdsaCore::Unchecked(c) => c.i,
        }
    }

    fn key(self, aux: &GroupAux) -> Result<EcdsaKey, crate::MpcError> {
        match self {
            EcdsaCore::Valid(c) => EcdsaKey::with_group(*c, aux),
            EcdsaCore::Unchecked(c) => EcdsaKey::check_with_group(*c, aux),
        }
    }
}

/// A validated account: its id, its key, and the index of its ECDSA group.
type Loaded = (String, Arc<dyn ThresholdKey>, Option<usize>);

/// A share as decoded by either path: [`SchemeShare`] (validated by the libraries' decoders)
/// or [`ShareIn`] (checked by the engines).
#[allow(clippy::large_enum_variant)] // one at a time per thread, moved into the engine key
enum AnyShare<'a> {
    Decoded(SchemeShare),
    Raw(ShareIn<'a>),
}

/// Validates one decoded account of party `me` into its engine key.
fn account_key(
    me: u16,
    groups: &Groups,
    id: String,
    public_key: &str,
    share: AnyShare<'_>,
) -> Result<Loaded, ShareFileError> {
    let fail = |reason: String| ShareFileError::Account {
        account_id: id.clone(),
        reason,
    };
    crate::validate::account_id(&id).map_err(|e| fail(e.to_string()))?;
    let mut group_index = None;
    let group_of = |group: &str| {
        let index = *groups
            .index
            .get(group)
            .ok_or_else(|| fail(format!("ECDSA group {group:?} is not in the file")))?;
        let state = groups
            .state
            .get(index)
            .ok_or_else(|| fail(format!("ECDSA group {group:?} is not in the file")))?;
        Ok::<_, ShareFileError>((index, state))
    };
    let other_party = |i: u16| {
        fail(format!(
            "share belongs to party {i}, the file to party {me}"
        ))
    };
    let ed25519_parties = |parties: u16| {
        if (2..=MAX_PARTIES).contains(&parties) {
            Ok(())
        } else {
            Err(fail("party count out of range".into()))
        }
    };
    let engine = |e: crate::MpcError| fail(e.to_string());
    let wrong_engine = |group: &str, state: &GroupState| {
        fail(match state {
            GroupState::Cggmp24(_) => {
                format!("group {group:?} is cggmp24: the share needs `core` only")
            }
            GroupState::Dkls23(_) => {
                format!("group {group:?} is dkls23: the share needs `dkls23` only")
            }
        })
    };
    // An ECDSA share in its group's engine: a cggmp24 core share (its party index, and how
    // it becomes a key) or a DKLs23 share, whichever the group's engine takes.
    let mut ecdsa = |group: &str,
                     core: Option<EcdsaCore>,
                     d: Option<crate::dkls23::AccountShare>|
     -> Result<Arc<dyn ThresholdKey>, ShareFileError> {
        let (index, state) = group_of(group)?;
        group_index = Some(index);
        Ok(match (state, core, d) {
            (GroupState::Cggmp24(aux), Some(core), None) => {
                if core.party() != me {
                    return Err(other_party(core.party()));
                }
                Arc::new(core.key(aux).map_err(engine)?)
            }
            (GroupState::Dkls23(g), None, Some(d)) => {
                let public_key =
                    hex::decode(public_key).map_err(|_| fail("public_key is not hex".into()))?;
                Arc::new(Dkls23Key::new(g, &public_key, &d).map_err(engine)?)
            }
            (state, ..) => return Err(wrong_engine(group, state)),
        })
    };
    let key: Arc<dyn ThresholdKey> = match share {
        AnyShare::Decoded(SchemeShare::EcdsaSecp256k1 {
            group,
            core,
            dkls23: d,
        }) => ecdsa(&group, core.map(EcdsaCore::Valid), d)?,
        AnyShare::Raw(ShareIn::EcdsaSecp256k1 {
            group,
            core,
            dkls23: d,
        }) => ecdsa(&group, core.map(EcdsaCore::Unchecked), d)?,
        AnyShare::Decoded(SchemeShare::Ed25519 {
            parties,
            key_package,
            public_key_package,
        }) => {
            ed25519_parties(parties)?;
            Arc::new(Ed25519Key::new(me, parties, key_package, public_key_package).map_err(engine)?)
        }
        AnyShare::Raw(ShareIn::Ed25519 {
            parties,
            key_package,
            public_key_package,
        }) => {
            ed25519_parties(parties)?;
            let encoded = EncodedShare {
                key_package,
                public_key_package,
            };
            Arc::new(Ed25519Key::from_encoded(me, parties, encoded).map_err(engine)?)
        }
    };
    if key.parties() > MAX_PARTIES || key.threshold() < 2 || key.threshold() > key.parties() {
        return Err(fail("threshold or party count out of range".into()));
    }
    let root = key
        .public_key(&DerivationPath::root())
        .map_err(|e| fail(e.to_string()))?;
    if hex::decode(public_key).ok().as_deref() != Some(root.bytes.as_slice()) {
        return Err(fail("public_key does not match the share".into()));
    }
    Ok((id, key, group_index))
}

/// The error for an account entry that does not decode: named by its id if it has one, else
/// by its position.
fn unnamed(index: usize, bytes: &[u8], e: String) -> ShareFileError {
    match serde_json::from_slice::<AccountIdOnly<'_>>(bytes) {
        Ok(AccountIdOnly { account_id }) => ShareFileError::Account {
            account_id: account_id.into_owned(),
            reason: format!("malformed: {e}"),
        },
        Err(_) => ShareFileError::Malformed(format!("accounts[{index}]: {e}")),
    }
}

/// Every account of one party, validated and ready to sign.
pub struct KeyStore {
    party_index: u16,
    accounts: HashMap<String, Arc<dyn ThresholdKey>>,
    /// Each ECDSA group's shared state and the number of accounts using it.
    ecdsa_groups: BTreeMap<String, (GroupState, usize)>,
}

impl KeyStore {
    /// Parses and validates a key-share file. The caller owns (and zeroizes) `json`; nothing
    /// here copies a secret field into a buffer of its own except the decoded keys.
    pub fn from_json(json: &[u8]) -> Result<Self, ShareFileError> {
        let outline: Outline<'_> = json::decode_outline(json).map_err(ShareFileError::Malformed)?;
        check_header(&outline.format, outline.version)?;
        let me = outline.party_index;
        let mut groups = Groups::default();
        for (id, raw) in outline.ecdsa_groups {
            let (bytes, at) = part(json, raw);
            let group: EcdsaGroup = json::decode_in(bytes, at)
                .map_err(|e| ShareFileError::Malformed(format!("ECDSA group {id:?}: {e}")))?;
            let state = check_group(&id, group, me, outline.version)?;
            groups.insert(id, state);
        }
        let threads = threads_for(outline.accounts.len());
        let decoded = try_map_ordered(
            outline.accounts,
            threads,
            |index, raw| {
                let (bytes, at) = part(json, raw);
                let account: AccountIn<'_> =
                    json::decode_in(bytes, at).map_err(|e| unnamed(index, bytes, e))?;
                let share = AnyShare::Raw(account.share);
                account_key(me, &groups, account.account_id, &account.public_key, share)
            },
            |index| ShareFileError::Malformed(format!("accounts[{index}]: validation failed")),
        );
        Self::collect(me, groups, decoded)
    }

    /// Validates a parsed file.
    pub fn from_file(file: ShareFile) -> Result<Self, ShareFileError> {
        check_header(&file.format, file.version)?;
        let me = file.party_index;
        let mut groups = Groups::default();
        for (id, group) in file.ecdsa_groups {
            let state = check_group(&id, group, me, file.version)?;
            groups.insert(id, state);
        }
        let threads = threads_for(file.accounts.len());
        let decoded = try_map_ordered(
            file.accounts,
            threads,
            |_, account: AccountShare| {
                let share = AnyShare::Decoded(account.share);
                account_key(me, &groups, account.account_id, &account.public_key, share)
            },
            |index| ShareFileError::Malformed(format!("accounts[{index}]: validation failed")),
        );
        Self::collect(me, groups, decoded)
    }

    /// Builds the map in account order, refusing the first duplicate or failed account.
    fn collect(
        me: u16,
        groups: Groups,
        decoded: Ordered<Loaded, ShareFileError>,
    ) -> Result<Self, ShareFileError> {
        let twice = |account_id: String| ShareFileError::Account {
            account_id,
            reason: "appears twice".into(),
        };
        let mut accounts: HashMap<String, Arc<dyn ThresholdKey>> =
            HashMap::with_capacity(decoded.ok.len());
        let mut uses = vec![0usize; groups.state.len()];
        for (id, key, group) in decoded.ok {
            if accounts.contains_key(&id) {
                return Err(twice(id));
            }
            accounts.insert(id, key);
            if let Some(count) = group.and_then(|g| uses.get_mut(g)) {
                *count += 1;
            }
        }
        if let Some(e) = decoded.err {
            // Loading one by one, a repeated id is refused before its share is looked at.
            return Err(match e {
                ShareFileError::Account { account_id, .. }
                    if accounts.contains_key(&account_id) =>
                {
                    twice(account_id)
                }
                e => e,
            });
        }
        let Groups { index, state } = groups;
        let mut slots: Vec<Option<(GroupState, usize)>> =
            state.into_iter().zip(uses).map(Some).collect();
        let ecdsa_groups = index
            .into_iter()
            .filter_map(|(id, i)| Some((id, slots.get_mut(i)?.take()?)))
            .collect();
        Ok(Self {
            party_index: me,
            accounts,
            ecdsa_groups,
        })
    }

    /// Builds a store from keys already in memory (tests, benchmarks).
    pub fn from_keys(
        party_index: u16,
        keys: impl IntoIterator<Item = (String, Arc<dyn ThresholdKey>)>,
    ) -> Self {
        Self {
            party_index,
            accounts: keys.into_iter().collect(),
            ecdsa_groups: BTreeMap::new(),
        }
    }

    /// Accounts per ECDSA signer group of the file, by group id. Each group's state is held
    /// once, whatever the count.
    pub fn ecdsa_groups(&self) -> BTreeMap<&str, usize> {
        self.ecdsa_groups
            .iter()
            .map(|(id, (_, n))| (id.as_str(), *n))
            .collect()
    }

    /// The engine of each ECDSA signer group of the file, by group id.
    pub fn ecdsa_engines(&self) -> BTreeMap<&str, Engine> {
        self.ecdsa_groups
            .iter()
            .map(|(id, (state, _))| {
                let engine = match state {
                    GroupState::Cggmp24(_) => Engine::Cggmp24,
                    GroupState::Dkls23(_) => Engine::Dkls23,
                };
                (id.as_str(), engine)
            })
            .collect()
    }

    /// The DKLs23 groups frozen by a cheating party since the store was loaded, by group id.
    pub fn frozen_groups(&self) -> BTreeMap<&str, Freeze> {
        self.ecdsa_groups
            .iter()
            .filter_map(|(id, (state, _))| match state {
                GroupState::Dkls23(g) => g.frozen().map(|f| (id.as_str(), f.clone())),
                GroupState::Cggmp24(_) => None,
            })
            .collect()
    }

    /// The owning party.
    pub fn party_index(&self) -> u16 {
        self.party_index
    }

    /// The key of an account.
    pub fn get(&self, account_id: &str) -> Option<&Arc<dyn ThresholdKey>> {
        self.accounts.get(account_id)
    }

    /// Number of accounts.
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    /// Accounts per scheme.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        let mut out = BTreeMap::new();
        for k in self.accounts.values() {
            *out.entry(k.scheme().as_str()).or_default() += 1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use cggmp24::key_share::AuxInfo;
    use cggmp24::security_level::SecurityLevel128;
    use cggmp24::supported_curves::Secp256k1;
    use cggmp24::{IncompleteKeyShare, PregeneratedPrimes};

    use super::*;
    use crate::share_file::{FORMAT, VERSION};

    fn fixture_aux() -> Vec<AuxInfo> {
        let path = sigil_testkit::TEST_PRIMES;
        let pool: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let primes: Vec<PregeneratedPrimes<SecurityLevel128>> = pool["sets"].as_array().unwrap()
            [..2]
            .iter()
            .map(|s| serde_json::from_value(s.clone()).unwrap())
            .collect();
        cggmp24::trusted_dealer::generate_aux_data_with_primes(&mut rand_core::OsRng, primes, false)
            .unwrap()
    }

    fn core() -> IncompleteKeyShare<Secp256k1> {
        cggmp24::trusted_dealer::builder::<Secp256k1, SecurityLevel128>(2)
            .set_threshold(Some(2))
            .hd_wallet(true)
            .generate_core_shares(&mut rand_core::OsRng)
            .unwrap()
            .swap_remove(0)
    }

    #[test]
    fn accounts_of_a_group_share_one_aux_allocation() {
        let aux = fixture_aux().swap_remove(0);
        let group = GroupAux::new(aux.clone(), 0).unwrap();
        let (a, b) = (
            EcdsaKey::with_group(core(), &group).unwrap(),
            EcdsaKey::with_group(core(), &group).unwrap(),
        );
        assert!(Arc::ptr_eq(a.aux(), b.aux()));
        assert!(Arc::ptr_eq(a.aux(), group.aux()));
        // `from_parts` keeps its own copy (for callers holding one key).
        let c = EcdsaKey::from_parts(core(), aux.clone()).unwrap();
        assert!(!Arc::ptr_eq(a.aux(), c.aux()));

        // Through the loader: the store's group and every account hold the one allocation.
        let accounts: Vec<AccountShare> = (0..5)
            .map(|i| {
                let core = core();
                AccountShare {
                    account_id: format!("a{i}"),
                    public_key: hex::encode(core.shared_public_key.to_bytes(true)),
                    share: SchemeShare::EcdsaSecp256k1 {
                        group: "g".into(),
                        core: Some(Box::new(core)),
                        dkls23: None,
                    },
                }
            })
            .collect();
        let file = ShareFile {
            format: FORMAT.into(),
            version: VERSION,
            party_index: 0,
            ecdsa_groups: BTreeMap::from([("g".to_owned(), EcdsaGroup::cggmp24(2, aux))]),
            accounts,
        };
        let json = serde_json::to_vec(&file).unwrap();
        for store in [
            KeyStore::from_json(&json).unwrap(),
            KeyStore::from_file(file).unwrap(),
        ] {
            let (GroupState::Cggmp24(group), uses) = &store.ecdsa_groups["g"] else {
                panic!("a cggmp24 group");
            };
            assert_eq!(*uses, 5);
            assert_eq!(Arc::strong_count(group.aux()), 1 + 5);
            assert_eq!(store.ecdsa_groups(), BTreeMap::from([("g", 5)]));
            drop(store.accounts);
            assert_eq!(Arc::strong_count(group.aux()), 1);
        }
    }
}
