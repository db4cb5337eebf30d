//! [`ChannelIo`]: the one [`MessageIo`] over in-memory channels. An engine runs on a thread of
//! its own and talks to an async relay (the service's gRPC stream, the co-signer's router, a
//! benchmark's peer) through tokio channels it uses blocking.

use tokio::sync::mpsc;

use crate::{MessageIo, MpcError, WireMessage};

/// What an engine sees when the other end of its channel is gone.
const CLOSED: &str = "session ended";

/// The engine's side of a session over tokio channels: messages it receives arrive on
/// `inbound`, messages it sends leave on `outbound`. Both block the calling thread, so it must
/// not run on the async runtime itself (`spawn_blocking` or a thread of its own).
///
/// Either end may be bounded (back-pressure on the engine) or unbounded (a router that must
/// never wait on an engine).
pub struct ChannelIo {
    inbound: Inbound,
    outbound: Outbound,
}

/// The receiving end of a [`ChannelIo`].
pub enum Inbound {
    /// A bounded channel.
    Bounded(mpsc::Receiver<WireMessage>),
    /// An unbounded channel.
    Unbounded(mpsc::UnboundedReceiver<WireMessage>),
}

/// The sending end of a [`ChannelIo`].
pub enum Outbound {
    /// A bounded channel: `send` waits for room.
    Bounded(mpsc::Sender<WireMessage>),
    /// An unbounded channel: `send` never waits.
    Unbounded(mpsc::UnboundedSender<WireMessage>),
}

impl From<mpsc::Receiver<WireMessage>> for Inbound {
    fn from(rx: mpsc::Receiver<WireMessage>) -> Self {
        Inbound::Bounded(rx)
    }
}

impl From<mpsc::UnboundedReceiver<WireMessage>> for Inbound {
    fn from(rx: mpsc::UnboundedReceiver<WireMessage>) -> Self {
        Inbound::Unbounded(rx)
    }
}

impl From<mpsc::Sender<WireMessage>> for Outbound {
    fn from(tx: mpsc::Sender<WireMessage>) -> Self {
        Outbound::Bounded(tx)
    }
}

impl From<mpsc::UnboundedSender<WireMessage>> for Outbound {
    fn from(tx: mpsc::UnboundedSender<WireMessage>) -> Self {
        Outbound::Unbounded(tx)
    }
}

impl ChannelIo {
    /// An engine's ends: it receives from `inbound` and sends to `outbound`.
    pub fn new(inbound: impl Into<Inbound>, outbound: impl Into<Outbound>) -> Self {
        Self {
            inbound: inbound.into(),
            outbound: outbound.into(),
        }
    }
}

impl MessageIo for ChannelIo {
    fn send(&mut self, msg: WireMessage) -> Result<(), MpcError> {
        let sent = match &self.outbound {
            Outbound::Bounded(tx) => tx.blocking_send(msg).is_ok(),
            Outbound::Unbounded(tx) => tx.send(msg).is_ok(),
        };
        if sent {
            Ok(())
        } else {
            Err(MpcError::Channel(CLOSED.into()))
        }
    }

    fn recv(&mut self) -> Result<WireMessage, MpcError> {
        match &mut self.inbound {
            Inbound::Bounded(rx) => rx.blocking_recv(),
            Inbound::Unbounded(rx) => rx.blocking_recv(),
        }
        .ok_or_else(|| MpcError::Channel(CLOSED.into()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn msg(from: u16) -> WireMessage {
        WireMessage {
            from,
            to: None,
            payload: vec![1, 2, 3],
        }
    }

    #[test]
    fn relays_both_ways_and_reports_a_closed_end() {
        let (to_engine, inbound) = mpsc::channel(4);
        let (outbound, mut from_engine) = mpsc::unbounded_channel();
        let mut io = ChannelIo::new(inbound, outbound);
        to_engine.blocking_send(msg(1)).unwrap();
        assert_eq!(io.recv().unwrap(), msg(1));
        io.send(msg(0)).unwrap();
        assert_eq!(from_engine.blocking_recv().unwrap(), msg(0));
        drop(to_engine);
        assert!(matches!(io.recv(), Err(MpcError::Channel(_))));
        drop(from_engine);
        assert!(matches!(io.send(msg(0)), Err(MpcError::Channel(_))));
    }
}
