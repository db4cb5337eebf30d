//! The enclave's log stream on the parent: every line received on vsock 7001 (already
//! allow-listed by the enclave, and parsed as an untrusted JSON object by
//! `sigil-log-channel`) is re-emitted on stdout as one JSON line with `"source":"enclave"`
//! (journald keeps it), and appended to a size-bounded rotating file.
//!
//! One kind of line is also acted on ([`observe`]): the signer's `signer_group_frozen` (a
//! co-signer was caught cheating and every account of a DKLs23 signer group is refused from
//! now on) is counted in `sigil_enclave_signer_group_freezes_total{group}` and reported again
//! at error level in parent-agent's own log (`enclave_signer_group_frozen`), so alerting on
//! parent-agent's metrics or its error lines sees it without parsing the enclave's lines.
//!
//! Rotation is by size: when `FILE` would pass `max_file_bytes`, `FILE.N-1` → `FILE.N`, …,
//! `FILE` → `FILE.1`, and a new `FILE` starts; at most `keep_files` old files remain. Written
//! here rather than taken from a crate because the only size-rotating crates pull a date
//! library for a feature this does not need; it is forty lines and tested below.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sigil_log_channel::Receiver;
use sigil_transport::Listener;
use tracing::{error, warn};

use crate::config::LogsConfig;
use crate::observe::metrics::Metrics;

/// A file that rotates by size.
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    max_bytes: u64,
    keep: usize,
    file: File,
    written: u64,
}

impl RotatingFile {
    /// Opens (appends to) `path`.
    pub fn open(path: &Path, max_bytes: u64, keep: usize) -> std::io::Result<Self> {
        let file = open_append(path)?;
        let written = file.metadata()?.len();
        Ok(RotatingFile {
            path: path.to_owned(),
            max_bytes,
            keep,
            file,
            written,
        })
    }

    fn numbered(&self, n: usize) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(format!(".{n}"));
        p.into()
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let _ = std::fs::remove_file(self.numbered(self.keep));
        for n in (1..self.keep).rev() {
            let from = self.numbered(n);
            if from.exists() {
                std::fs::rename(&from, self.numbered(n + 1))?;
            }
        }
        std::fs::rename(&self.path, self.numbered(1))?;
        self.file = open_append(&self.path)?;
        self.written = 0;
        Ok(())
    }

    /// Appends one line (a newline is added), rotating first if it would not fit.
    pub fn write_line(&mut self, line: &[u8]) -> std::io::Result<()> {
        let len = line.len() as u64 + 1;
        if self.written > 0 && self.written + len > self.max_bytes {
            self.rotate()?;
        }
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line);
        buf.push(b'\n');
        self.file.write_all(&buf)?;
        self.written += len;
        Ok(())
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
}

/// Receives the enclave's lines until dropped: stdout, the file, and the line counters.
pub async fn run(listener: Listener, cfg: LogsConfig, metrics: Arc<Metrics>) {
    let mut file = match &cfg.file {
        None => None,
        Some(p) => match RotatingFile::open(p, cfg.max_file_bytes, cfg.keep_files) {
            Ok(f) => Some(f),
            Err(e) => {
                warn!(event = "enclave_log_file_unavailable", path = %p.display(), error = %e);
                None
            }
        },
    };
    let receiver = Receiver::new(listener, cfg.max_line_bytes);
    let stats = receiver.stats();
    let m = metrics.clone();
    // The receiver's refusals become counters once a second.
    let refusals = async move {
        let mut seen = 0u64;
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let now = stats.too_long() + stats.invalid() + stats.incomplete();
            m.enclave_log_lines("refused", now.saturating_sub(seen));
            seen = now;
        }
    };
    let lines = receiver.run(move |line| {
        metrics.enclave_log_lines("accepted", 1);
        observe(&line.value, &line.peer, &metrics);
        let mut value = line.value;
        if let Some(obj) = value.as_object_mut() {
            obj.insert("source".into(), "enclave".into());
            obj.insert("peer".into(), line.peer.into());
        }
        let text = value.to_string();
        {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            let _ = out.write_all(b"\n");
        }
        if let Some(f) = file.as_mut()
            && let Err(e) = f.write_line(text.as_bytes())
        {
            warn!(event = "enclave_log_file_failed", error = %e);
        }
    });
    tokio::join!(refusals, lines);
}

