//! DKLs23 signing messages from a co-signer, as a session receives them. Any input ends the
//! session under attack (the *victim*) with a signature or an error — never a panic, a hang or a
//! freeze that does not name the co-signer.
//!
//! Keys. One 2-of-2 and one 2-of-3 group are dealt once per process ([`dealer`], behind a
//! `OnceLock`), each with one account. The first input
//! byte picks a configuration (the group, the two signers, which of them is the victim, the
//! path `m` or `m/0/7`) and a mode:
//!
//! * **raw**: the rest of the input is cut into envelopes (`[from, to, len_hi, len_lo,
//!   payload…]*`) that the victim receives; nothing else answers it. This reaches the envelope
//!   checks, the round bookkeeping and the decoding of every message type. It cannot reach the
//!   OT and multiplication checks: a round-one message is ~35 KB and a round-two one ~55 KB,
//!   more than an input may be (CI runs with `-max_len=16384`), and each binds nonces of the
//!   victim's own fresh round-one messages.
//! * **relay**: the co-signer runs honestly on a thread of its own, and its messages reach the
//!   victim through a relay the rest of the input scripts, one op per message the victim
//!   waits for: forward, flip a byte, overwrite or cut and append bytes, inject a raw envelope,
//!   replay an earlier message, rewrite the envelope, or swap two messages (see [`Relay`]).
//!   Inputs are small and stay valid across processes (they hold edits, not messages), and every
//!   check of every round is reachable: a flipped bit in the round-one OT data fails the OT
//!   consistency check, in round two the multiplication or gamma checks, in round three the
//!   final signature. The victim's messages reach the co-signer unchanged. The relay never waits
//!   for a co-signer message that needs a victim message not yet sent (it fails the session
//!   instead), and the co-signer's end of a channel closes when either side ends, so nothing
//!   blocks forever; an exhausted script fails the victim's next receive.
//!
//! Freezes. A failed OT or multiplication check freezes the victim's whole group (and the
//! honest co-signer may freeze its own when the victim, fed edited messages, answers
//! inconsistently). Dealing both groups takes milliseconds (about 8 ms in the instrumented
//! build, where a raw-mode input takes one and a relayed session about 25), too much to pay on
//! every input, so the dealing is kept and only a frozen party's group is rebuilt from it,
//! lazily, before the next input that uses it (`Dkls23Group::new` on a clone of the stored pair
//! setup, and `Dkls23Key::new`): every input starts on unfrozen groups with the same keys. The target checks the freeze contract on every input:
//! the group is frozen exactly when the session ended in `MpcError::Cheating`, that error names
//! the co-signer (never the victim itself or a party outside the session), and no session ends
//! in `GroupFrozen`.
//!
//! Seeds (`fuzz/seeds/dkls23_messages/`) are written by the target itself from real sessions:
//! `SIGIL_FUZZ_DKLS23_SEEDS=fuzz/seeds/dkls23_messages cargo fuzz run --sanitizer none
//! dkls23_messages -- -runs=1` writes relay scripts (honest, a flip, a cut, a swap and a replay
//! in each round for three configurations, an honest script for every one) and raw inputs (the
//! co-signer's real messages as envelopes, cut to 4 KB). `SIGIL_FUZZ_DKLS23_TRACE=1` prints
//! each input's configuration and outcome, to see which checks a corpus reaches, and for a
//! relayed session that signed, how many of the messages it consumed were edited (none so far:
//! no edit of a message has yet been accepted).
#![no_main]

use std::collections::VecDeque;
use std::path::Path;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, OnceLock};

use cggmp24::generic_ec::{Point, SecretScalar};
use cggmp24::supported_curves::Secp256k1;
use libfuzzer_sys::fuzz_target;
use sigil_mpc::dkls23::{AccountShare, Dkls23Group, Dkls23Key, PairSetup};
use sigil_mpc::dkls23_dealer as dealer;
use sigil_mpc::{
    DerivationPath, EcdsaHash, MessageIo, MpcError, Session, SignData, Signature, ThresholdKey,
    WireMessage,
};

/// The group id every dealt group has; a `Cheating` error must name it.
const GROUP: &str = "fuzz";

