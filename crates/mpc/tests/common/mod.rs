#![allow(dead_code, clippy::unwrap_used)]
//! The test harness every engine test runs sessions through: each party on a thread of its
//! own, messages routed in memory between them, with a hook that rewrites one party's
//! messages in flight.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;

use sigil_mpc::{MessageIo, MpcError, Session, SignData, Signature, ThresholdKey, WireMessage};

pub type Tamper = Arc<dyn Fn(&mut WireMessage) + Send + Sync>;

/// In-memory network: each party's outgoing messages go to the addressed parties' inboxes.
/// A `tamper` hook may rewrite messages in flight.
struct LocalIo {
    me: u16,
    inbox: Receiver<WireMessage>,
    peers: HashMap<u16, Sender<WireMessage>>,
    tamper: Option<Tamper>,
}

impl MessageIo for LocalIo {
    fn send(&mut self, mut msg: WireMessage) -> Result<(), MpcError> {
        assert_eq!(msg.from, self.me);
        if let Some(t) = &self.tamper {
            t(&mut msg);
        }
        for (&p, tx) in &self.peers {
            if msg.to.is_none() || msg.to == Some(p) {
                let _ = tx.send(msg.clone());
            }
        }
        Ok(())
    }
    fn recv(&mut self) -> Result<WireMessage, MpcError> {
        self.inbox
            .recv_timeout(Duration::from_secs(60))
            .map_err(|e| MpcError::Channel(e.to_string()))
    }
}

pub fn run(
    keys: &[Arc<dyn ThresholdKey>],
    sessions: Vec<Session>,
    tamper: Option<Tamper>,
) -> Vec<Result<Signature, MpcError>> {
    let parties = sessions[0].parties.clone();
    let (txs, rxs): (HashMap<u16, _>, HashMap<u16, _>) = parties
        .iter()
        .map(|&p| {
            let (tx, rx) = channel();
            ((p, tx), (p, rx))
        })
        .unzip();
    let mut rxs = rxs;
    let handles: Vec<_> = parties
        .iter()
        .zip(sessions)
        .map(|(&p, session)| {
            let key = keys[usize::from(p)].clone();
            let mut io = LocalIo {
                me: p,
                inbox: rxs.remove(&p).unwrap(),
                peers: txs
                    .iter()
                    .filter(|(q, _)| **q != p)
                    .map(|(q, t)| (*q, t.clone()))
                    .collect(),
                tamper: if p == parties[0] {
                    tamper.clone()
                } else {
                    None
                },
            };
            std::thread::spawn(move || key.sign(&session, &mut io))
        })
        .collect();
    drop(txs);
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

pub fn same_session(parties: &[u16], path: &str, data: SignData) -> Vec<Session> {
    parties
        .iter()
        .map(|_| {
            Session::new(
                "sess-1",
                "acct",
                parties.to_vec(),
                path.parse().unwrap(),
                data.clone(),
            )
            .unwrap()
        })
        .collect()
}
