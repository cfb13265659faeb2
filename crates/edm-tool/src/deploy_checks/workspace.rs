//! What the Cargo workspace builds, read from the manifests and sources
//! (no cargo run): its crates and their binaries, the files the compiler
//! pulls in from outside the Rust sources (`include_str!` and friends,
//! sqlx's `migrate!`), whether sqlx's checked queries are used, and the
//! pinned toolchain.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::LazyLock;

use anyhow::Context;
use regex::Regex;

/// A workspace member.
#[derive(Debug, Clone)]
pub struct Crate {
    /// Its package name.
    pub name: String,
    /// Its folder, relative to the repository root.
    pub path: String,
    /// The binaries Cargo would build for it.
    pub binaries: Vec<String>,
}

static INCLUDE_MACRO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"\binclude(?:_str|_bytes)?!\s*\(\s*"([^"]+)"\s*\)"#).expect("a valid regex")
});
static MIGRATE_MACRO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"\bmigrate!\s*\(\s*(?:"([^"]*)")?\s*\)"#).expect("a valid regex")
});
static SQLX_CHECKED_QUERY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\bquery(?:_as|_scalar|_file|_file_as|_file_scalar)?(?:_unchecked)?!\s*\(")
        .expect("a valid regex")
});

/// Every workspace member of `root/Cargo.toml`, with its binaries.
pub fn crates(root: &Path) -> anyhow::Result<Vec<Crate>> {
    let manifest = read_toml(&root.join("Cargo.toml"))?;
    let members = manifest
        .get("workspace")
        .and_then(|w| w.get("members"))
        .and_then(toml::Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut found = Vec::new();
    for pattern in members.iter().filter_map(toml::Value::as_str) {
        let pattern = root.join(pattern);
        let mut dirs: Vec<PathBuf> = glob::glob(&pattern.to_string_lossy())
            .with_context(|| format!("workspace member pattern {}", pattern.display()))?
            .filter_map(Result::ok)
            .collect();
        dirs.sort();
        for dir in dirs {
            let manifest_path = dir.join("Cargo.toml");
            if !manifest_path.is_file() {
                continue;
            }
            let manifest = read_toml(&manifest_path)?;
            let name = manifest
                .get("package")
                .and_then(|p| p.get("name"))
                .and_then(toml::Value::as_str)
                .with_context(|| format!("{} has no package name", manifest_path.display()))?
                .to_owned();
            found.push(Crate {
                binaries: binaries_of(&dir, &name, &manifest),
                path: relative(root, &dir),
                name,
            });
        }
    }
    Ok(found)
}

/// Binary name => the crate that builds it.
pub fn binaries(crates: &[Crate]) -> BTreeMap<String, Crate> {
    crates
        .iter()
        .flat_map(|c| c.binaries.iter().map(move |b| (b.clone(), c.clone())))
        .collect()
}

/// `(source file, file or folder it embeds)` for each `include_*!` and
/// sqlx `migrate!`, both relative to the repository root.
pub fn compile_time_inputs(root: &Path) -> Vec<(String, String)> {
    let mut inputs = Vec::new();
    for (path, text) in rust_sources(root) {
        let source = relative(root, &path);
        let dir = path.parent().unwrap_or(root);
        for captures in INCLUDE_MACRO.captures_iter(&text) {
            let target = normalize(&dir.join(&captures[1]));
            inputs.push((source.clone(), relative(root, &target)));
        }
        for captures in MIGRATE_MACRO.captures_iter(&text) {
            let folder = captures.get(1).map_or("migrations", |m| m.as_str());
            let target = normalize(&crate_dir_of(&path).join(folder));
            inputs.push((source.clone(), relative(root, &target)));
        }
    }
    inputs
}

/// The sources that use sqlx's compile-time checked query macros.
pub fn sqlx_checked_query_users(root: &Path) -> Vec<String> {
    rust_sources(root)
        .into_iter()
        .filter(|(_, text)| SQLX_CHECKED_QUERY.is_match(text))
        .map(|(path, _)| relative(root, &path))
        .collect()
}

/// The contents of `rust-toolchain`, trimmed, if the file exists.
pub fn rust_toolchain(root: &Path) -> Option<String> {
    std::fs::read_to_string(root.join("rust-toolchain"))
        .ok()
        .map(|text| text.trim().to_owned())
}

/// `path` without `.` and with each `..` taking away the folder before it,
/// without asking the file system (the path need not exist).
pub fn normalize(path: &Path) -> PathBuf {
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir if normal.file_name().is_some() => {
                normal.pop();
            }
            other => normal.push(other),
        }
    }
    normal
}

/// `path` relative to `root` as text (`/`-separated), or all of it when it
/// is outside.
pub fn relative(root: &Path, path: &Path) -> String {
    let path = normalize(path);
    path.strip_prefix(normalize(root))
        .unwrap_or(&path)
        .to_string_lossy()
        .into_owned()
}

fn read_toml(path: &Path) -> anyhow::Result<toml::Table> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.parse()
        .with_context(|| format!("{} is not valid TOML", path.display()))
}

/// The binaries Cargo builds for the crate in `dir`: its `[[bin]]`
/// targets and, unless `autobins = false`, `src/main.rs` and `src/bin/`.
fn binaries_of(dir: &Path, name: &str, manifest: &toml::Table) -> Vec<String> {
    let mut binaries: Vec<String> = manifest
        .get("bin")
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|bin| bin.get("name").and_then(toml::Value::as_str))
        .map(str::to_owned)
        .collect();
    let autobins = manifest
        .get("package")
        .and_then(|p| p.get("autobins"))
        .and_then(toml::Value::as_bool)
        .unwrap_or(true);
    if autobins {
        if dir.join("src/main.rs").is_file() {
            binaries.push(name.to_owned());
        }
        let entries = std::fs::read_dir(dir.join("src/bin")).into_iter().flatten();
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
            if path.extension().is_some_and(|e| e == "rs") || path.join("main.rs").is_file() {
                binaries.extend(stem);
            }
        }
    }
    binaries.sort();
    binaries.dedup();
    binaries
}

/// Every `.rs` file under `crates/` (build output and npm folders left
/// out), with its text.
fn rust_sources(root: &Path) -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    collect_rust_files(&root.join("crates"), &mut files);
    files.sort();
    files
        .into_iter()
        .filter_map(|path| {
            let text = std::fs::read_to_string(&path).ok()?;
            Some((path, text))
        })
        .collect()
}

fn collect_rust_files(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
    {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() {
            if !name.starts_with('.') && name != "target" && name != "node_modules" {
                collect_rust_files(&path, files);
            }
        } else if name.ends_with(".rs") {
            files.push(path);
        }
    }
}

/// The folder of the crate that `path` belongs to: the nearest one above
/// it with a `Cargo.toml`.
fn crate_dir_of(path: &Path) -> PathBuf {
    path.ancestors()
        .skip(1)
        .find(|dir| dir.join("Cargo.toml").is_file())
        .unwrap_or_else(|| path.parent().unwrap_or(path))
        .to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalized_without_the_file_system() {
        assert_eq!(
            normalize(Path::new("/r/crates/a/src/../../../docs/x.md")),
            Path::new("/r/docs/x.md")
        );
        assert_eq!(relative(Path::new("/r"), Path::new("/r/./a/b")), "a/b");
        assert_eq!(
            relative(Path::new("/r"), Path::new("/elsewhere")),
            "/elsewhere"
        );
    }
}
