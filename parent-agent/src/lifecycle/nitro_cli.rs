//! The `nitro-cli` runner: run-enclave, describe-enclaves and terminate-enclave driven
//! through their JSON output, with nitro-cli's error codes mapped to actionable messages.
