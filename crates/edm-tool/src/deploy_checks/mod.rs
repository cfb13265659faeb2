//! `cargo xtask deploy-checks`: offline checks of the hand-written
//! deployment files against topology.json, the one description of EDM's
//! services, without Docker, Heroku or Terraform providers. What is
//! generated from topology.json (docker-compose.yml, the Dockerfile's
//! binary list, terraform/wiring.json) is held to it by `cargo xtask check`
//! instead; what is checked here is written by hand: the Dockerfile's
//! build, `.dockerignore`, the Procfile, `RustConfig`, `rust-toolchain`,
//! terraform/ and its topic script. `./edm lint` runs them; the tests in
//! `crates/edm-tool/tests/deploy_checks.rs` break a copy of the files one
//! way at a time and expect each break to be caught.
//!
//! # Layout
//! - [`report`]: the results, by area.
//! - [`topology`]: topology.json loaded from the checked root and checked
//!   for consistency.
//! - [`workspace`]: the crates and binaries the Cargo workspace builds.
//! - [`dockerfile`] (with [`dockerfile_syntax`], [`dockerignore`]): the
//!   Docker build.
//! - [`heroku`]: the Procfile and `RustConfig`; [`topic_script`]: the
//!   Kafka topic script; both run for real against [`stubs`].
//! - [`terraform`] (with [`terraform_module`], [`terraform_resources`]):
//!   terraform/.

pub mod dockerfile;
pub mod dockerfile_syntax;
pub mod dockerignore;
pub mod heroku;
pub mod report;
pub mod stubs;
pub mod terraform;
pub mod terraform_module;
pub mod terraform_resources;
pub mod topic_script;
pub mod topology;
pub mod workspace;

use std::path::Path;

pub use report::Report;

const WORKSPACE: &str = "workspace";

/// Runs every check on the repository at `root`, into `report`.
pub fn run(root: &Path, report: &mut Report) {
    let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    let Some(topology) = topology::load(&root, report) else {
        return;
    };
    let crates = match workspace::crates(&root) {
        Ok(crates) => crates,
        Err(e) => {
            report.fail(WORKSPACE, format!("{e:#}"));
            return;
        }
    };
    let binaries = workspace::binaries(&crates);
    for service in &topology.services {
        if !binaries.contains_key(&service.name) {
            report.warn(
                WORKSPACE,
                format!(
                    "no crate builds {} (a service in topology.json) yet",
                    service.name
                ),
            );
        }
    }
    for (binary, krate) in &binaries {
        let run = topology.services.iter().any(|s| &s.name == binary)
            || topology.tools.contains(&krate.name);
        report.check(WORKSPACE, run, || {
            format!(
                "workspace binary {binary} is not run: topology.json lists it neither as a service (deployed, in the generated docker-compose.yml and Dockerfile) nor in tools"
            )
        });
    }
    dockerfile::check(&root, &crates, report);
    heroku::check_procfile(&root, &topology, report);
    heroku::check_build_config(&root, &topology, &binaries, report);
    terraform::check(&root, &topology, report);
    topic_script::check(&root, &topology, report);
}
