//! Sigil's gRPC contracts: generated messages, tonic clients and servers, and the encoded file
//! descriptor set for gRPC reflection.
//!
//! * `sigil.signer.v1` (`proto/sigil/signer/v1/signer.proto`) — the SignService, the contract
//!   with the Sign Gateway.
//! * `sigil.provision.v1` (`proto/sigil/provision/v1/provision.proto`) — the boot bundle and
//!   boot report between enclave-app and parent-agent on vsock 7000.

#![allow(
    missing_docs,
    clippy::doc_lazy_continuation,
    clippy::large_enum_variant
)]

mod conn;
pub use conn::Conn;

/// `sigil.signer.*`: the SignService.
pub mod signer {
    /// `sigil.signer.v1`.
    pub mod v1 {
        tonic::include_proto!("sigil.signer.v1");
    }
}

/// `sigil.provision.*`: the boot bundle and the boot report.
pub mod provision {
    /// `sigil.provision.v1`.
    pub mod v1 {
        tonic::include_proto!("sigil.provision.v1");
    }
}

/// The encoded `FileDescriptorSet` of `sigil.signer.v1`, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/signer_descriptor.bin"));

/// The encoded `FileDescriptorSet` of `sigil.provision.v1`, for gRPC reflection.
pub const PROVISION_FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/provision_descriptor.bin"));
