//! Paillier prime pools (`sigil-prime-pool`, version 1): prime sets generated ahead of time by
//! `key-gen primes`, each set being one party's four 1536-bit safe primes (its Paillier key and
//! its ring-Pedersen parameters). `key-gen split --primes` takes the sets of a run's ECDSA group
//! out of the pool and rewrites the pool without them before using them, so a set is never used
//! twice. A pool is SECRET: its primes are the parties' Paillier secret keys.
//!
//! Every read checks the header, the size of every prime and that no prime appears twice; the
//! sets a run takes are also checked to be safe primes (probabilistic primality of p and
//! (p-1)/2). Writes are atomic (temporary file, fsync, rename) with mode 0600, under an
//! advisory lock on `POOL.lock`.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use cggmp24::PregeneratedPrimes;
use cggmp24::backend::{Integer, IsPrime};
use cggmp24::security_level::{SecurityLevel, SecurityLevel128};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::KeyGenError;

/// The `format` field of a pool file.
pub const POOL_FORMAT: &str = "sigil-prime-pool";
/// The pool version this code reads and writes.
pub const POOL_VERSION: u32 = 1;
/// The security level of every set in a pool (cggmp24 `SecurityLevel128`).
pub const POOL_SECURITY_LEVEL: u32 = 128;

/// One party's prime set at the pool's security level.
pub type PrimeSet = PregeneratedPrimes<SecurityLevel128>;

/// Miller-Rabin rounds hint for the primality checks (the num-bigint backend runs its own
/// fixed test: Miller-Rabin plus a strong Lucas test).
const PRIMALITY_REPS: u32 = 25;

/// The pool file as serialized.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PoolFile {
    format: String,
    version: u32,
    security_level: u32,
    sets: Vec<PrimeSet>,
}

/// A prime pool in memory.
pub struct PrimePool {
    sets: Vec<PrimeSet>,
}

impl PrimePool {
    /// An empty pool.
    pub fn new() -> Self {
        Self { sets: Vec::new() }
    }

    /// Parses a pool and checks its header, prime sizes and that no prime appears twice.
    /// `path` only names the pool in errors.
    pub fn from_json(path: &Path, json: &[u8]) -> Result<Self, KeyGenError> {
        let file: PoolFile = sigil_mpc::json::decode(json)
            .map_err(|e| KeyGenError::pool(path, format!("not a prime pool ({e})")))?;
        if file.format != POOL_FORMAT {
            return Err(KeyGenError::pool(
                path,
                format!("format must be {POOL_FORMAT:?}"),
            ));
        }
        if file.version != POOL_VERSION {
            return Err(KeyGenError::pool(
                path,
                format!(
                    "version {} is not supported (this build reads version {POOL_VERSION})",
                    file.version
                ),
            ));
        }
        if file.security_level != POOL_SECURITY_LEVEL {
            return Err(KeyGenError::pool(
                path,
                format!(
                    "security level {} is not supported (expected {POOL_SECURITY_LEVEL})",
                    file.security_level
                ),
            ));
        }
        let mut seen = HashSet::new();
        for (i, set) in file.sets.iter().enumerate() {
            check_sizes::<SecurityLevel128>(set)
                .map_err(|e| KeyGenError::pool(path, format!("set {i}: {e}")))?;
            for p in set.primes_ref() {
                if !seen.insert(p.to_bytes_msf()) {
                    return Err(KeyGenError::pool(
                        path,
                        format!("set {i}: a prime appears twice in the pool"),
                    ));
                }
            }
        }
        Ok(Self { sets: file.sets })
    }

    /// Reads a pool file.
    pub fn load(path: &Path) -> Result<Self, KeyGenError> {
        let json = Zeroizing::new(
            std::fs::read(path).map_err(|e| KeyGenError::io("reading prime pool", path, e))?,
        );
        Self::from_json(path, &json)
    }

    /// The pool as JSON (secret: held in a zeroizing buffer).
    pub fn to_json(&self) -> Result<Zeroizing<Vec<u8>>, KeyGenError> {
        let file = PoolFileRef {
            format: POOL_FORMAT,
            version: POOL_VERSION,
            security_level: POOL_SECURITY_LEVEL,
            sets: &self.sets,
        };
        crate::json::to_json_zeroizing(&file)
            .map_err(|e| KeyGenError::Dealer(format!("encoding the prime pool: {e}")))
    }

    /// Number of sets.
    pub fn len(&self) -> usize {
        self.sets.len()
    }

    /// Whether the pool has no set.
    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    /// Adds sets at the end.
    pub fn extend(&mut self, sets: impl IntoIterator<Item = PrimeSet>) {
        self.sets.extend(sets);
    }

