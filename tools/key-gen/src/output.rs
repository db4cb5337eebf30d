//! The files of a run: key-share files encrypted with age (x25519 recipients, binary format)
//! to each party's recipients, the public summary, and (tests only) plaintext copies.
//!
//! Plaintext key-share JSON lives only in zeroizing buffers sized exactly before writing (no
//! reallocation leaves copies behind) and goes straight into the age writer. Every file is first
//! written to a temporary file in the output directory (share files 0600, summary 0644), synced,
//! and moved into place only after all of them were written, so a failed run leaves no share
//! file behind. Existing files are never overwritten without `force`.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::KeyGenError;
use crate::ceremony::Ceremony;
use crate::summary::FileSummary;

/// File name of the service's key-share file.
pub const SERVICE_FILE: &str = "service_key_shares.json.age";
/// File name of the public summary.
pub const SUMMARY_FILE: &str = "summary.json";

/// The encrypted key-share file name of `party`.
pub fn share_file_name(party: u16, service_party: u16) -> String {
    if party == service_party {
        SERVICE_FILE.to_owned()
    } else {
        format!("party-{party}_key_shares.json.age")
    }
}

/// The plaintext name next to an encrypted one (`--insecure-plaintext-out`).
fn plaintext_name(encrypted: &str) -> &str {
    encrypted.strip_suffix(".age").unwrap_or(encrypted)
}

/// Each party's age recipients, parsed.
pub struct Recipients {
    by_party: BTreeMap<u16, Vec<(String, age::x25519::Recipient)>>,
}

/// Parses one age X25519 recipient (`age1...`).
pub fn parse_recipient(s: &str) -> Result<age::x25519::Recipient, KeyGenError> {
    age::x25519::Recipient::from_str(s.trim()).map_err(|e| {
        KeyGenError::Input(format!(
            "{s:?} is not an age X25519 recipient (age1...): {e}"
        ))
    })
}

impl Recipients {
    /// Builds the recipient lists: `service` for the service party, `others` as
    /// `(party, recipient)` pairs for every other party. Every party needs at least one
    /// recipient; a party outside `0..parties` or the service party in `others` is an error.
    pub fn new(
        parties: u16,
        service_party: u16,
        service: &[String],
        others: &[(u16, String)],
    ) -> Result<Self, KeyGenError> {
        let mut by_party: BTreeMap<u16, Vec<(String, age::x25519::Recipient)>> = BTreeMap::new();
        let mut add = |party: u16, s: &str| -> Result<(), KeyGenError> {
            let r = parse_recipient(s)?;
            let list = by_party.entry(party).or_default();
            if !list.iter().any(|(have, _)| have == s.trim()) {
                list.push((s.trim().to_owned(), r));
            }
            Ok(())
        };
        for s in service {
            add(service_party, s)?;
        }
        for (party, s) in others {
            if *party >= parties {
                return Err(KeyGenError::Input(format!(
                    "--party-pubkeys names party {party}, but the parties are 0..{}",
                    parties.saturating_sub(1)
                )));
            }
            if *party == service_party {
                return Err(KeyGenError::Input(format!(
                    "--party-pubkeys names party {party}, the service party: give its recipients with --pubkeys"
                )));
            }
            add(*party, s)?;
        }
        if !by_party.contains_key(&service_party) {
            return Err(KeyGenError::Input(format!(
                "no age recipient for the service party {service_party}: give --pubkeys age1..."
            )));
        }
        let missing: Vec<String> = (0..parties)
            .filter(|p| !by_party.contains_key(p))
            .map(|p| p.to_string())
            .collect();
        if !missing.is_empty() {
            return Err(KeyGenError::Input(format!(
                "no age recipient for part{} {}: give --party-pubkeys P=age1... for each",
                if missing.len() == 1 { "y" } else { "ies" },
                missing.join(", ")
            )));
        }
        Ok(Self { by_party })
    }

    /// The recipients of `party` (as given, and parsed).
    pub fn of(&self, party: u16) -> &[(String, age::x25519::Recipient)] {
        self.by_party.get(&party).map_or(&[], Vec::as_slice)
    }
}

/// Where and how a run writes its files.
#[derive(Clone, Debug)]
pub struct OutputOptions {
    /// Output directory (created with mode 0700 if missing).
    pub out_dir: PathBuf,
    /// Replace existing files.
    pub force: bool,
    /// Also write plaintext key-share JSON (tests only).
    pub insecure_plaintext: bool,
}

