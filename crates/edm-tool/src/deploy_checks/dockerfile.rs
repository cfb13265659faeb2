//! The hand-written part of the Dockerfile, and `.dockerignore`: every
//! `COPY` source exists and reaches the build context, the build stage has
//! librdkafka's C build dependencies and the pinned toolchain, dependencies
//! build in their own cached layer (cargo-chef), and everything the
//! compiler reads is copied in. The runtime stage's binary list is
//! generated (`cargo xtask generate`, [`crate::dockerfile`]) and not
//! checked here.

use std::path::Path;

use regex::Regex;

use super::dockerfile_syntax::{self, Copy, Dockerfile, Stage};
use super::dockerignore::Rules;
use super::report::Report;
use super::workspace::{self, Crate};

const AREA: &str = "dockerfile";
/// What librdkafka's build from source needs.
const BUILD_PACKAGES: [&str; 4] = ["cmake", "libssl-dev", "pkg-config", "zlib1g-dev"];
/// What must never reach the build context.
const NEVER_IN_CONTEXT: [&str; 3] = ["target", ".git", ".edm"];

/// Checks `root/Dockerfile` and `root/.dockerignore`; `crates` are the
/// workspace's members.
pub fn check(root: &Path, crates: &[Crate], report: &mut Report) {
    let Ok(text) = std::fs::read_to_string(root.join("Dockerfile")) else {
        report.fail(AREA, "Dockerfile is missing");
        return;
    };
    let dockerfile = dockerfile_syntax::parse(&text);
    if !report.check(AREA, dockerfile.stages.len() >= 2, || {
        "the Dockerfile is not multi-stage".to_owned()
    }) {
        return;
    }
    let rules = Rules::read(root);
    for path in NEVER_IN_CONTEXT {
        report.check(AREA, rules.ignores(path), || {
            format!(".dockerignore must exclude {path}/ (it would bloat the build context)")
        });
    }
    check_toolchain(root, &dockerfile, report);
    check_copies(root, &dockerfile, &rules, report);
    let builders: Vec<&Stage> = dockerfile
        .stages
        .iter()
        .filter(|s| {
            s.steps
                .iter()
                .any(|(i, a)| i == "RUN" && matches(r"\bcargo build\b.*--release", a))
        })
        .collect();
    if let [builder] = builders[..] {
        report.passed += 1;
        check_builder(root, crates, &dockerfile, builder, report);
    } else {
        report.fail(AREA, "expected one stage that runs `cargo build --release`");
    }
}

/// Rust images use the version in `rust-toolchain` (else rustup would
/// download another toolchain in the build).
fn check_toolchain(root: &Path, dockerfile: &Dockerfile, report: &mut Report) {
    let Some(pinned) = workspace::rust_toolchain(root) else {
        return;
    };
    for stage in &dockerfile.stages {
        if let Some(tag) = stage.image.strip_prefix("rust:") {
            let matches = tag == pinned || tag.starts_with(&format!("{pinned}-"));
            report.check(AREA, matches, || {
                format!(
                    "stage {}: image {} differs from rust-toolchain ({pinned}); rustup would download another toolchain",
                    stage.label(),
                    stage.image
                )
            });
        }
    }
}

/// Every `COPY` source exists and is in the build context; every
/// `COPY --from` names an earlier stage (or an image).
fn check_copies(root: &Path, dockerfile: &Dockerfile, rules: &Rules, report: &mut Report) {
    for stage in &dockerfile.stages {
        for (instruction, arguments) in &stage.steps {
            if instruction != "COPY" && instruction != "ADD" {
                continue;
            }
            let copy = Copy::parse(arguments);
            if let Some(from) = copy.flags.get("from") {
                let earlier = dockerfile.stages[..stage.index]
                    .iter()
                    .any(|s| s.name.as_deref() == Some(from.as_str()));
                let ok = earlier || from.chars().all(|c| c.is_ascii_digit()) || from.contains(':');
                report.check(AREA, ok, || {
                    format!("COPY --from={from}: no earlier stage of that name")
                });
                continue;
            }
            for source in &copy.sources {
                let pattern = root.join(source);
                let exists = glob::glob(&pattern.to_string_lossy())
                    .map(|mut paths| paths.any(|p| p.is_ok()))
                    .unwrap_or(false);
                report.check(AREA, exists, || {
                    format!("COPY {source}: no such file or folder in the repository")
                });
                report.check(AREA, !rules.ignores(source), || {
                    format!("COPY {source}: excluded from the build context by .dockerignore")
                });
            }
        }
    }
}

