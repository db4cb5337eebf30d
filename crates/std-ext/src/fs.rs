//! Durable atomic file writes: a reader sees the old file or the whole new one, never a part,
//! and the new one survives a crash once the call returns.

use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically and durably: a new temporary file beside it (created
/// with `mode`, exclusively, under a random name), written and fsynced, renamed over `path`,
/// then the directory fsynced so the rename itself is on disk. On failure the temporary file
/// is removed and `path` is untouched. Errors name the step and the file.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let tmp = temp_path(path)?;
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .map_err(at("creating", &tmp))?;
        // The umask may have narrowed the mode; set it exactly (it is never widened past
        // what the caller asked for).
        f.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(at("setting the mode of", &tmp))?;
        f.write_all(bytes).map_err(at("writing", &tmp))?;
        f.sync_all().map_err(at("syncing", &tmp))?;
        std::fs::rename(&tmp, path).map_err(at("renaming into place", path))?;
        sync_parent_dir(path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A fresh name beside `path` for a temporary file: `.<name>.<16 hex>.tmp`.
pub fn temp_path(path: &Path) -> io::Result<PathBuf> {
    let mut suffix = [0u8; 8];
    getrandom::fill(&mut suffix).map_err(|e| io::Error::other(format!("randomness: {e}")))?;
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other(format!("{} names no file", path.display())))?;
    let tmp = format!(".{}.{}.tmp", name.to_string_lossy(), hex::encode(suffix));
    Ok(path.with_file_name(tmp))
}

/// Fsyncs the directory holding `path`, so a rename or a new file in it is durable.
pub fn sync_parent_dir(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(at("syncing the directory", dir))
}

/// Wraps an I/O error with the step and the file, keeping its kind.
fn at<'a>(step: &'static str, path: &'a Path) -> impl Fn(io::Error) -> io::Error + 'a {
    move |e| io::Error::new(e.kind(), format!("{step} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_with_the_mode_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys.json");
        write_atomic(&path, b"old", 0o644).expect("first write");
        write_atomic(&path, b"new contents", 0o600).expect("second write");
        assert_eq!(std::fs::read(&path).expect("read"), b"new contents");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("keys.json")]);
    }

    #[test]
    fn a_failed_write_names_the_step_and_keeps_the_old_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("missing-dir").join("f");
        let err = write_atomic(&path, b"x", 0o600).expect_err("no directory");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().starts_with("creating "), "{err}");
    }
}