    /// Removes and returns the first `n` sets, after checking that each is a set of four
    /// distinct safe primes. Fails (leaving the pool as it was) if there are fewer than `n`.
    pub fn take(&mut self, path: &Path, n: usize) -> Result<Vec<PrimeSet>, KeyGenError> {
        if self.sets.len() < n {
            return Err(KeyGenError::pool(
                path,
                format!(
                    "has {} prime sets, this run needs {n} (one per party); generate more with `key-gen primes`",
                    self.sets.len()
                ),
            ));
        }
        for (i, set) in self.sets[..n].iter().enumerate() {
            check_safe_primes::<SecurityLevel128>(set)
                .map_err(|e| KeyGenError::pool(path, format!("set {i}: {e}")))?;
        }
        Ok(self.sets.drain(..n).collect())
    }
}

impl Default for PrimePool {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Serialize)]
struct PoolFileRef<'a> {
    format: &'static str,
    version: u32,
    security_level: u32,
    sets: &'a [PrimeSet],
}

/// Checks that every prime of a set has exactly `L::RSA_PRIME_BITLEN` bits (cggmp24's own
/// `TryFrom` check is "at least"; our generator always produces exactly that size).
pub fn check_sizes<L: SecurityLevel>(set: &PregeneratedPrimes<L>) -> Result<(), String> {
    let primes = set.primes_ref();
    if PregeneratedPrimes::<L>::try_from(primes.clone()).is_err() {
        return Err(format!(
            "a prime is smaller than {} bits",
            L::RSA_PRIME_BITLEN
        ));
    }
    if primes
        .iter()
        .any(|p| p.significant_bits() != u64::from(L::RSA_PRIME_BITLEN))
    {
        return Err(format!(
            "every prime must have exactly {} bits",
            L::RSA_PRIME_BITLEN
        ));
    }
    Ok(())
}

/// Checks that a set holds four distinct safe primes p = 2p' + 1 (both p and p' pass the
/// backend's probabilistic primality test) of the right size.
pub fn check_safe_primes<L: SecurityLevel>(set: &PregeneratedPrimes<L>) -> Result<(), String> {
    check_sizes(set)?;
    let primes = set.primes_ref();
    for (i, p) in primes.iter().enumerate() {
        if primes[..i].contains(p) {
            return Err("the set holds the same prime twice".into());
        }
    }
    let mut rng = rand_core::OsRng;
    for p in primes {
        let half = p.clone() >> 1u32;
        let prime = |x: &Integer, rng: &mut rand_core::OsRng| {
            matches!(
                x.is_probably_prime(PRIMALITY_REPS, rng),
                IsPrime::Yes | IsPrime::Probably
            )
        };
        if !prime(p, &mut rng) || !prime(&half, &mut rng) {
            return Err("a number in the set is not a safe prime".into());
        }
    }
    Ok(())
}

/// Holds the advisory lock of a pool (`POOL.lock`, next to it) while alive.
pub struct PoolLock {
    _file: File,
}

impl PoolLock {
    /// Takes the lock, failing at once if another process holds it.
    pub fn acquire(pool: &Path) -> Result<Self, KeyGenError> {
        let mut name = pool.as_os_str().to_owned();
        name.push(".lock");
        let lock_path = PathBuf::from(name);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|e| KeyGenError::io("opening the lock file", &lock_path, e))?;
        file.try_lock().map_err(|e| match e {
            std::fs::TryLockError::WouldBlock => KeyGenError::pool(
                pool,
                "is in use by another key-gen process (its lock file is held)",
            ),
            std::fs::TryLockError::Error(e) => KeyGenError::io("locking", &lock_path, e),
        })?;
        Ok(Self { _file: file })
    }
}

/// Takes `n` sets out of the pool file at `path`: locks it, reads and checks it, removes the
/// sets and rewrites the pool atomically before returning them with the number of sets left
/// (a set taken by a run that fails later is lost, never reused). Nothing is changed on error.
pub fn consume(path: &Path, n: usize) -> Result<(Vec<PrimeSet>, usize), KeyGenError> {
    let _lock = PoolLock::acquire(path)?;
    let mut pool = PrimePool::load(path)?;
    let taken = pool.take(path, n)?;
    write_atomic(path, &pool.to_json()?, 0o600)?;
    Ok((taken, pool.len()))
}

/// Checks that the pool at `path` can supply `n` sets (header, sizes, count) without taking
/// any; used to fail before a run does any work.
pub fn check_available(path: &Path, n: usize) -> Result<(), KeyGenError> {
    let pool = PrimePool::load(path)?;
    if pool.len() < n {
        return Err(KeyGenError::pool(
            path,
            format!(
                "has {} prime sets, this run needs {n} (one per party); generate more with `key-gen primes`",
                pool.len()
            ),
        ));
    }
    Ok(())
}

/// Appends sets to the pool file at `path`, creating it if missing; atomic, under the lock.
/// Returns the pool's new size.
pub fn append(path: &Path, sets: Vec<PrimeSet>) -> Result<usize, KeyGenError> {
    let _lock = PoolLock::acquire(path)?;
    let mut pool = match std::fs::symlink_metadata(path) {
        Ok(_) => PrimePool::load(path)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => PrimePool::new(),
        Err(e) => return Err(KeyGenError::io("reading prime pool", path, e)),
    };
    pool.extend(sets);
    // Re-parse what we are about to write: a duplicate set (e.g. a pool appended twice)
    // must never be stored.
    let json = pool.to_json()?;
    PrimePool::from_json(path, &json)?;
    write_atomic(path, &json, 0o600)?;
    Ok(pool.len())
}

