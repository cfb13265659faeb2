//! edm-tool: the project's tooling that reads topology.json or starts
//! services, in Rust; the `edm-tool` binary (`cargo xtask …`) is its
//! command line.
//!
//! # Layout
//! - [`compose`]: `docker-compose.yml`, generated.
//! - [`dockerfile`]: the Dockerfile's binary list, generated.
//! - [`local_env`]: a service's environment on this machine.
//! - [`launcher`]: [`Launch`](launcher::Launch), the one way a service
//!   binary is started and awaited.

pub mod compose;
pub mod dockerfile;
pub mod launcher;
pub mod local_env;