impl OutputOptions {
    /// Every file a run of `parties` would write, in write order (share files, then summary).
    pub fn planned_files(&self, parties: u16, service_party: u16) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for p in 0..parties {
            let name = share_file_name(p, service_party);
            if self.insecure_plaintext {
                out.push(self.out_dir.join(plaintext_name(&name)));
            }
            out.push(self.out_dir.join(name));
        }
        out.push(self.out_dir.join(SUMMARY_FILE));
        out
    }

    /// Plaintext key-share files of an earlier `--insecure-plaintext-out` run in the same
    /// directory that this run (without the flag) would leave behind: refused without
    /// `force`, deleted by a successful forced run.
    fn stale_plaintext(&self, parties: u16, service_party: u16) -> Vec<PathBuf> {
        if self.insecure_plaintext {
            return Vec::new();
        }
        (0..parties)
            .map(|p| {
                self.out_dir
                    .join(plaintext_name(&share_file_name(p, service_party)))
            })
            .collect()
    }

    /// Creates the output directory if needed and refuses to go on if a file of the run (or a
    /// stale plaintext key-share file) exists, unless `force`. Call before any work.
    pub fn prepare(&self, parties: u16, service_party: u16) -> Result<(), KeyGenError> {
        match std::fs::metadata(&self.out_dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(KeyGenError::Output(format!(
                    "{} exists and is not a directory",
                    self.out_dir.display()
                )));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&self.out_dir)
                .map_err(|e| KeyGenError::io("creating the output directory", &self.out_dir, e))?,
            Err(e) => return Err(KeyGenError::io("reading", &self.out_dir, e)),
        }
        if !self.force {
            let mut files = self.planned_files(parties, service_party);
            files.extend(self.stale_plaintext(parties, service_party));
            let existing: Vec<String> = files
                .into_iter()
                .filter(|p| std::fs::symlink_metadata(p).is_ok())
                .map(|p| p.display().to_string())
                .collect();
            if !existing.is_empty() {
                return Err(KeyGenError::Output(format!(
                    "refusing to overwrite {} (use --force to replace)",
                    existing.join(", ")
                )));
            }
        }
        Ok(())
    }
}

/// A writer that hashes and counts what passes through.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A fresh temporary name beside `path` (`sigil_std_ext::fs::temp_path`).
pub(crate) fn temp_path(path: &Path) -> Result<PathBuf, KeyGenError> {
    sigil_std_ext::fs::temp_path(path).map_err(|e| KeyGenError::io("naming a file beside", path, e))
}

pub(crate) fn set_mode(path: &Path, mode: u32) -> Result<(), KeyGenError> {
    std::fs::set_permissions(path, Permissions::from_mode(mode))
        .map_err(|e| KeyGenError::io("setting the mode of", path, e))
}

/// Fsyncs the directory holding `path` (`sigil_std_ext::fs::sync_parent_dir`).
pub(crate) fn sync_parent(path: &Path) -> Result<(), KeyGenError> {
    sigil_std_ext::fs::sync_parent_dir(path).map_err(|e| KeyGenError::io("making durable", path, e))
}

fn create_new(path: &Path, mode: u32) -> Result<File, KeyGenError> {
    let f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| KeyGenError::io("creating", path, e))?;
    set_mode(path, mode)?;
    Ok(f)
}

/// Encrypts `plaintext` to `recipients` into a new file at `path` (mode 0600). Returns the
/// encrypted size and its SHA-256.
pub(crate) fn write_encrypted<'a>(
    path: &Path,
    plaintext: &[u8],
    recipients: impl Iterator<Item = &'a age::x25519::Recipient>,
) -> Result<(u64, String), KeyGenError> {
    let encryptor = age::Encryptor::with_recipients(recipients.map(|r| r as &dyn age::Recipient))
        .map_err(|e| KeyGenError::Output(format!("age: {e}")))?;
    let file = create_new(path, 0o600)?;
    let io_err = |e| KeyGenError::io("writing", path, e);
    let mut writer = encryptor
        .wrap_output(Hashing {
            inner: file,
            hash: Sha256::new(),
            bytes: 0,
        })
        .map_err(io_err)?;
    writer.write_all(plaintext).map_err(io_err)?;
    let hashing = writer.finish().map_err(io_err)?;
    hashing
        .inner
        .sync_all()
        .map_err(|e| KeyGenError::io("syncing", path, e))?;
    Ok((hashing.bytes, hex::encode(hashing.hash.finalize())))
}

