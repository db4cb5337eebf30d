//! The enclave on this host: [`runner`] starts and stops it (`nitro-cli` or a child process
//! in simulation), [`gate`] verifies its attestation, [`supervisor`] drives its lifecycle and
//! [`archive`] keeps the evidence (attestation documents, boot reports).

pub mod archive;
pub mod gate;
pub mod runner;
pub mod supervisor;
