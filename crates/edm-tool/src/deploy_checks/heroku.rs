//! Heroku's build and run files. The Procfile runs for real against stub
//! binaries: `web` starts each service of topology.json that `EDM_SERVICE`
//! names, `release` migrates the topology's database service only where
//! `DATABASE_URL` is set. `RustConfig` and `rust-toolchain` are read as the
//! pinned emk/rust buildpack reads them: `RustConfig` sourced by bash, with
//! an app's config vars as files of `ENV_DIR`, builds only that app's
//! binary.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::LazyLock;

use edm_config::topology::Topology;
use regex::Regex;

use super::report::Report;
use super::stubs::{self, Outcome};
use super::topology::database_service;
use super::workspace::{self, Crate};

const AREA: &str = "heroku";
/// Shells a Procfile command may meet (Heroku runs it with bash; `sh` keeps
/// it portable).
const SHELLS: [&str; 2] = ["bash", "sh"];

static PROCESS_LINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([A-Za-z0-9_-]+):\s*(.+)$").expect("a valid regex"));
static PLAIN_TOOLCHAIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:\d+\.\d+(\.\d+)?|stable|beta|nightly(-[\d-]+)?)$").expect("a valid regex")
});
static PACKAGE_SELECTION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(^|\s)(-p|--package|--bin)\b").expect("a valid regex"));

/// The Procfile's processes: name => command.
fn procfile(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| PROCESS_LINE.captures(line))
        .map(|c| (c[1].to_owned(), c[2].to_owned()))
        .collect()
}

/// Runs the Procfile's `web` and `release` against stub binaries.
pub fn check_procfile(root: &Path, topology: &Topology, report: &mut Report) {
    let Ok(text) = std::fs::read_to_string(root.join("Procfile")) else {
        report.fail(AREA, "Procfile is missing");
        return;
    };
    let processes = procfile(&text);
    let web = processes.get("web");
    let release = processes.get("release");
    report.check(AREA, web.is_some(), || {
        "Procfile has no web process".to_owned()
    });
    report.check(AREA, release.is_some(), || {
        "Procfile has no release process".to_owned()
    });
    let (Some(web), Some(release)) = (web, release) else {
        return;
    };
    let slug = match slug_with_stub_binaries(topology) {
        Ok(slug) => slug,
        Err(e) => {
            report.fail(AREA, format!("could not make a slug of stub binaries: {e}"));
            return;
        }
    };
    for shell in SHELLS {
        check_web(shell, web, slug.path(), topology, report);
        check_release(shell, release, slug.path(), topology, report);
    }
}

/// A folder like an app's slug: `target/release/NAME`, a logging stub, for
/// each service.
fn slug_with_stub_binaries(topology: &Topology) -> std::io::Result<tempfile::TempDir> {
    let slug = tempfile::Builder::new().prefix("edm-procfile-").tempdir()?;
    let bin_dir = slug.path().join("target/release");
    std::fs::create_dir_all(&bin_dir)?;
    for service in &topology.services {
        stubs::write_executable(&bin_dir.join(&service.name), stubs::LOGGING_STUB)?;
    }
    Ok(slug)
}

/// Runs a Procfile command in the slug as a dyno would, with `env`.
fn run_process(shell: &str, command: &str, slug: &Path, env: &[(&str, &str)]) -> Outcome {
    let path = stubs::path_var();
    let env: Vec<(&str, &str)> = [("PATH", path.as_str())]
        .into_iter()
        .chain(env.iter().copied())
        .collect();
    stubs::run(&[shell, "-c", command], Some(slug), &env, slug)
}