/// One dealt group: what a rebuild needs, and every party's current key.
struct Dealt {
    threshold: u16,
    parties: u16,
    setups: Vec<PairSetup>,
    shares: Vec<AccountShare>,
    public_key: Vec<u8>,
    keys: Mutex<Vec<Arc<Dkls23Key>>>,
}

impl Dealt {
    fn deal(threshold: u16, parties: u16) -> Self {
        let setups = dealer::pair_setups(threshold, parties).expect("pair setups");
        let secret = SecretScalar::<Secp256k1>::random(&mut rand_core::OsRng);
        let public_key = (Point::<Secp256k1>::generator() * &secret)
            .to_bytes(true)
            .to_vec();
        let shares = dealer::split(&secret, [7; 32], threshold, parties).expect("shares");
        let mut dealt = Dealt {
            threshold,
            parties,
            setups,
            shares,
            public_key,
            keys: Mutex::new(Vec::new()),
        };
        let keys = (0..parties).map(|p| dealt.build(p)).collect();
        dealt.keys = Mutex::new(keys);
        dealt
    }

    /// Party `p`'s key on a new (unfrozen) group built from the stored dealing.
    fn build(&self, p: u16) -> Arc<Dkls23Key> {
        let i = usize::from(p);
        let group = Dkls23Group::new(
            GROUP,
            p,
            self.threshold,
            self.parties,
            self.setups[i].clone(),
        )
        .expect("group");
        Arc::new(Dkls23Key::new(&Arc::new(group), &self.public_key, &self.shares[i]).expect("key"))
    }

    /// Party `p`'s key, its group rebuilt first if an earlier input froze it.
    fn key(&self, p: u16) -> Arc<Dkls23Key> {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let i = usize::from(p);
        if keys[i].group().frozen().is_some() {
            keys[i] = self.build(p);
        }
        Arc::clone(&keys[i])
    }
}

/// The 2-of-2 group (index 0) and the 2-of-3 group (index 1).
fn groups() -> &'static [Dealt; 2] {
    static GROUPS: OnceLock<[Dealt; 2]> = OnceLock::new();
    GROUPS.get_or_init(|| [Dealt::deal(2, 2), Dealt::deal(2, 3)])
}

/// A session to attack: the group, the two signers, and which of them is the victim.
#[derive(Clone, Copy, Debug)]
struct Config {
    group: usize,
    signers: [u16; 2],
    victim: u16,
}

/// Every configuration: each position of the victim, lower and higher party indexes, and the
/// 2-of-3 group's signer sets that skip a party.
const CONFIGS: [Config; 6] = [
    Config::new(0, [0, 1], 0),
    Config::new(0, [0, 1], 1),
    Config::new(1, [0, 1], 0),
    Config::new(1, [0, 2], 2),
    Config::new(1, [1, 2], 1),
    Config::new(1, [0, 2], 0),
];

impl Config {
    const fn new(group: usize, signers: [u16; 2], victim: u16) -> Self {
        Config {
            group,
            signers,
            victim,
        }
    }

    fn cosigner(self) -> u16 {
        if self.signers[0] == self.victim {
            self.signers[1]
        } else {
            self.signers[0]
        }
    }
}

/// The first input byte: bit 0 the mode (1 = relay), bit 1 the path, the rest the
/// configuration.
fn selector(relay: bool, child_path: bool, config: usize) -> u8 {
    u8::from(relay) | (u8::from(child_path) << 1) | ((config as u8) << 2)
}

fn session(config: Config, child_path: bool) -> Session {
    let path: DerivationPath = if child_path {
        "m/0/7".parse().expect("path")
    } else {
        DerivationPath::root()
    };
    let data = SignData::Ecdsa {
        hash: EcdsaHash::Keccak256,
        payload: b"fuzz".to_vec(),
    };
    Session::new("fuzz", "acct", config.signers.to_vec(), path, data).expect("session")
}

