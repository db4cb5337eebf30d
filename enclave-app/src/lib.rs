//! enclave-app: the program a Sigil Nitro Enclave runs (it replaces `enclave-entrypoint.sh`).
//!
//! The boot sequence of DESIGN.md, one module per concern:
//!
//! * [`nsm`] — which NSM (the device, or the simulated one) and opening it.
//! * [`harden`] — not dumpable, no core files, memory locked where allowed, `lo` up, entropy
//!   from the NSM, child reaping when PID 1.
//! * [`runtime`] — the parent's runtime configuration and credentials, checked as the
//!   untrusted input they are (a plaintext KMS endpoint only in simulation).
//! * [`unwrap`] — the attested KMS Decrypt of the age identity, retried within a deadline
//!   while the failure may pass.
//! * [`unseal`] — age-decrypt the key shares (and the TLS bundle) in memory, validate, build
//!   the account map, and wipe the identity and every plaintext buffer.
//! * [`report`] — the boot report: evidence and timings, never a secret; the boot's steps
//!   ([`Step`], [`StepError`]) and [`timed`](report::timed), which runs and records one step.
//!   The leaf: `boot` and `unseal` import from it.
//! * [`boot`] — the steps in order, each through `timed`, and the report finished either way.

pub mod boot;
pub mod harden;
pub mod nsm;
pub mod report;
pub mod runtime;
pub mod unseal;
pub mod unwrap;

pub use boot::{Booted, Options, boot};
pub use nsm::NsmChoice;
pub use report::{Step, StepError};

/// The enclave's global allocator: every heap block is wiped when freed (and when a
/// reallocation moves it), so a secret a library copied into a temporary — serde buffering a
/// hex string, a `Vec` that grew — does not outlive the temporary. Our own buffers are still
/// `Zeroizing`; this is the backstop for code we do not control (measured by
/// `tests/zeroize.rs`).
pub type WipeOnFree<A = std::alloc::System> = secmem_alloc::zeroizing_alloc::ZeroizeAlloc<A>;
