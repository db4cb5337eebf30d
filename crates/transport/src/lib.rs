//! Sigil's transport layer: the only code that knows vsock from Unix from TCP.
//!
//! * [`Addr`] parses and prints `vsock://CID:PORT`, `unix:///path` and `tcp://HOST:PORT`.
//! * [`Transport`] binds listeners and dials streams for any address. Every dial has a
//!   timeout, because a vsock connect to an absent peer hangs instead of failing. In
//!   simulation, vsock addresses map onto Unix sockets in one directory, so the same
//!   configuration runs on a Nitro host and on a laptop.
//! * [`copy_bidirectional`] is the one byte pump used by every bridge: correct half-close,
//!   live byte counters, an idle timeout, and no buffering that would delay small writes.

mod addr;
mod copy;
mod net;

pub use addr::{Addr, AddrParseError, Host, VSOCK_CID_ANY, VSOCK_CID_PARENT, validate_dns_name};
pub use copy::{CopyError, CopyOptions, CopyStats, copy_bidirectional};
pub use net::{Listener, Stream, Transport, TransportError, VsockMode};