/// Cuts one raw envelope `[from, to, len_hi, len_lo, payload…]` off `data`; `to` is a
/// broadcast when `to % 4 == 0`, else party `to % 4 - 1`.
fn cut_envelope(data: &mut &[u8]) -> Option<WireMessage> {
    let [from, to, hi, lo, rest @ ..] = *data else {
        return None;
    };
    let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(rest.len());
    let (payload, rest) = rest.split_at(len);
    *data = rest;
    Some(WireMessage {
        from: u16::from(*from % 4),
        to: (*to % 4 != 0).then(|| u16::from(*to % 4 - 1)),
        payload: payload.to_vec(),
    })
}

/// Raw mode: envelopes cut from the input, and nothing else.
struct Feed<'a> {
    data: &'a [u8],
}

impl MessageIo for Feed<'_> {
    fn send(&mut self, _msg: WireMessage) -> Result<(), MpcError> {
        Ok(())
    }
    fn recv(&mut self) -> Result<WireMessage, MpcError> {
        cut_envelope(&mut self.data).ok_or_else(|| MpcError::Channel("input exhausted".into()))
    }
}

/// The honest co-signer's channel ends.
struct CosignerIo {
    to_victim: Sender<WireMessage>,
    from_victim: Receiver<WireMessage>,
}

impl MessageIo for CosignerIo {
    fn send(&mut self, msg: WireMessage) -> Result<(), MpcError> {
        // The victim may have ended already; what it no longer reads does not matter.
        let _ = self.to_victim.send(msg);
        Ok(())
    }
    fn recv(&mut self) -> Result<WireMessage, MpcError> {
        self.from_victim
            .recv()
            .map_err(|_| MpcError::Channel("the victim ended".into()))
    }
}

/// Relay mode: the victim's channel ends, with the co-signer's messages edited by a script.
/// One op per message the victim receives (op byte mod 8, then its arguments):
///
/// | op | arguments | delivers |
/// |---|---|---|
/// | 0 | — | the co-signer's next message |
/// | 1 | `off: u16, x: u8` | it, with byte `off % len` xored with `x` (0 counts as 1) |
/// | 2 | `off: u16, n: u8, n bytes` | it, with the bytes written from `off % (len + 1)` on |
/// | 3 | `off: u16, n: u8, n bytes` | it, cut at `off % (len + 1)` and the bytes appended |
/// | 4 | a raw envelope | the envelope |
/// | 5 | `i: u8` | a copy of the `i % k`-th of the `k` co-signer messages taken so far |
/// | 6 | `from: u8, to: u8` | the next message under another envelope (as in raw mode) |
/// | 7 | — | the message after the next one; the next one comes after it |
struct Relay<'a> {
    script: &'a [u8],
    cosigner: Receiver<WireMessage>,
    to_cosigner: Sender<WireMessage>,
    /// Messages the victim sent (one a round in a two-party session).
    sent: usize,
    /// The co-signer's messages taken from its channel, in order.
    taken: Vec<WireMessage>,
    /// Taken but held back by a swap.
    held: VecDeque<WireMessage>,
    /// What the victim received.
    delivered: Vec<WireMessage>,
}

impl<'a> Relay<'a> {
    fn byte(&mut self) -> Result<u8, MpcError> {
        let (&b, rest) = self.script.split_first().ok_or_else(exhausted)?;
        self.script = rest;
        Ok(b)
    }

    fn u16(&mut self) -> Result<usize, MpcError> {
        Ok(usize::from(u16::from_be_bytes([
            self.byte()?,
            self.byte()?,
        ])))
    }

    fn bytes(&mut self) -> Result<&'a [u8], MpcError> {
        let n = usize::from(self.byte()?).min(self.script.len());
        let (bytes, rest) = self.script.split_at(n);
        self.script = rest;
        Ok(bytes)
    }

    /// The co-signer's next message off its channel. Its k-th message needs the victim's
    /// (k−1)-th: if that is not sent yet, waiting would never end, so the session fails.
    fn take(&mut self) -> Result<WireMessage, MpcError> {
        if self.taken.len() > self.sent {
            return Err(MpcError::Channel(
                "the co-signer waits for this party".into(),
            ));
        }
        let msg = self
            .cosigner
            .recv()
            .map_err(|_| MpcError::Channel("the co-signer ended".into()))?;
        self.taken.push(msg.clone());
        Ok(msg)
    }

    fn next(&mut self) -> Result<WireMessage, MpcError> {
        match self.held.pop_front() {
            Some(msg) => Ok(msg),
            None => self.take(),
        }
    }
}

