//! The SignService: the enclave's gRPC API for MPC signing sessions.
//!
//! [`SignerService`] runs one engine session per `Sign` stream on a blocking thread, relays
//! protocol messages between the stream and the engine, and owns session control: a cap on
//! concurrent sessions, per-message and per-session timeouts, one use per session id, and a
//! cache of finished results for idempotent retries. [`serve`] serves it, `grpc.health.v1` and
//! reflection on any transport address (vsock in the enclave, Unix sockets in simulation),
//! over mutual TLS terminated in-process ([`Security::MutualTls`], with `sigil-tls`) or, for
//! the simulation only, plaintext ([`Security::PlaintextForSimulation`]).
//! [`SignerService::with_tls_binding`] makes `Attest` carry the TLS key's SPKI hash.

mod registry;
mod server;
mod service;

pub use server::{Security, ServeError, serve};
pub use service::{Limits, SignerService};
pub use sigil_proto::Conn;
