"""Dockerfile and .dockerignore: every COPY source exists and reaches the build
context, the build stage has librdkafka's C dependencies, dependencies build
in their own cached layer (cargo-chef), everything the compiler reads is
copied in. The runtime stage's binary list is generated (`cargo xtask
generate`)."""

import glob
import os
import re

from . import workspace
from .report import Report

AREA = "dockerfile"
BUILD_PACKAGES = ("cmake", "libssl-dev", "pkg-config", "zlib1g-dev")


class Stage:
    def __init__(self, index: int, image: str, name: str | None) -> None:
        self.index, self.image, self.name = index, image, name
        self.parent: "Stage | None" = None
        self.steps: list[tuple[str, str]] = []  # (INSTRUCTION, arguments)

    def chain(self) -> list["Stage"]:
        """This stage and the stages it is built FROM, oldest first."""
        return (self.parent.chain() if self.parent else []) + [self]

    def runs(self) -> str:
        return "\n".join(a for s in self.chain() for i, a in s.steps if i == "RUN")


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages of a Dockerfile."""
    logical, pending = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    args, stages = {}, []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "FROM":
            words = rest.split()
            words = [w for w in words if not w.startswith("--")]
            image = substitute(words[0], args)
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stage = Stage(len(stages), image, name)
            stage.parent = next((s for s in stages if s.name == image), None)
            stages.append(stage)
        elif keyword == "ARG" and not stages:
            key, _, default = rest.partition("=")
            args[key.strip()] = default.strip().strip('"')
        elif stages:
            stages[-1].steps.append((keyword, rest))
    return args, stages


def substitute(value: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), value)


def copy_parts(arguments: str) -> tuple[dict[str, str], list[str], str]:
    """(flags, sources, destination) of a COPY instruction."""
    words = arguments.split()
    flags = {}
    while words and words[0].startswith("--"):
        key, _, value = words.pop(0)[2:].partition("=")
        flags[key] = value
    return flags, words[:-1], words[-1] if words else ""


def dockerignore_rules(root: str) -> list[tuple[bool, str]]:
    path = os.path.join(root, ".dockerignore")
    if not os.path.isfile(path):
        return []
    rules = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                negate = line.startswith("!")
                rules.append((negate, os.path.normpath(line.lstrip("!").lstrip("/"))))
    return rules


def _glob_regex(pattern: str) -> re.Pattern:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def ignored(path: str, rules: list[tuple[bool, str]]) -> bool:
    """Whether .dockerignore keeps `path` out of the build context."""
    parts = os.path.normpath(path).split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for negate, pattern in rules:
        regex = _glob_regex(pattern)
        if any(regex.match(p) for p in prefixes):
            result = not negate
    return result


def covered(path: str, sources: list[str]) -> bool:
    path = os.path.normpath(path)
    return any(s in (".", path) or path.startswith(s.rstrip("/") + "/") for s in map(os.path.normpath, sources))


def check(root: str, report: Report) -> None:
    path = os.path.join(root, "Dockerfile")
    if not report.check(AREA, os.path.isfile(path), "Dockerfile is missing"):
        return
    with open(path, encoding="utf-8") as f:
        args, stages = parse(f.read())
    if not report.check(AREA, len(stages) >= 2, "the Dockerfile is not multi-stage"):
        return
    rules = dockerignore_rules(root)
    for must_ignore in ("target", ".git", ".edm"):
        report.check(AREA, ignored(must_ignore, rules),
                     f".dockerignore must exclude {must_ignore}/ (it would bloat the build context)")
    _check_toolchain(root, stages, report)
    _check_copies(root, stages, rules, report)
    builders = [s for s in stages if any(i == "RUN" and re.search(r"\bcargo build\b.*--release", a)
                                         for i, a in s.steps)]
    if not report.check(AREA, len(builders) == 1, "expected one stage that runs `cargo build --release`"):
        return
    builder = builders[0]
    _check_builder(root, builder, stages, report)


def _check_toolchain(root: str, stages: list[Stage], report: Report) -> None:
    pinned = workspace.rust_toolchain(root)
    for stage in stages:
        if stage.image.startswith("rust:") and pinned:
            tag = stage.image.partition(":")[2]
            report.check(AREA, tag == pinned or tag.startswith(pinned + "-"),
                         f"stage {stage.name or stage.index}: image {stage.image} differs from "
                         f"rust-toolchain ({pinned}); rustup would download another toolchain")


def _check_copies(root: str, stages: list[Stage], rules: list, report: Report) -> None:
    names = [s.name for s in stages]
    for stage in stages:
        for instruction, arguments in stage.steps:
            if instruction not in ("COPY", "ADD"):
                continue
            flags, sources, _ = copy_parts(arguments)
            if "from" in flags:
                source_stage = flags["from"]
                earlier = names[: stage.index]
                report.check(AREA, source_stage in earlier or source_stage.isdigit() or ":" in source_stage,
                             f"COPY --from={source_stage}: no earlier stage of that name")
                continue
            for source in sources:
                matches = glob.glob(os.path.join(root, source))
                report.check(AREA, bool(matches), f"COPY {source}: no such file or folder in the repository")
                report.check(AREA, not ignored(source, rules),
                             f"COPY {source}: excluded from the build context by .dockerignore")


def _context_sources(stage: Stage) -> list[str]:
    sources = []
    for s in stage.chain():
        for instruction, arguments in s.steps:
            if instruction in ("COPY", "ADD"):
                flags, srcs, _ = copy_parts(arguments)
                if "from" not in flags:
                    sources += srcs
    return sources


def _check_builder(root: str, builder: Stage, stages: list[Stage], report: Report) -> None:
    runs = builder.runs()
    for package in BUILD_PACKAGES:
        report.check(AREA, re.search(rf"\b{re.escape(package)}\b", runs) is not None,
                     f"build stage does not install {package} (librdkafka builds from source)")
    report.check(AREA, re.search(r"cargo build\b.*--locked", runs) is not None,
                 "`cargo build` in the build stage should use --locked (Cargo.lock is committed)")
    # Dependencies in their own layer: cargo chef cook before the sources arrive.
    steps = [step for s in builder.chain() for step in s.steps]
    cook = next((i for i, (ins, a) in enumerate(steps) if ins == "RUN" and "cargo chef cook" in a), None)
    first_source = next((i for i, (ins, a) in enumerate(steps) if ins == "COPY" and "--from" not in a
                         and covered("crates", copy_parts(a)[1])), None)
    report.check(AREA, cook is not None and first_source is not None and cook < first_source,
                 "dependencies need their own cached layer: run `cargo chef cook` before COPY of crates/")
    report.check(AREA, any("cargo chef prepare" in a for s in stages for i, a in s.steps if i == "RUN"),
                 "no stage runs `cargo chef prepare` to make the dependency recipe")
    sources = _context_sources(builder)
    needed = ["Cargo.toml", "Cargo.lock"] + [c.path for c in workspace.crates(root)]
    needed += [target for _, target in workspace.compile_time_inputs(root)]
    for path in needed:
        report.check(AREA, covered(path, sources), f"build stage does not COPY {path}, which the build reads")
    checked_queries = workspace.uses_sqlx_checked_queries(root)
    if checked_queries or os.path.isdir(os.path.join(root, ".sqlx")):
        report.check(AREA, os.path.isdir(os.path.join(root, ".sqlx")),
                     f"{checked_queries[0] if checked_queries else 'crates'} use sqlx's checked queries: "
                     "commit their offline data (cargo sqlx prepare --workspace writes .sqlx/)")
        report.check(AREA, covered(".sqlx", sources), "build stage does not COPY .sqlx (sqlx offline query data)")
        envs = " ".join(a for s in builder.chain() for i, a in s.steps if i == "ENV")
        report.check(AREA, re.search(r"SQLX_OFFLINE[= ]+\"?true", envs) is not None,
                     "build stage must set ENV SQLX_OFFLINE=true")
