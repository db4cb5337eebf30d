//! Errors of a signing session. Messages name what went wrong and never carry key material or
//! protocol payload bytes.

use thiserror::Error;

/// Why a session or a key operation failed.
#[derive(Debug, Error)]
pub enum MpcError {
    /// The request does not fit this account (party set, scheme rules, path, payload).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// A message from another party is malformed, misaddressed, duplicated or out of place.
    #[error("bad message from party {party}: {reason}")]
    BadMessage {
        /// Key-generation index of the sender as it claimed.
        party: u16,
        /// What is wrong with it.
        reason: String,
    },
    /// The protocol aborted, e.g. a proof from another party did not verify.
    #[error("protocol aborted: {0}")]
    Protocol(String),
    /// The message channel closed or timed out before the session finished.
    #[error("session channel closed: {0}")]
    Channel(String),
    /// A party deviated from the protocol in a way that may leak the signer group's reused
    /// OT state (DKLs23's failed OT-consistency or multiplication checks). The group is frozen
    /// from now on.
    #[error(
        "party {party} deviated from the protocol ({reason}); signer group {group:?} is frozen \
         until its pair setup is dealt again"
    )]
    Cheating {
        /// The signer group.
        group: String,
        /// The party that deviated.
        party: u16,
        /// The check that failed.
        reason: String,
    },
    /// The account's signer group was frozen by an earlier [`MpcError::Cheating`].
    #[error(
        "signer group {group:?} is frozen: party {party} deviated from the protocol in an \
         earlier session ({reason}); deal the group's pair setup again"
    )]
    GroupFrozen {
        /// The signer group.
        group: String,
        /// The party that deviated.
        party: u16,
        /// The check that failed.
        reason: String,
    },
    /// The protocol produced a signature that does not verify (never expected; fail closed).
    #[error("the combined signature does not verify")]
    InvalidSignature,
}