/// Generates `count` prime sets on `threads` threads (at least 1), one safe prime per work
/// item (`PregeneratedPrimes::generate` draws its four primes the same way). On the calling
/// thread, calls `on_prime(primes done, primes total)` as each prime completes and `on_set(set,
/// sets done, count)` as each set of four completes; an error from `on_set` stops the run after
/// the primes in progress. Generic over the security level so tests can run it at a toy size.
pub fn generate<L: SecurityLevel>(
    count: usize,
    threads: usize,
    mut on_prime: impl FnMut(usize, usize),
    mut on_set: impl FnMut(PregeneratedPrimes<L>, usize, usize) -> Result<(), KeyGenError>,
) -> Result<(), KeyGenError> {
    let total = count.saturating_mul(4);
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<Integer>();
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, total.max(1)) {
            let tx = tx.clone();
            let (next, stop) = (&next, &stop);
            scope.spawn(move || {
                let mut rng = rand_core::OsRng;
                while !stop.load(Ordering::Relaxed) && next.fetch_add(1, Ordering::Relaxed) < total
                {
                    if tx
                        .send(Integer::generate_safe_prime(&mut rng, L::RSA_PRIME_BITLEN))
                        .is_err()
                    {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let (mut primes_done, mut sets_done) = (0, 0);
        let mut current: Vec<Integer> = Vec::with_capacity(4);
        let mut result = Ok(());
        for prime in rx {
            if result.is_err() {
                continue;
            }
            primes_done += 1;
            on_prime(primes_done, total);
            current.push(prime);
            if current.len() < 4 {
                continue;
            }
            sets_done += 1;
            let set =
                <[Integer; 4]>::try_from(std::mem::replace(&mut current, Vec::with_capacity(4)))
                    .ok()
                    .and_then(|four| PregeneratedPrimes::<L>::try_from(four).ok())
                    .ok_or_else(|| {
                        KeyGenError::Dealer("a generated prime has the wrong size".into())
                    })
                    .and_then(|set| on_set(set, sets_done, count));
            if let Err(e) = set {
                stop.store(true, Ordering::Relaxed);
                result = Err(e);
            }
        }
        result
    })
}

/// Writes `bytes` to `path` atomically and durably (`sigil_std_ext::fs::write_atomic`).
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeyGenError> {
    sigil_std_ext::fs::write_atomic(path, bytes, mode)
        .map_err(|e| KeyGenError::io("writing atomically", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone)]
    struct ToyLevel;
    cggmp24::security_level::define_security_level!(ToyLevel {
        kappa_bits: 256,
        rsa_prime_bitlen: 64,
        rsa_pubkey_bitlen: 127,
        epsilon: 256,
        ell: 256,
        ell_prime: 256,
        m: 128,
    });

    #[test]
    fn generates_safe_primes_in_parallel_at_a_toy_size() {
        let mut got = Vec::new();
        let mut primes = 0;
        generate::<ToyLevel>(
            5,
            2,
            |done, total| {
                assert_eq!((done, total), (primes + 1, 20));
                primes = done;
            },
            |set, done, count| {
                assert_eq!(count, 5);
                assert_eq!(done, got.len() + 1);
                got.push(set);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(got.len(), 5);
        assert_eq!(primes, 20);
        for set in &got {
            check_safe_primes(set).unwrap();
        }
    }

    #[test]
    fn generation_stops_when_the_callback_fails() {
        let mut calls = 0;
        let r = generate::<ToyLevel>(
            50,
            2,
            |_, _| {},
            |_, _, _| {
                calls += 1;
                Err(KeyGenError::Input("stop".into()))
            },
        );
        assert!(r.is_err());
        assert_eq!(calls, 1);
    }

    #[test]
    fn safe_prime_check_rejects_composites_and_non_safe_primes() {
        let good: Vec<PregeneratedPrimes<ToyLevel>> = {
            let mut v = Vec::new();
            generate::<ToyLevel>(
                1,
                1,
                |_, _| {},
                |s, _, _| {
                    v.push(s);
                    Ok(())
                },
            )
            .unwrap();
            v
        };
        let [p, q, a, _] = good[0].clone().into_primes();
        // The next odd composite above p: right size, not prime.
        let mut bad = p.clone();
        bad += 2u32;
        while matches!(
            bad.is_probably_prime(25, &mut rand_core::OsRng),
            IsPrime::Yes | IsPrime::Probably
        ) {
            bad += 2u32;
        }
        let set = PregeneratedPrimes::<ToyLevel>::try_from([p.clone(), q.clone(), a.clone(), bad])
            .unwrap();
        assert!(
            check_safe_primes(&set)
                .unwrap_err()
                .contains("not a safe prime")
        );
        let twice = PregeneratedPrimes::<ToyLevel>::try_from([p.clone(), p.clone(), q, a]).unwrap();
        assert!(check_safe_primes(&twice).unwrap_err().contains("twice"));
    }
}
