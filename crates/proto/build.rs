//! Compiles the .protos with protox (pure Rust, no protoc) into tonic client and server code,
//! and writes one encoded descriptor set per API for gRPC reflection (so a server's reflection
//! lists only the services it serves).

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    for (proto, descriptor) in [
        (
            "proto/sigil/signer/v1/signer.proto",
            "signer_descriptor.bin",
        ),
        (
            "proto/sigil/provision/v1/provision.proto",
            "provision_descriptor.bin",
        ),
    ] {
        println!("cargo:rerun-if-changed={proto}");
        let fds = protox::compile([proto], ["proto"])?;
        std::fs::write(out.join(descriptor), prost::Message::encode_to_vec(&fds))?;
        tonic_prost_build::configure()
            .build_client(true)
            .build_server(true)
            .compile_fds(fds)?;
    }
    Ok(())
}
