//! Protocol messages from another party, as a session receives them: the input becomes a
//! sequence of envelopes fed to a FROST Ed25519 session, and is also decoded as a cggmp24
//! signing message. Any input ends the session with a result or an error, never a panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sigil_mpc::ed25519::{Ed25519Key, identifier};
use sigil_mpc::{DerivationPath, MessageIo, MpcError, Session, SignData, ThresholdKey, WireMessage};

fn key() -> &'static Ed25519Key {
    static KEY: OnceLock<Ed25519Key> = OnceLock::new();
    KEY.get_or_init(|| {
        let (shares, pkp) = frost_ed25519::keys::generate_with_dealer(
            2,
            2,
            frost_ed25519::keys::IdentifierList::Default,
            rand_core::OsRng,
        )
        .expect("dealer");
        let kp = frost_ed25519::keys::KeyPackage::try_from(shares[&identifier(0).expect("id")].clone())
            .expect("key package");
        Ed25519Key::new(0, 2, kp, pkp).expect("key")
    })
}

/// Feeds envelopes cut from the input: [from, to-flag, len_hi, len_lo, payload...]*.
struct Feed<'a> {
    data: &'a [u8],
}

impl MessageIo for Feed<'_> {
    fn send(&mut self, _msg: WireMessage) -> Result<(), MpcError> {
        Ok(())
    }
    fn recv(&mut self) -> Result<WireMessage, MpcError> {
        let [from, to, hi, lo, rest @ ..] = self.data else {
            return Err(MpcError::Channel("input exhausted".into()));
        };
        let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(rest.len());
        let (payload, rest) = rest.split_at(len);
        self.data = rest;
        Ok(WireMessage {
            from: u16::from(*from % 4),
            to: (*to % 3 != 0).then(|| u16::from(*to % 3 - 1)),
            payload: payload.to_vec(),
        })
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<sigil_mpc::ecdsa::ProtocolMsg>(data);
    let session = Session::new("fuzz", "acct", vec![0, 1], DerivationPath::root(), SignData::Ed25519(b"m".to_vec()))
        .expect("session");
    let _ = key().sign(&session, &mut Feed { data });
});