fn check_web(shell: &str, web: &str, slug: &Path, topology: &Topology, report: &mut Report) {
    for service in &topology.services {
        let env = [("EDM_SERVICE", service.name.as_str()), ("PORT", "1234")];
        let done = run_process(shell, web, slug, &env);
        report.check(
            AREA,
            done.code == 0 && done.calls == [service.name.clone()],
            || {
                format!(
                    "web ({shell}) with EDM_SERVICE={} ran {:?} (exit {}): {}",
                    service.name,
                    done.calls,
                    done.code,
                    done.output()
                )
            },
        );
    }
    let done = run_process(shell, web, slug, &[]);
    report.check(AREA, done.code != 0 && done.calls.is_empty(), || {
        format!(
            "web ({shell}) without EDM_SERVICE must fail with a message, ran {:?} (exit {})",
            done.calls, done.code
        )
    });
}

fn check_release(
    shell: &str,
    release: &str,
    slug: &Path,
    topology: &Topology,
    report: &mut Report,
) {
    let done = run_process(shell, release, slug, &[]);
    report.check(AREA, done.code == 0 && done.calls.is_empty(), || {
        format!(
            "release ({shell}) without DATABASE_URL must do nothing and exit 0, ran {:?} (exit {})",
            done.calls, done.code
        )
    });
    let Some(database) = database_service(topology) else {
        return;
    };
    let env = [
        ("EDM_SERVICE", database.name.as_str()),
        ("DATABASE_URL", "postgres://u:p@db.invalid:5432/d"),
    ];
    let done = run_process(shell, release, slug, &env);
    let migrate = format!("{} migrate", database.name);
    report.check(
        AREA,
        done.code == 0 && done.calls == [migrate.clone()],
        || {
            format!(
                "release ({shell}) with DATABASE_URL must run '{migrate}', ran {:?} (exit {})",
                done.calls, done.code
            )
        },
    );
    let failing = [env[0], env[1], ("STUB_EXIT", "3")];
    let done = run_process(shell, release, slug, &failing);
    report.check(AREA, done.code != 0, || {
        format!("release ({shell}) must fail (cancel the release) when migrations fail")
    });
}

/// `rust-toolchain`, `Cargo.lock` and `RustConfig`, for the whole
/// workspace and for each app; `binaries` maps each workspace binary to
/// its crate.
pub fn check_build_config(
    root: &Path,
    topology: &Topology,
    binaries: &BTreeMap<String, Crate>,
    report: &mut Report,
) {
    let pinned = workspace::rust_toolchain(root);
    report.check(
        AREA,
        pinned
            .as_deref()
            .is_some_and(|p| PLAIN_TOOLCHAIN.is_match(p)),
        || "rust-toolchain must be a plain-text version (emk/rust does not read TOML)".to_owned(),
    );
    report.check(AREA, !root.join("rust-toolchain.toml").exists(), || {
        "rust-toolchain.toml exists next to rust-toolchain; keep only the plain-text file"
            .to_owned()
    });
    report.check(AREA, root.join("Cargo.lock").is_file(), || {
        "Cargo.lock is missing (builds use --locked)".to_owned()
    });
    if !report.check(AREA, root.join("RustConfig").is_file(), || {
        "RustConfig is missing".to_owned()
    }) {
        return;
    }
    let Some(values) = source_rust_config(root, &[], report) else {
        return;
    };
    let value = |name: &str| values.get(name).map_or("", String::as_str);
    let flags: Vec<&str> = value("FLAGS").split_whitespace().collect();
    report.check(AREA, flags.contains(&"--release"), || {
        "RUST_CARGO_BUILD_FLAGS must contain --release (Procfile runs target/release/)".to_owned()
    });
    report.check(AREA, flags.contains(&"--locked"), || {
        "RUST_CARGO_BUILD_FLAGS must contain --locked (builds use Cargo.lock as is)".to_owned()
    });
    report.check(AREA, !PACKAGE_SELECTION.is_match(value("FLAGS")), || {
        "RustConfig without EDM_SERVICE must build the whole workspace".to_owned()
    });
    let pinned = pinned.unwrap_or_default();
    report.check(
        AREA,
        value("VERSION").is_empty() || value("VERSION") == pinned,
        || {
            format!(
                "RustConfig VERSION={} overrides rust-toolchain ({pinned})",
                value("VERSION")
            )
        },
    );
    report.check(AREA, value("TARGET").is_empty(), || {
        "RustConfig must not set CARGO_TARGET_DIR (the buildpack sets it)".to_owned()
    });
    report.check(AREA, value("BUILD_PATH").is_empty(), || {
        "RustConfig BUILD_PATH must be empty (the workspace is at the root)".to_owned()
    });
    report.check(AREA, value("SQLX_OFFLINE") == "true", || {
        "RustConfig must `export SQLX_OFFLINE=true`: the stats build sees DATABASE_URL of an unmigrated database".to_owned()
    });
    check_per_app_builds(root, topology, binaries, report);
}