fn write_plain(path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeyGenError> {
    let mut f = create_new(path, mode)?;
    f.write_all(bytes)
        .map_err(|e| KeyGenError::io("writing", path, e))?;
    f.sync_all()
        .map_err(|e| KeyGenError::io("syncing", path, e))
}

/// Writes every file of a finished ceremony: each party's key-share file (validated with
/// `KeyStore::from_json` first) encrypted to its recipients, plaintext copies if asked, then
/// the summary with the files' hashes. Records the files in `ceremony.summary` and returns the
/// summary's path. Call [`OutputOptions::prepare`] first.
pub fn write_run(
    ceremony: &mut Ceremony,
    recipients: &Recipients,
    opts: &OutputOptions,
) -> Result<PathBuf, KeyGenError> {
    // (temporary, final) pairs, moved into place only when all are written.
    let mut pending: Vec<(PathBuf, PathBuf)> = Vec::new();
    let result = write_all(ceremony, recipients, opts, &mut pending).and_then(|summary_path| {
        for (tmp, dest) in &pending {
            if opts.force {
                std::fs::rename(tmp, dest)
                    .map_err(|e| KeyGenError::io("renaming into place", dest, e))?;
            } else {
                // A hard link fails if the destination appeared meanwhile: never overwrite.
                std::fs::hard_link(tmp, dest)
                    .map_err(|e| KeyGenError::io("moving into place", dest, e))?;
                std::fs::remove_file(tmp).map_err(|e| KeyGenError::io("removing", tmp, e))?;
            }
        }
        if opts.force {
            let (parties, service) = (ceremony.summary.parties, ceremony.summary.service_party);
            for stale in opts.stale_plaintext(parties, service) {
                match std::fs::remove_file(&stale) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => {
                        return Err(KeyGenError::io(
                            "removing the stale plaintext file",
                            &stale,
                            e,
                        ));
                    }
                    _ => {}
                }
            }
        }
        sync_parent(&summary_path)?;
        Ok(summary_path)
    });
    if result.is_err() {
        for (tmp, _) in &pending {
            let _ = std::fs::remove_file(tmp);
        }
    }
    result
}

fn write_all(
    ceremony: &mut Ceremony,
    recipients: &Recipients,
    opts: &OutputOptions,
    pending: &mut Vec<(PathBuf, PathBuf)>,
) -> Result<PathBuf, KeyGenError> {
    let service_party = ceremony.summary.service_party;
    let mut files = Vec::new();
    for party in 0..ceremony.summary.parties {
        let name = share_file_name(party, service_party);
        let json = ceremony.party_json(party)?;
        let dest = opts.out_dir.join(&name);
        let tmp = temp_path(&dest)?;
        pending.push((tmp.clone(), dest));
        let list = recipients.of(party);
        let (bytes, sha256) = write_encrypted(&tmp, &json, list.iter().map(|(_, r)| r))?;
        if opts.insecure_plaintext {
            let dest = opts.out_dir.join(plaintext_name(&name));
            let tmp = temp_path(&dest)?;
            pending.push((tmp.clone(), dest));
            write_plain(&tmp, &json, 0o600)?;
        }
        files.push(FileSummary {
            party,
            file: name,
            recipients: list.iter().map(|(s, _)| s.clone()).collect(),
            bytes,
            plaintext_bytes: json.len() as u64,
            sha256,
        });
    }
    ceremony.summary.files = files;
    ceremony.summary.insecure_plaintext_written = opts.insecure_plaintext;
    let mut summary = serde_json::to_vec_pretty(&ceremony.summary)
        .map_err(|e| KeyGenError::Output(format!("encoding the summary: {e}")))?;
    summary.push(b'\n');
    let dest = opts.out_dir.join(SUMMARY_FILE);
    let tmp = temp_path(&dest)?;
    pending.push((tmp.clone(), dest.clone()));
    write_plain(&tmp, &summary, 0o644)?;
    Ok(dest)
}

#[cfg(test)]
mod tests {
    use super::*;

    const R1: &str = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";

    #[test]
    fn recipients_cover_every_party() {
        let svc = vec![R1.to_owned()];
        assert!(Recipients::new(2, 0, &svc, &[(1, R1.into())]).is_ok());
        let e = Recipients::new(3, 0, &svc, &[(1, R1.into())])
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("party 2"), "{e}");
        let e = Recipients::new(2, 0, &[], &[(1, R1.into())])
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("service party 0"), "{e}");
        assert!(Recipients::new(2, 0, &svc, &[(2, R1.into())]).is_err());
        assert!(Recipients::new(2, 0, &svc, &[(0, R1.into())]).is_err());
        let e = Recipients::new(2, 0, &["age1nope".into()], &[(1, R1.into())])
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("not an age X25519 recipient"), "{e}");
    }

    #[test]
    fn file_names() {
        assert_eq!(share_file_name(0, 0), SERVICE_FILE);
        assert_eq!(share_file_name(2, 0), "party-2_key_shares.json.age");
        assert_eq!(share_file_name(0, 1), "party-0_key_shares.json.age");
        assert_eq!(plaintext_name(SERVICE_FILE), "service_key_shares.json");
    }
}
