//! The log channel's configuration: where lines go, how many may wait, how long a line may be.

use std::time::Duration;

use sigil_transport::{Addr, Transport, VSOCK_CID_PARENT, VsockMode};

/// The parent's vsock port for the enclave's log stream (DESIGN.md, "vsock ports").
pub const LOG_PORT: u32 = 7001;

/// How the enclave's log channel behaves. Build one with [`Config::new`] (or
/// [`Config::parent`]) and adjust the public fields.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where the lines go: `vsock://3:7001` in the enclave.
    pub addr: Addr,
    /// Dials `addr` (native vsock, or Unix sockets in simulation).
    pub transport: Transport,
    /// Lines buffered while the parent is slow or absent; when full, new lines are dropped
    /// and counted. Worst-case memory is `capacity × max_line_bytes`. At least 1.
    pub capacity: usize,
    /// Bound on every connect (a vsock connect to an absent peer hangs forever).
    pub connect_timeout: Duration,
    /// The longest line, in bytes without the newline; longer lines are truncated (still
    /// valid JSON). Raised to [`crate::MIN_LINE_BYTES`] if set lower.
    pub max_line_bytes: usize,
    /// The `source` of every line, e.g. `enclave`.
    pub source: String,
    /// Marks every line `"simulated":true` (simulation is never silent).
    pub simulated: bool,
    /// Also write every line to stderr, from a separate thread, dropping lines rather than
    /// blocking when stderr is slow.
    pub mirror_stderr: bool,
}

impl Config {
    /// Lines buffered by default.
    pub const DEFAULT_CAPACITY: usize = 4096;
    /// Connect timeout by default.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
    /// Line cap by default.
    pub const DEFAULT_MAX_LINE_BYTES: usize = 8 * 1024;

    /// Defaults for shipping to `addr` through `transport`: 4096 lines buffered, 2 s connect
    /// timeout, 8 KiB lines, source `enclave`, `simulated` set when the transport simulates
    /// vsock, no stderr mirror.
    pub fn new(transport: Transport, addr: Addr) -> Self {
        let simulated = matches!(transport.vsock_mode(), VsockMode::Simulated { .. });
        Config {
            addr,
            transport,
            capacity: Self::DEFAULT_CAPACITY,
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            max_line_bytes: Self::DEFAULT_MAX_LINE_BYTES,
            source: "enclave".to_owned(),
            simulated,
            mirror_stderr: false,
        }
    }

    /// [`Config::new`] for the parent's log port, `vsock://3:7001`.
    pub fn parent(transport: Transport) -> Self {
        Self::new(
            transport,
            Addr::Vsock {
                cid: VSOCK_CID_PARENT,
                port: LOG_PORT,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulation_is_marked() {
        let c = Config::parent(Transport::simulated("/tmp/x", 16));
        assert!(c.simulated);
        assert_eq!(c.addr.to_string(), "vsock://3:7001");
        assert!(!Config::parent(Transport::native()).simulated);
    }
}
