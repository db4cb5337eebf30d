//! The SignService gRPC API, `sigil.signer.v1`: generated messages, the tonic client and server,
//! and the encoded file descriptor set for gRPC reflection. The .proto in
//! `proto/sigil/signer/v1/signer.proto` is the contract with the Sign Gateway.

#![allow(
    missing_docs,
    clippy::doc_lazy_continuation,
    clippy::large_enum_variant
)]

/// `sigil.signer.v1`.
pub mod v1 {
    tonic::include_proto!("sigil.signer.v1");
}

/// The encoded `FileDescriptorSet` of `sigil.signer.v1`, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/signer_descriptor.bin"));