/// The `event` of the signer's line for a frozen signer group (`sigil-signer`'s
/// `mpc_status`).
pub const SIGNER_GROUP_FROZEN: &str = "signer_group_frozen";

/// Acts on one enclave line beyond keeping it: a [`SIGNER_GROUP_FROZEN`] line is counted by
/// its group and reported at error level as `enclave_signer_group_frozen`, with the group,
/// party and reason as the line gives them (the enclave's allow-listed fields, capped in
/// length by the log channel; the label is checked and capped by the metric).
pub fn observe(line: &Value, peer: &str, metrics: &Metrics) {
    let field = |name: &str| line.get("fields").and_then(|f| f.get(name));
    if field("event").and_then(Value::as_str) != Some(SIGNER_GROUP_FROZEN) {
        return;
    }
    let group = field("group").and_then(Value::as_str);
    let label = metrics.signer_group_freeze(group);
    let text = |name: &str| match field(name) {
        None => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    error!(
        event = "enclave_signer_group_frozen",
        group = group.unwrap_or_default(),
        label = %label,
        party = %text("party"),
        reason = %text("reason"),
        peer,
        "the enclave froze a signer group: a co-signer deviated from the protocol, and every \
         account of the group is refused until its pair setup is dealt again"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_signers_freeze_line_counts() {
        let m = Metrics::new();
        let line = |v: serde_json::Value| observe(&v, "vsock://16:1", &m);
        line(serde_json::json!({"level": "ERROR", "fields": {
            "event": "signer_group_frozen", "group": "hot", "party": 1, "reason": "r"}}));
        // The group as the enclave's allow-list left it when it was not allowed.
        line(
            serde_json::json!({"fields": {"event": "signer_group_frozen", "group": "<redacted>"}}),
        );
        line(serde_json::json!({"fields": {"event": "signer_group_frozen"}}));
        // Not the signer's event: another event, the name outside `fields`, or not a string.
        line(serde_json::json!({"fields": {"event": "session_failed", "group": "hot"}}));
        line(serde_json::json!({"event": "signer_group_frozen", "group": "hot"}));
        line(serde_json::json!({"fields": {"event": ["signer_group_frozen"], "group": "hot"}}));
        line(serde_json::json!({"message": "signer_group_frozen"}));
        assert_eq!(m.signer_group_freezes("hot"), 1);
        assert_eq!(
            m.signer_group_freezes(crate::observe::metrics::FREEZE_GROUP_INVALID),
            2
        );
    }

    #[test]
    fn rotates_by_size_and_keeps_n() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("enclave.log");
        let mut f = RotatingFile::open(&path, 100, 2).unwrap();
        for i in 0..10 {
            f.write_line(format!("{i:039}").as_bytes()).unwrap();
        }
        // 40 bytes a line: two lines a file.
        let read = |p: &Path| std::fs::read_to_string(p).unwrap();
        assert_eq!(read(&path).lines().count(), 2);
        assert!(read(&path).contains(&format!("{:039}", 9)));
        assert!(read(&dir.path().join("enclave.log.1")).contains(&format!("{:039}", 7)));
        assert!(read(&dir.path().join("enclave.log.2")).contains(&format!("{:039}", 5)));
        assert!(!dir.path().join("enclave.log.3").exists());
        // Reopening appends and keeps counting the existing size.
        drop(f);
        let mut f = RotatingFile::open(&path, 100, 2).unwrap();
        f.write_line(b"x").unwrap();
        assert_eq!(read(&path).lines().count(), 3);
    }
}
