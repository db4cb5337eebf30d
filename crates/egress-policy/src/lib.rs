//! The egress allowlist: which destinations the enclave may reach through the parent.
//!
//! Deny by default. An [`Allowlist`] holds `(host pattern, port)` entries — exact names,
//! `*.suffix` wildcards, IP literals and CIDRs — and an empty list denies everything.
//! [`Policy::decide`] matches a destination, resolves names with the system resolver
//! (through hickory, which caches each answer for its TTL), and refuses any resolved
//! address in a loopback, link-local, private, unique-local or otherwise special range
//! unless an entry names that range explicitly. The caller logs and counts each
//! [`Decision`]; this crate only decides.

mod allowlist;
mod ranges;
mod resolve;

pub use allowlist::{AllowEntry, Allowlist, EntryError, HostPattern};
pub use ranges::special_range;
pub use resolve::{Decision, DenyReason, DnsConfig, Policy, PolicyError};
