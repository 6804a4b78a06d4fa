//! Policy files: one safetensors tensor `[states, actions]` (f32) per Q-table,
//! plus the state/action layout and the hyperparameters as metadata. Written
//! atomically and byte-for-byte deterministically.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use super::{Hyperparameters, QTable};

/// Format tag stored in every policy file.
pub const FORMAT: &str = "colony-qtable-v1";

/// Why a policy file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum PolicyFileError {
    /// File system error.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Not a safetensors file, or not one of ours.
    #[error("{path}: not a colony policy file: {reason}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// The metadata stored with a policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyMeta {
    /// Scene name it was trained on.
    pub scene: String,
    /// Episodes trained.
    pub episodes: u64,
    /// Hyperparameters of the run.
    pub hyperparameters: Hyperparameters,
}

/// A policy read from disk: named tables and their metadata.
#[derive(Debug, Clone)]
pub struct PolicyFile {
    /// Tables by name, in file order.
    pub tables: Vec<(String, usize, usize, Vec<f32>)>,
    /// What was stored with them.
    pub meta: PolicyMeta,
}

impl PolicyFile {
    /// Copies the stored values into the live tables with the same names and
    /// shapes; errors name a missing or mismatched table.
    pub fn apply_to<'a>(
        &self,
        tables: impl IntoIterator<Item = &'a mut QTable>,
        path: &str,
    ) -> Result<(), PolicyFileError> {
        for table in tables {
            let Some((_, s, a, q)) = self.tables.iter().find(|(n, ..)| *n == table.name) else {
                return Err(PolicyFileError::Format {
                    path: path.into(),
                    reason: format!(
                        "it has no table `{}` (it has: {}); was it trained on another scene?",
                        table.name,
                        self.tables.iter().map(|t| t.0.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                });
            };
            if (*s, *a) != (table.states, table.actions) {
                return Err(PolicyFileError::Format {
                    path: path.into(),
                    reason: format!(
                        "table `{}` is {s}x{a} but this build uses {}x{}",
                        table.name, table.states, table.actions
                    ),
                });
            }
            table.q.copy_from_slice(q);
        }
        Ok(())
    }
}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder,
/// synced, then renamed over the target.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)
}

/// Saves Q-tables with their metadata.
pub fn save_policy(path: &Path, tables: &[&QTable], meta: &PolicyMeta) -> Result<(), PolicyFileError> {
    let io = |source| PolicyFileError::Io { path: path.display().to_string(), source };
    let fmt = |reason: String| PolicyFileError::Format { path: path.display().to_string(), reason };
    let bytes: Vec<Vec<u8>> = tables.iter().map(|t| t.q.iter().flat_map(|v| v.to_le_bytes()).collect()).collect();
    let mut views = Vec::new();
    for (t, b) in tables.iter().zip(&bytes) {
        let view = TensorView::new(Dtype::F32, vec![t.states, t.actions], b).map_err(|e| fmt(e.to_string()))?;
        views.push((t.name.clone(), view));
    }
    let mut info = HashMap::new();
    info.insert("format".to_string(), FORMAT.to_string());
    info.insert("state_layout".to_string(), super::STATE_LAYOUT.to_string());
    info.insert("actions".to_string(), crate::agent::Action::NAMES.join(","));
    info.insert("scene".to_string(), meta.scene.clone());
    info.insert("episodes".to_string(), meta.episodes.to_string());
    info.insert(
        "hyperparameters".to_string(),
        serde_json::to_string(&meta.hyperparameters).map_err(|e| fmt(e.to_string()))?,
    );
    let raw = safetensors::serialize(views, Some(info)).map_err(|e| fmt(e.to_string()))?;
    write_atomic(path, &canonical_header(&raw).map_err(fmt)?).map_err(io)
}

