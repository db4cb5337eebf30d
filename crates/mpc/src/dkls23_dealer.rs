//! The trusted dealer's side of the DKLs23 engine ([`dkls23`](crate::dkls23)): a group's pair
//! setups and accounts' shares, and whole key-share files of a group. Used by `key-gen`,
//! tests, benchmarks and fuzzing; the enclave never deals.

use cggmp24::generic_ec::{Point, Scalar, SecretScalar};
use cggmp24::supported_curves::Secp256k1;
use dkls23_core::protocols::Parameters;
use dkls23_core::protocols::re_key::re_key;
use k256_014::Secp256k1 as K;
use zeroize::Zeroizing;

use crate::MpcError;
use crate::dkls23::{AccountShare, PairSetup};
use crate::share_file::{self, EcdsaGroup, SchemeShare, ShareFile};

/// Deals a t-of-n group's pair setups, one per party (index = Sigil party index). The
/// library deals them alongside a key; that key is random and dropped (zeroized), only
/// the key-independent pairwise state is kept.
pub fn pair_setups(threshold: u16, parties: u16) -> Result<Vec<PairSetup>, MpcError> {
    let bad = || MpcError::InvalidRequest(format!("{threshold}-of-{parties} is not a valid group"));
    let (Ok(t), Ok(n)) = (u8::try_from(threshold), u8::try_from(parties)) else {
        return Err(bad());
    };
    let parameters = Parameters::new(t, n).map_err(|_| bad())?;
    let mut session_id = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut session_id);
    let throwaway = k256_014::Scalar::from(
        1u64 + u64::from(rand_core::RngCore::next_u32(&mut rand_core::OsRng)),
    );
    let (parties, _) = re_key::<K>(&parameters, &session_id, &throwaway, None, |_| {
        String::new()
    });
    Ok(parties
        .iter()
        .map(|p| PairSetup {
            session_id: hex::encode(&p.session_id),
            zero_share: p.zero_share.clone(),
            mul_senders: p.mul_senders.clone(),
            mul_receivers: p.mul_receivers.clone(),
        })
        .collect())
}

/// Shamir-splits `secret` t-of-n at the points 1..=n (the points cggmp24's dealer uses):
/// every party's share, with the account's chain code and every public share.
pub fn split(
    secret: &SecretScalar<Secp256k1>,
    chain_code: [u8; 32],
    threshold: u16,
    parties: u16,
) -> Result<Vec<AccountShare>, MpcError> {
    if threshold < 2 || threshold > parties {
        return Err(MpcError::InvalidRequest(format!(
            "{threshold}-of-{parties} is not a valid split"
        )));
    }
    let mut coefficients: Vec<SecretScalar<Secp256k1>> = vec![secret.clone()];
    for _ in 1..threshold {
        coefficients.push(SecretScalar::random(&mut rand_core::OsRng));
    }
    let shares: Vec<SecretScalar<Secp256k1>> = (1..=parties)
        .map(|x| {
            let x = Scalar::<Secp256k1>::from(x);
            let mut acc = Scalar::<Secp256k1>::zero();
            for c in coefficients.iter().rev() {
                acc = acc * x + c.as_ref();
            }
            SecretScalar::new(&mut acc)
        })
        .collect();
    let public_shares: Vec<String> = shares
        .iter()
        .map(|s| hex::encode((Point::<Secp256k1>::generator() * s).to_bytes(true)))
        .collect();
    Ok(shares
        .iter()
        .map(|s| {
            let mut share = Zeroizing::new([0u8; 32]);
            share.copy_from_slice(&s.as_ref().to_be_bytes());
            AccountShare {
                share,
                chain_code: Zeroizing::new(chain_code),
                public_shares: public_shares.clone(),
            }
        })
        .collect())
}

/// One account for [`share_files`]: its id, secret key and chain code.
pub struct Account<'a> {
    /// The account id.
    pub id: &'a str,
    /// The account key.
    pub secret: &'a SecretScalar<Secp256k1>,
    /// Its SLIP-10 chain code.
    pub chain_code: [u8; 32],
}

/// Every party's key-share file (version 2) of one t-of-n DKLs23 group `group` holding
/// `accounts`: one pair setup dealt for the group, each account split on its own.
pub fn share_files(
    group: &str,
    threshold: u16,
    parties: u16,
    accounts: &[Account<'_>],
) -> Result<Vec<ShareFile>, MpcError> {
    let mut files: Vec<ShareFile> = pair_setups(threshold, parties)?
        .into_iter()
        .zip(0..)
        .map(|(setup, party_index)| ShareFile {
            format: share_file::FORMAT.into(),
            version: share_file::VERSION,
            party_index,
            ecdsa_groups: [(
                group.to_owned(),
                EcdsaGroup::dkls23(parties, threshold, setup),
            )]
            .into(),
            accounts: Vec::with_capacity(accounts.len()),
        })
        .collect();
    for account in accounts {
        let public = hex::encode((Point::<Secp256k1>::generator() * account.secret).to_bytes(true));
        let shares = split(account.secret, account.chain_code, threshold, parties)?;
        for (file, share) in files.iter_mut().zip(shares) {
            file.accounts.push(share_file::AccountShare {
                account_id: account.id.to_owned(),
                public_key: public.clone(),
                share: SchemeShare::EcdsaSecp256k1 {
                    group: group.to_owned(),
                    core: None,
                    dkls23: Some(share),
                },
            });
        }
    }
    Ok(files)
}

/// [`share_files`] for new accounts `ids`, each with a random key and chain code (tests,
/// benchmarks, fuzzing).
pub fn random_share_files(
    group: &str,
    threshold: u16,
    parties: u16,
    ids: &[&str],
) -> Result<Vec<ShareFile>, MpcError> {
    let secrets: Vec<SecretScalar<Secp256k1>> = ids
        .iter()
        .map(|_| SecretScalar::random(&mut rand_core::OsRng))
        .collect();
    let accounts: Vec<Account<'_>> = ids
        .iter()
        .zip(&secrets)
        .map(|(id, secret)| {
            let mut chain_code = [0u8; 32];
            rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut chain_code);
            Account {
                id,
                secret,
                chain_code,
            }
        })
        .collect();
    share_files(group, threshold, parties, &accounts)
}
