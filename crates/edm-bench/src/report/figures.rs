//! The bench folder (`.edm/bench`): the JSON files `edm-bench run` writes,
//! read the way the report needs them. A file that is missing, empty or
//! holds nothing (`{}`, `null`) counts as not measured; one that holds
//! figures of the wrong shape is an error.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A folder of figures.
pub struct BenchDir {
    dir: PathBuf,
}

impl BenchDir {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The folder itself.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The folder that holds it (`.edm`, with `kafka/` and `bench-venv/`).
    pub fn parent(&self) -> PathBuf {
        match self.dir.parent() {
            Some(parent) => parent.to_path_buf(),
            None => self.dir.clone(),
        }
    }

    /// The figures in `<dir>/<name>`, unless it does not hold any.
    pub fn load<T: DeserializeOwned>(&self, name: &str) -> anyhow::Result<Option<T>> {
        let path = self.dir.join(name);
        let holds_text = std::fs::metadata(&path).is_ok_and(|m| m.len() > 0);
        if !holds_text {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let value: Value =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        if is_empty(&value) {
            return Ok(None);
        }
        // From the text, not the value: maps keep the file's order.
        let figures =
            serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
        Ok(Some(figures))
    }

    /// The figures of runs 1 to 3 of `name` (`<name>.run<N>.json`) that
    /// hold any.
    pub fn runs<T: DeserializeOwned>(&self, name: &str) -> anyhow::Result<Vec<T>> {
        let mut found = Vec::new();
        for run in 1..=3 {
            found.extend(self.load(&format!("{name}.run{run}.json"))?);
        }
        Ok(found)
    }

    /// The files whose names match `pattern` (`*` for any characters), in
    /// the folder's own order.
    pub fn matching(&self, pattern: &str) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter(|e| wildcard_match(pattern, &e.file_name().to_string_lossy()))
            .map(|e| e.path())
            .collect()
    }

    /// [`Self::matching`], by name.
    pub fn sorted_matching(&self, pattern: &str) -> Vec<PathBuf> {
        let mut paths = self.matching(pattern);
        paths.sort();
        paths
    }
}

/// The figures in the file at `path`, which must hold some.
pub fn read<T: DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Whether a file's JSON holds nothing: `null`, `false`, `0`, `""`, `[]`
/// or `{}`.
fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// Whether `name` matches `pattern`, where `*` stands for any characters.
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    let Some((first, rest)) = pattern.split_once('*') else {
        return pattern == name;
    };
    let Some(mut name) = name.strip_prefix(first) else {
        return false;
    };
    let mut pieces: Vec<&str> = rest.split('*').collect();
    let last = pieces.pop().unwrap_or_default();
    for piece in pieces {
        match name.find(piece) {
            Some(at) => name = &name[at + piece.len()..],
            None => return false,
        }
    }
    name.len() >= last.len() && name.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::wildcard_match;

    #[test]
    fn wildcards_match_any_characters() {
        assert!(wildcard_match(
            "stream-*x*.json",
            "stream-light-100x100.json"
        ));
        assert!(!wildcard_match(
            "stream-*x*.json",
            "stream-light-100x100-clients.jsonl"
        ));
        assert!(wildcard_match(
            "e2e-*.run*.clients.json",
            "e2e-100.run1.clients.json"
        ));
        assert!(!wildcard_match(
            "e2e-*.run*.clients.json",
            "e2e-100.run1.post.json"
        ));
        assert!(wildcard_match("startup-*.json", "startup-.json"));
        assert!(!wildcard_match("a*a", "a"));
        assert!(wildcard_match(
            "kafka-clients-*.jar",
            "kafka-clients-4.1.0.jar"
        ));
    }
}