fn exhausted() -> MpcError {
    MpcError::Channel("input exhausted".into())
}

impl MessageIo for Relay<'_> {
    fn send(&mut self, msg: WireMessage) -> Result<(), MpcError> {
        self.sent += 1;
        let _ = self.to_cosigner.send(msg);
        Ok(())
    }

    fn recv(&mut self) -> Result<WireMessage, MpcError> {
        let msg = self.deliver()?;
        self.delivered.push(msg.clone());
        Ok(msg)
    }
}

impl Relay<'_> {
    /// The next message the script makes.
    fn deliver(&mut self) -> Result<WireMessage, MpcError> {
        match self.byte()? % 8 {
            0 => self.next(),
            1 => {
                let (off, x) = (self.u16()?, self.byte()?);
                let mut msg = self.next()?;
                let len = msg.payload.len();
                if len > 0 {
                    msg.payload[off % len] ^= x.max(1);
                }
                Ok(msg)
            }
            2 => {
                let off = self.u16()?;
                let bytes = self.bytes()?;
                let mut msg = self.next()?;
                let at = off % (msg.payload.len() + 1);
                let end = (at + bytes.len()).min(msg.payload.len());
                msg.payload.splice(at..end, bytes.iter().copied());
                Ok(msg)
            }
            3 => {
                let off = self.u16()?;
                let bytes = self.bytes()?;
                let mut msg = self.next()?;
                msg.payload.truncate(off % (msg.payload.len() + 1));
                msg.payload.extend_from_slice(bytes);
                Ok(msg)
            }
            4 => cut_envelope(&mut self.script).ok_or_else(exhausted),
            5 => {
                let i = usize::from(self.byte()?);
                match self.taken.len() {
                    0 => self.next(),
                    k => Ok(self.taken[i % k].clone()),
                }
            }
            6 => {
                let (from, to) = (self.byte()?, self.byte()?);
                let mut msg = self.next()?;
                msg.from = u16::from(from % 4);
                msg.to = (to % 4 != 0).then(|| u16::from(to % 4 - 1));
                Ok(msg)
            }
            _ => {
                let first = self.next()?;
                let second = self.take()?;
                self.held.push_front(first);
                Ok(second)
            }
        }
    }
}

/// Runs one input; returns the victim's result and, in relay mode, the co-signer's messages.
fn run(data: &[u8]) -> Option<(Config, Result<Signature, MpcError>, Vec<WireMessage>)> {
    let (&sel, script) = data.split_first()?;
    let config = CONFIGS[usize::from(sel >> 2) % CONFIGS.len()];
    let dealt = &groups()[config.group];
    let session = session(config, sel & 2 != 0);
    let victim = dealt.key(config.victim);
    if sel & 1 == 0 {
        let result = victim.sign(&session, &mut Feed { data: script });
        return Some((config, result, Vec::new()));
    }
    let cosigner = dealt.key(config.cosigner());
    let (to_victim, from_cosigner) = channel();
    let (to_cosigner, from_victim) = channel();
    let mut io = CosignerIo {
        to_victim,
        from_victim,
    };
    let theirs = session.clone();
    let handle = std::thread::spawn(move || cosigner.sign(&theirs, &mut io));
    let mut relay = Relay {
        script,
        cosigner: from_cosigner,
        to_cosigner,
        sent: 0,
        taken: Vec::new(),
        held: VecDeque::new(),
        delivered: Vec::new(),
    };
    let result = victim.sign(&session, &mut relay);
    if std::env::var_os("SIGIL_FUZZ_DKLS23_TRACE").is_some() && result.is_ok() {
        let edited = relay
            .delivered
            .iter()
            .filter(|d| !relay.taken.contains(d))
            .count();
        eprintln!("dkls23_messages: ok with {edited} edited messages");
    }
    let taken = std::mem::take(&mut relay.taken);
    // Closing the victim's ends lets a co-signer still waiting for it fail and return.
    drop(relay);
    if let Err(panic) = handle.join() {
        std::panic::resume_unwind(panic);
    }
    Some((config, result, taken))
}

