"""What the Cargo workspace builds, read from the manifests (no cargo run):
binaries and their crates, the configuration variables the code reads, and
files the compiler pulls in from outside the Rust sources."""

import glob
import os
import re
import tomllib
from dataclasses import dataclass


@dataclass(frozen=True)
class Crate:
    name: str
    path: str  # relative to the repository root
    binaries: tuple[str, ...]


def read_toml(path: str) -> dict:
    with open(path, "rb") as f:
        return tomllib.load(f)


def crates(root: str) -> list[Crate]:
    """Every workspace member, with the binaries Cargo would build for it."""
    workspace = read_toml(os.path.join(root, "Cargo.toml")).get("workspace", {})
    found = []
    for pattern in workspace.get("members", []):
        for member in sorted(glob.glob(os.path.join(root, pattern))):
            manifest_path = os.path.join(member, "Cargo.toml")
            if not os.path.isfile(manifest_path):
                continue
            manifest = read_toml(manifest_path)
            name = manifest["package"]["name"]
            found.append(Crate(name, os.path.relpath(member, root), _binaries(member, name, manifest)))
    return found


def _binaries(member: str, name: str, manifest: dict) -> tuple[str, ...]:
    bins = {b["name"] for b in manifest.get("bin", []) if "name" in b}
    if manifest.get("package", {}).get("autobins", True):
        if os.path.isfile(os.path.join(member, "src", "main.rs")):
            bins.add(name)
        for path in glob.glob(os.path.join(member, "src", "bin", "*.rs")):
            bins.add(os.path.splitext(os.path.basename(path))[0])
        for path in glob.glob(os.path.join(member, "src", "bin", "*", "main.rs")):
            bins.add(os.path.basename(os.path.dirname(path)))
    return tuple(sorted(bins))


def binaries(root: str) -> dict[str, Crate]:
    """Binary name => the crate that builds it."""
    return {b: c for c in crates(root) for b in c.binaries}


def rust_sources(root: str) -> list[str]:
    return sorted(glob.glob(os.path.join(root, "crates", "**", "*.rs"), recursive=True))


INCLUDE_MACRO = re.compile(r'\binclude(?:_str|_bytes)?!\s*\(\s*"([^"]+)"\s*\)')
MIGRATE_MACRO = re.compile(r'\bmigrate!\s*\(\s*(?:"([^"]*)")?\s*\)')
SQLX_CHECKED_QUERY = re.compile(r'\bquery(?:_as|_scalar|_file|_file_as|_file_scalar)?(?:_unchecked)?!\s*\(')


def compile_time_inputs(root: str) -> list[tuple[str, str]]:
    """(source file, file or folder it embeds) for include_*! and sqlx migrate!,
    both relative to the repository root."""
    inputs = []
    for path in rust_sources(root):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        source = os.path.relpath(path, root)
        for included in INCLUDE_MACRO.findall(text):
            target = os.path.normpath(os.path.join(os.path.dirname(path), included))
            inputs.append((source, os.path.relpath(target, root)))
        for migrations in MIGRATE_MACRO.findall(text):
            crate_dir = _crate_dir_of(path)
            target = os.path.normpath(os.path.join(crate_dir, migrations or "migrations"))
            inputs.append((source, os.path.relpath(target, root)))
    return inputs


def uses_sqlx_checked_queries(root: str) -> list[str]:
    """Sources that use sqlx's compile-time checked query macros."""
    users = []
    for path in rust_sources(root):
        with open(path, encoding="utf-8") as f:
            if SQLX_CHECKED_QUERY.search(f.read()):
                users.append(os.path.relpath(path, root))
    return users


def _crate_dir_of(path: str) -> str:
    directory = os.path.dirname(path)
    while not os.path.isfile(os.path.join(directory, "Cargo.toml")):
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    return directory


def rust_toolchain(root: str) -> str | None:
    path = os.path.join(root, "rust-toolchain")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return f.read().strip()
