//! `cargo xtask <command>` (an alias for `cargo run -p edm-tool --`): the
//! project's tooling that reads topology.json, in Rust.
//!
//! - `generate`: writes `docker-compose.yml` and the Dockerfile's binary
//!   list from topology.json ([`compose`], [`dockerfile`]).
//! - `check`: fails when a committed file differs from what `generate`
//!   would write (`./edm lint` runs it).
//! - `env <service>`: the environment topology.json gives a service on
//!   this machine, one `VAR=value` a line ([`local_env`]); `./edm run`
//!   starts each service with it.

mod compose;
mod dockerfile;
mod local_env;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

const USAGE: &str = "usage: cargo xtask generate | check | env <service>";

fn main() -> ExitCode {
    match run(&std::env::args().skip(1).collect::<Vec<_>>()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("edm-tool: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> anyhow::Result<ExitCode> {
    let root = workspace_root();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["generate"] => {
            for file in generated(&root)? {
                std::fs::write(&file.path, &file.text)
                    .with_context(|| format!("writing {}", file.path.display()))?;
                println!("wrote {}", file.relative);
            }
            Ok(ExitCode::SUCCESS)
        }
        ["check"] => {
            let mut drifted = Vec::new();
            for file in generated(&root)? {
                let committed = std::fs::read_to_string(&file.path).unwrap_or_default();
                if committed != file.text {
                    drifted.push(file.relative);
                }
            }
            if drifted.is_empty() {
                println!("generated files match topology.json");
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!(
                    "edm-tool: {} differ from what topology.json generates; run `cargo xtask generate` and commit the result",
                    drifted.join(", ")
                );
                Ok(ExitCode::FAILURE)
            }
        }
        ["env", service] => {
            for (variable, value) in local_env::service_env(service, &edm_config::ProcessEnv)? {
                println!("{variable}={value}");
            }
            Ok(ExitCode::SUCCESS)
        }
        _ => anyhow::bail!(USAGE),
    }
}

/// A file this tool writes.
struct Generated {
    relative: &'static str,
    path: PathBuf,
    text: String,
}

/// Every generated file, as it should be.
fn generated(root: &Path) -> anyhow::Result<Vec<Generated>> {
    let topology = edm_config::topology::topology();
    let dockerfile_path = root.join("Dockerfile");
    let dockerfile = std::fs::read_to_string(&dockerfile_path).context("reading the Dockerfile")?;
    Ok(vec![
        Generated {
            relative: "docker-compose.yml",
            path: root.join("docker-compose.yml"),
            text: compose::render(topology),
        },
        Generated {
            relative: "Dockerfile",
            path: dockerfile_path,
            text: dockerfile::with_binaries(&dockerfile, topology)?,
        },
    ])
}

/// The workspace root: two levels above this crate.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_default()
}