/// The freeze contract, checked after every input.
fn check(config: Config, result: &Result<Signature, MpcError>) {
    let dealt = &groups()[config.group];
    let keys = dealt.keys.lock().unwrap_or_else(|e| e.into_inner());
    let frozen = keys[usize::from(config.victim)].group().frozen().cloned();
    match result {
        Err(MpcError::Cheating {
            group,
            party,
            reason,
        }) => {
            assert_eq!(group, GROUP);
            assert_eq!(
                *party,
                config.cosigner(),
                "{config:?}: a freeze names a party other than the co-signer ({reason})"
            );
            let f = frozen.expect("a Cheating error froze the group");
            assert_eq!((f.party, &f.reason), (*party, reason));
        }
        Err(MpcError::GroupFrozen { .. }) => {
            panic!("{config:?}: a session started on a frozen group")
        }
        other => assert!(
            frozen.is_none(),
            "{config:?}: the group froze, but the session ended in {other:?}"
        ),
    }
}

/// Writes the seed corpus from real sessions (see the module comment).
fn write_seeds(dir: &Path) {
    std::fs::create_dir_all(dir).expect("seed directory");
    let write = |name: String, bytes: &[u8]| {
        std::fs::write(dir.join(name), bytes).expect("write a seed");
    };
    for (c, config) in CONFIGS.iter().enumerate() {
        for child in [false, true] {
            let sel = selector(true, child, c);
            let tag = format!("c{c}{}", if child { "-child" } else { "" });
            let honest = [sel, 0, 0, 0];
            let (_, result, messages) = run(&honest).expect("a run");
            assert!(
                result.is_ok(),
                "{config:?}: honest session failed: {result:?}"
            );
            write(format!("relay-{tag}-honest"), &honest);
            // Edits in each round for the victim below and above its co-signer, and for a
            // 2-of-3 signer set that skips a party; raw messages for two of them.
            if child || ![0, 1, 3].contains(&c) {
                continue;
            }
            for (round, msg) in messages.iter().enumerate() {
                let len = msg.payload.len();
                let before = vec![0u8; round];
                let seed = |kind: &str, op: &[u8]| {
                    let mut s = vec![sel];
                    s.extend_from_slice(&before);
                    s.extend_from_slice(op);
                    // Forward the rounds after this one.
                    s.resize(s.len() + (messages.len() - 1 - round), 0);
                    write(format!("relay-{tag}-r{}-{kind}", round + 1), &s);
                };
                for k in 1..4 {
                    let [hi, lo] = u16::try_from(len * k / 4).unwrap_or(0).to_be_bytes();
                    seed(&format!("flip{k}"), &[1, hi, lo, 1]);
                }
                let [hi, lo] = u16::try_from(len / 2).unwrap_or(0).to_be_bytes();
                seed("cut", &[3, hi, lo, 0]);
                seed("replay", &[5, 0]);
                seed("swap", &[7]);
                if c == 1 {
                    continue;
                }
                // The co-signer's real message as a raw envelope, its first 4 KB (the
                // envelope, the framing and the start of the OT data).
                let body = &msg.payload[..len.min(4096)];
                let to = msg.to.map_or(0, |p| p as u8 + 1);
                let [hi, lo] = u16::try_from(body.len()).unwrap_or(0).to_be_bytes();
                let mut raw = vec![selector(false, false, c), msg.from as u8, to, hi, lo];
                raw.extend_from_slice(body);
                write(format!("raw-{tag}-r{}", round + 1), &raw);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    static SEEDS: OnceLock<()> = OnceLock::new();
    SEEDS.get_or_init(|| {
        if let Some(dir) = std::env::var_os("SIGIL_FUZZ_DKLS23_SEEDS") {
            write_seeds(Path::new(&dir));
        }
    });
    if let Some((config, result, _)) = run(data) {
        if std::env::var_os("SIGIL_FUZZ_DKLS23_TRACE").is_some() {
            eprintln!("dkls23_messages: {config:?} {result:?}");
        }
        check(config, &result);
    }
});