/// Each app compiles only what it runs (a cold workspace build is several
/// times longer, against Heroku's 15-minute compile limit): with the app's
/// `EDM_SERVICE`, the flags select the package that builds that binary.
fn check_per_app_builds(
    root: &Path,
    topology: &Topology,
    binaries: &BTreeMap<String, Crate>,
    report: &mut Report,
) {
    for service in &topology.services {
        let Some(values) = source_rust_config(root, &[("EDM_SERVICE", &service.name)], report)
        else {
            continue;
        };
        let flags: Vec<&str> = values
            .get("FLAGS")
            .map_or("", String::as_str)
            .split_whitespace()
            .collect();
        let packages: Vec<&str> = flags
            .windows(2)
            .filter(|pair| pair[0] == "-p" || pair[0] == "--package")
            .map(|pair| pair[1])
            .collect();
        let package = binaries.get(&service.name).map(|c| c.name.as_str());
        report.check(AREA, package.is_some_and(|p| packages == [p]), || {
            format!(
                "the {} app's build must be `-p {}` (its binary's package alone), not {}",
                service.name,
                package.unwrap_or(&service.name),
                flags.join(" ")
            )
        });
    }
}

/// What `RustConfig` sets when the buildpack's bin/compile sources it with
/// `config_vars` as the files of its `ENV_DIR`: `VERSION`, `FLAGS`
/// (`RUST_CARGO_BUILD_FLAGS`), `TARGET` (`CARGO_TARGET_DIR`), `BUILD_PATH`
/// and the exported variables. `None` (and a failure) when sourcing fails.
fn source_rust_config(
    root: &Path,
    config_vars: &[(&str, &str)],
    report: &mut Report,
) -> Option<BTreeMap<String, String>> {
    const SCRIPT: &str = r#"set -e; ENV_DIR=$1; . ./RustConfig; printf "VERSION=%s\nFLAGS=%s\nTARGET=%s\nBUILD_PATH=%s\n" "${VERSION:-}" "${RUST_CARGO_BUILD_FLAGS:-}" "${CARGO_TARGET_DIR:-}" "${BUILD_PATH:-}"; env"#;
    let names: Vec<&str> = config_vars.iter().map(|(name, _)| *name).collect();
    let sourced = (|| {
        let env_dir = tempfile::Builder::new().prefix("edm-env-dir-").tempdir()?;
        let work = tempfile::Builder::new()
            .prefix("edm-rustconfig-")
            .tempdir()?;
        for (name, value) in config_vars {
            std::fs::write(env_dir.path().join(name), value)?;
        }
        let env_dir = env_dir.path().to_string_lossy().into_owned();
        let path = stubs::path_var();
        Ok::<_, std::io::Error>(stubs::run(
            &["bash", "-c", SCRIPT, "rustconfig", &env_dir],
            Some(root),
            &[("PATH", &path)],
            work.path(),
        ))
    })();
    let done = match sourced {
        Ok(done) => done,
        Err(e) => {
            report.fail(AREA, format!("could not source RustConfig: {e}"));
            return None;
        }
    };
    if !report.check(AREA, done.code == 0, || {
        format!(
            "RustConfig fails when sourced by bash with {names:?}: {}",
            done.stderr.trim()
        )
    }) {
        return None;
    }
    Some(
        done.stdout
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
    )
}
