//! Keys and aliases, persisted as JSON files in the state directory.
//!
//! Layout: `<state-dir>/keys/<key-id>.json` (one file per key, including its key material
//! in base64 — this is a simulator) and `<state-dir>/aliases.json`. Every write goes to a
//! temporary file in the same directory, is fsynced and then renamed over the old file.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Why the store could not load or save.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file system operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A state file is not valid JSON of the expected shape.
    #[error("corrupt state file {path}: {source}")]
    Corrupt {
        /// Which file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
    /// The lock was poisoned by a panicking thread.
    #[error("state lock poisoned")]
    Poisoned,
}

/// A key's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyState {
    /// Usable.
    Enabled,
    /// Disabled by DisableKey.
    Disabled,
    /// Scheduled for deletion.
    PendingDeletion,
}

impl KeyState {
    /// The KMS spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Enabled => "Enabled",
            KeyState::Disabled => "Disabled",
            KeyState::PendingDeletion => "PendingDeletion",
        }
    }
}

/// One KMS key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyRecord {
    /// The key id (a UUID).
    pub key_id: String,
    /// The key ARN.
    pub arn: String,
    /// Creation time, epoch seconds.
    pub creation_date: f64,
    /// Description given at creation.
    pub description: String,
    /// Lifecycle state.
    pub state: KeyState,
    /// The key policy document, verbatim.
    pub policy: String,
    /// Whether automatic rotation is enabled (recorded only; material never rotates).
    pub rotation_enabled: bool,
    /// Rotation period, days.
    pub rotation_period_days: Option<u32>,
    /// When the key is deleted, epoch seconds (PendingDeletion only).
    pub deletion_date: Option<f64>,
    /// 32 bytes of AES-256 key material, base64.
    pub material_b64: String,
}

/// One alias.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AliasRecord {
    /// `alias/…`.
    pub name: String,
    /// The key id it points at.
    pub target_key_id: String,
    /// Creation time, epoch seconds.
    pub creation_date: f64,
}

/// The in-memory state.
#[derive(Debug, Default)]
pub struct State {
    /// Keys by id.
    pub keys: BTreeMap<String, KeyRecord>,
    /// Aliases by name.
    pub aliases: BTreeMap<String, AliasRecord>,
}

/// The persistent store.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    state: Mutex<State>,
}

/// Now as epoch seconds.
pub fn now_epoch() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as f64)
        .unwrap_or(0.0)
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.to_path_buf();
    move |source| StoreError::Io { what, path, source }
}

impl Store {
    /// Opens (creating if needed) the state directory and loads every key and alias.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let keys_dir = dir.join("keys");
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&keys_dir)
            .map_err(io("creating", &keys_dir))?;
        let mut state = State::default();
        for entry in fs::read_dir(&keys_dir).map_err(io("listing", &keys_dir))? {
            let path = entry.map_err(io("listing", &keys_dir))?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue; // leftover temporary files of an interrupted write
            }
            let text = fs::read_to_string(&path).map_err(io("reading", &path))?;
            let key: KeyRecord =
                serde_json::from_str(&text).map_err(|source| StoreError::Corrupt {
                    path: path.clone(),
                    source,
                })?;
            state.keys.insert(key.key_id.clone(), key);
        }
        let aliases_path = dir.join("aliases.json");
        if aliases_path.exists() {
            let text = fs::read_to_string(&aliases_path).map_err(io("reading", &aliases_path))?;
            let aliases: Vec<AliasRecord> =
                serde_json::from_str(&text).map_err(|source| StoreError::Corrupt {
                    path: aliases_path.clone(),
                    source,
                })?;
            state.aliases = aliases.into_iter().map(|a| (a.name.clone(), a)).collect();
        }
        Ok(Store {
            dir: dir.to_path_buf(),
            state: Mutex::new(state),
        })
    }

    /// Locks the state for reading or changing it.
    pub fn lock(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        self.state.lock().map_err(|_| StoreError::Poisoned)
    }

    /// Persists one key.
    pub fn save_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        let dir = self.dir.join("keys");
        let json = serde_json::to_vec_pretty(key).map_err(|source| StoreError::Corrupt {
            path: dir.clone(),
            source,
        })?;
        write_atomic(&dir, &format!("{}.json", key.key_id), &json)
    }

    /// Persists all aliases.
    pub fn save_aliases(&self, state: &State) -> Result<(), StoreError> {
        let list: Vec<&AliasRecord> = state.aliases.values().collect();
        let json = serde_json::to_vec_pretty(&list).map_err(|source| StoreError::Corrupt {
            path: self.dir.clone(),
            source,
        })?;
        write_atomic(&self.dir, "aliases.json", &json)
    }
}

/// Writes `name` in `dir` atomically and durably, owner-only (key files hold key material).
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
    let target = dir.join(name);
    sigil_std_ext::fs::write_atomic(&target, bytes, 0o600).map_err(io("writing", &target))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persists_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let key = KeyRecord {
            key_id: "k1".into(),
            arn: "arn:aws:kms:us-east-1:111122223333:key/k1".into(),
            creation_date: 1.0,
            description: String::new(),
            state: KeyState::Enabled,
            policy: "{}".into(),
            rotation_enabled: false,
            rotation_period_days: None,
            deletion_date: None,
            material_b64: "AA==".into(),
        };
        store.save_key(&key).unwrap();
        {
            let mut st = store.lock().unwrap();
            st.aliases.insert(
                "alias/a".into(),
                AliasRecord {
                    name: "alias/a".into(),
                    target_key_id: "k1".into(),
                    creation_date: 2.0,
                },
            );
            store.save_aliases(&st).unwrap();
        }
        let again = Store::open(dir.path()).unwrap();
        let st = again.lock().unwrap();
        assert_eq!(st.keys["k1"].arn, key.arn);
        assert_eq!(st.aliases["alias/a"].target_key_id, "k1");
    }
}
