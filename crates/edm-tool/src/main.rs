//! `cargo xtask <command>` (an alias for `cargo run -p edm-tool --`): the
//! project's tooling that reads topology.json, in Rust.
//!
//! - `generate`: writes `docker-compose.yml`, the Dockerfile's binary
//!   list, `terraform/wiring.json` and `terraform/scripts/kafka-names.sh`
//!   from topology.json ([`compose`], [`dockerfile`], [`terraform`]).
//! - `check`: fails when a committed file differs from what `generate`
//!   would write (`./edm lint` runs it).
//! - `env <service>`: the environment topology.json gives a service on
//!   this machine, one `VAR=value` a line (`local_env`).
//! - `topology-bash`: topology.json as bash declarations for `./edm`'s
//!   scripts (`shell`).
//! - `start <service> <bin-dir> <log> [--wired] [VAR=value …]`: starts the
//!   binary `<bin-dir>/<service>` with the given variables (and, with
//!   `--wired`, the environment `env` prints under them), in a process
//!   group of its own, waits until `/ready` answers 200 (60 s at most) and
//!   prints its process id and how many ms that took; the service runs on
//!   (`launcher`). `./edm run` and the bench start services this way.
//! - `deploy-checks [<root>]`: offline checks of the hand-written
//!   deployment files (Dockerfile build, Procfile, RustConfig, terraform/,
//!   the topic script) against topology.json, of this repository or the
//!   one at `<root>`; prints `deploy-checks: FAIL <area>: <message>` for
//!   each problem and fails when there is one (`deploy_checks`; `./edm
//!   lint` runs it).

use edm_tool::{compose, dockerfile, launcher, local_env, shell, terraform};

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

const USAGE: &str = "usage: cargo xtask generate | check | env <service> | topology-bash | start <service> <bin-dir> <log> [--wired] [VAR=value ...] | deploy-checks [<root>]";

/// How long `start` waits for `/ready`.
const READY_WITHIN: std::time::Duration = std::time::Duration::from_secs(60);

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
        ["topology-bash"] => {
            print!(
                "{}",
                shell::topology_declarations(edm_config::topology::topology())
            );
            Ok(ExitCode::SUCCESS)
        }
        ["start", service, bin_dir, log, ref rest @ ..] => start(service, bin_dir, log, rest),
        ["deploy-checks"] => Ok(deploy_checks(&root)),
        ["deploy-checks", other_root] => Ok(deploy_checks(Path::new(other_root))),
        _ => anyhow::bail!(USAGE),
    }
}

/// `deploy-checks`: see the crate documentation.
fn deploy_checks(root: &Path) -> ExitCode {
    let mut report = edm_tool::deploy_checks::Report::printing();
    edm_tool::deploy_checks::run(root, &mut report);
    eprintln!("{}", report.summary());
    if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `start`: see the crate documentation.
fn start(service: &str, bin_dir: &str, log: &str, rest: &[&str]) -> anyhow::Result<ExitCode> {
    let mut launch =
        launcher::Launch::new(Path::new(bin_dir).join(service), log).own_process_group();
    let (wired, vars): (Vec<&str>, Vec<&str>) = rest.iter().partition(|a| **a == "--wired");
    if !wired.is_empty() {
        launch = launch.envs(local_env::service_env(service, &edm_config::ProcessEnv)?);
    }
    for var in vars {
        let (k, v) = var
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("`{var}` is not VAR=value; {USAGE}"))?;
        launch = launch.env(k, v);
    }
    let mut launched = launch.start()?;
    let took = launched.wait_ready(READY_WITHIN)?;
    let pid = launched.detach().unwrap_or_default();
    println!("{pid} {}", took.as_millis());
    Ok(ExitCode::SUCCESS)
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
            relative: "terraform/wiring.json",
            path: root.join("terraform/wiring.json"),
            text: terraform::wiring_json(topology),
        },
        Generated {
            relative: "terraform/scripts/kafka-names.sh",
            path: root.join("terraform/scripts/kafka-names.sh"),
            text: terraform::kafka_names_sh(topology)?,
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