/// The stage that runs `cargo build --release`.
fn check_builder(
    root: &Path,
    crates: &[Crate],
    dockerfile: &Dockerfile,
    builder: &Stage,
    report: &mut Report,
) {
    let runs = dockerfile.chain_arguments(builder, "RUN");
    for package in BUILD_PACKAGES {
        let installed = matches(&format!(r"\b{}\b", regex::escape(package)), &runs);
        report.check(AREA, installed, || {
            format!("build stage does not install {package} (librdkafka builds from source)")
        });
    }
    let locked = matches(r"cargo build\b.*--locked", &runs);
    report.check(AREA, locked, || {
        "`cargo build` in the build stage should use --locked (Cargo.lock is committed)".to_owned()
    });
    // Dependencies in their own layer: cargo chef cook before the sources.
    let steps = dockerfile.chain_steps(builder);
    let cook = steps
        .iter()
        .position(|(i, a)| i == "RUN" && a.contains("cargo chef cook"));
    let first_source = steps.iter().position(|(i, a)| {
        i == "COPY" && !a.contains("--from") && covered("crates", &Copy::parse(a).sources)
    });
    report.check(
        AREA,
        matches!((cook, first_source), (Some(cook), Some(source)) if cook < source),
        || {
            "dependencies need their own cached layer: run `cargo chef cook` before COPY of crates/"
                .to_owned()
        },
    );
    let prepares = dockerfile.stages.iter().any(|s| {
        s.steps
            .iter()
            .any(|(i, a)| i == "RUN" && a.contains("cargo chef prepare"))
    });
    report.check(AREA, prepares, || {
        "no stage runs `cargo chef prepare` to make the dependency recipe".to_owned()
    });
    let sources = context_sources(dockerfile, builder);
    let needed = ["Cargo.toml".to_owned(), "Cargo.lock".to_owned()]
        .into_iter()
        .chain(crates.iter().map(|c| c.path.clone()))
        .chain(
            workspace::compile_time_inputs(root)
                .into_iter()
                .map(|(_, target)| target),
        );
    for path in needed {
        report.check(AREA, covered(&path, &sources), || {
            format!("build stage does not COPY {path}, which the build reads")
        });
    }
    check_sqlx_offline(root, dockerfile, builder, &sources, report);
}

/// With sqlx's checked queries, the offline query data (`.sqlx/`) is
/// committed, copied in and used.
fn check_sqlx_offline(
    root: &Path,
    dockerfile: &Dockerfile,
    builder: &Stage,
    sources: &[String],
    report: &mut Report,
) {
    let users = workspace::sqlx_checked_query_users(root);
    let offline_data = root.join(".sqlx").is_dir();
    if users.is_empty() && !offline_data {
        return;
    }
    report.check(AREA, offline_data, || {
        format!(
            "{} use sqlx's checked queries: commit their offline data (cargo sqlx prepare --workspace writes .sqlx/)",
            users.first().map_or("crates", String::as_str)
        )
    });
    report.check(AREA, covered(".sqlx", sources), || {
        "build stage does not COPY .sqlx (sqlx offline query data)".to_owned()
    });
    let envs = dockerfile
        .chain_arguments(builder, "ENV")
        .replace('\n', " ");
    let offline = matches(r#"SQLX_OFFLINE[= ]+"?true"#, &envs);
    report.check(AREA, offline, || {
        "build stage must set ENV SQLX_OFFLINE=true".to_owned()
    });
}

/// What `stage`'s chain copies from the build context.
fn context_sources(dockerfile: &Dockerfile, stage: &Stage) -> Vec<String> {
    dockerfile
        .chain_steps(stage)
        .into_iter()
        .filter(|(i, _)| i == "COPY" || i == "ADD")
        .map(|(_, a)| Copy::parse(a))
        .filter(|copy| !copy.from_elsewhere())
        .flat_map(|copy| copy.sources)
        .collect()
}

/// Whether the regex `pattern` matches somewhere in `text`.
fn matches(pattern: &str, text: &str) -> bool {
    Regex::new(pattern).expect("a valid regex").is_match(text)
}

/// Whether copying `sources` brings in `path`.
fn covered(path: &str, sources: &[String]) -> bool {
    let path = workspace::normalize(Path::new(path));
    sources.iter().any(|source| {
        let source = workspace::normalize(Path::new(source));
        source.as_os_str().is_empty() || path.starts_with(&source)
    })
}