/// safetensors writes its metadata map in hash order; rewrite the JSON header
/// with sorted keys so identical policies give identical bytes.
fn canonical_header(raw: &[u8]) -> Result<Vec<u8>, String> {
    let n = raw.get(..8).ok_or("short file")?;
    let n = u64::from_le_bytes(n.try_into().map_err(|_| "short file")?) as usize;
    let header = raw.get(8..8 + n).ok_or("short header")?;
    let value: serde_json::Value = serde_json::from_slice(header).map_err(|e| e.to_string())?;
    let mut json = serde_json::to_vec(&value).map_err(|e| e.to_string())?;
    while json.len() % 8 != 0 {
        json.push(b' ');
    }
    let mut out = Vec::with_capacity(raw.len());
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(&raw[8 + n..]);
    Ok(out)
}

/// Reads a policy file.
pub fn load_policy(path: &Path) -> Result<PolicyFile, PolicyFileError> {
    let p = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| PolicyFileError::Io { path: p.clone(), source })?;
    let fmt = |reason: String| PolicyFileError::Format { path: p.clone(), reason };
    let (_, metadata) = SafeTensors::read_metadata(&bytes).map_err(|e| fmt(e.to_string()))?;
    let info = metadata.metadata().clone().unwrap_or_default();
    if info.get("format").map(String::as_str) != Some(FORMAT) {
        return Err(fmt(format!("missing `format: {FORMAT}` metadata")));
    }
    if info.get("state_layout").map(String::as_str) != Some(super::STATE_LAYOUT) {
        return Err(fmt(format!(
            "its state layout {:?} differs from this build's {:?}",
            info.get("state_layout"),
            super::STATE_LAYOUT
        )));
    }
    let hyperparameters = info
        .get("hyperparameters")
        .and_then(|h| serde_json::from_str(h).ok())
        .ok_or_else(|| fmt("missing or invalid `hyperparameters` metadata".into()))?;
    let meta = PolicyMeta {
        scene: info.get("scene").cloned().unwrap_or_default(),
        episodes: info.get("episodes").and_then(|e| e.parse().ok()).unwrap_or(0),
        hyperparameters,
    };
    let st = SafeTensors::deserialize(&bytes).map_err(|e| fmt(e.to_string()))?;
    let mut tables = Vec::new();
    let mut names: Vec<String> = st.names().into_iter().map(str::to_owned).collect();
    names.sort();
    for name in names {
        let view = st.tensor(&name).map_err(|e| fmt(e.to_string()))?;
        if view.dtype() != Dtype::F32 || view.shape().len() != 2 {
            return Err(fmt(format!("tensor `{name}` is not a 2-D f32 table")));
        }
        let q = view.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        tables.push((name, view.shape()[0], view.shape()[1], q));
    }
    Ok(PolicyFile { tables, meta })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_round_trip_is_byte_stable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut a = QTable::new(4, 5, "team/a".into(), 0);
        a.q[7] = 1.5;
        let b = QTable::new(4, 5, "team/b".into(), 1);
        let meta = PolicyMeta { scene: "s".into(), episodes: 3, hyperparameters: Hyperparameters::default() };
        let p1 = dir.path().join("p1.safetensors");
        let p2 = dir.path().join("p2.safetensors");
        save_policy(&p1, &[&a, &b], &meta).expect("save");
        save_policy(&p2, &[&a, &b], &meta).expect("save");
        assert_eq!(std::fs::read(&p1).ok(), std::fs::read(&p2).ok());
        let loaded = load_policy(&p1).expect("load");
        assert_eq!(loaded.meta, meta);
        let mut c = QTable::new(4, 5, "team/a".into(), 0);
        loaded.apply_to([&mut c], "p1").expect("apply");
        assert_eq!(c.q, a.q);
        let mut wrong = QTable::new(4, 5, "team/zzz".into(), 0);
        assert!(loaded.apply_to([&mut wrong], "p1").is_err());
        std::fs::write(dir.path().join("junk"), b"not a policy").expect("write");
        assert!(load_policy(&dir.path().join("junk")).is_err());
    }
}
