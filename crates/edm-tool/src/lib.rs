//! edm-tool: the project's tooling that reads topology.json or starts
//! services, in Rust; the `edm-tool` binary (`cargo xtask …`) is its
//! command line.
//!
//! # Layout
//! - [`compose`]: `docker-compose.yml`, generated.
//! - [`dockerfile`]: the Dockerfile's binary list, generated.
//! - [`terraform`]: `terraform/wiring.json` and the topic script's
//!   `terraform/scripts/kafka-names.sh`, generated.
//! - [`local_env`]: a service's environment on this machine.
//! - [`shell`]: topology.json as bash declarations for `./edm`'s scripts.
//! - [`launcher`]: [`Launch`](launcher::Launch), the one way a service
//!   binary is started and awaited.
//! - [`deploy_checks`]: offline checks of the hand-written deployment
//!   files against topology.json (`cargo xtask deploy-checks`).

pub mod compose;
pub mod deploy_checks;
pub mod dockerfile;
pub mod launcher;
pub mod local_env;
pub mod shell;
pub mod terraform;
