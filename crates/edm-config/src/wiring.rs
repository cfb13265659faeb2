//! How topology.json wires the services together, written once: the
//! environment each service gets where it runs (Heroku's variable names).
//! `./edm run`, the bench and the tests (through `edm-tool env`) and the
//! generated `docker-compose.yml` (through `edm-tool generate`) all take
//! it from [`service_env`]; Terraform reads the part that points at other
//! services ([`calls_and_origins`]) from the generated
//! `terraform/wiring.json` and puts the apps' real URLs in it.
//!
//! A service gets:
//! - `PORT`: the port it listens on;
//! - `KAFKA_URL` and `KAFKA_PREFIX`, if it talks to Kafka;
//! - `KAFKA_CONSUMER_GROUP`, its logical consumer group, if it has one;
//! - `DATABASE_URL`, if it needs the database;
//! - `EDM_ALLOWED_ORIGINS`: the origins of the services whose pages call it;
//! - each URL variable it reads (`EDM_RELAY_URL`, …), pointing at the
//!   service the topology names.

use std::collections::BTreeMap;

use crate::topology::{ServiceSpec, Topology};

/// Where the services run: what [`service_env`] needs besides the topology.
pub trait Place {
    /// The port `service` listens on, as the variable's text.
    fn listen_port(&self, service: &ServiceSpec) -> String;
    /// The browser-facing origins of `service` (scheme, host and port);
    /// the first is the one URL variables point at.
    fn origins(&self, service: &ServiceSpec) -> Vec<String>;
    /// `KAFKA_URL`.
    fn kafka_url(&self) -> String;
    /// `KAFKA_PREFIX`.
    fn kafka_prefix(&self) -> String;
    /// `DATABASE_URL`.
    fn database_url(&self) -> String;
}

/// The environment `service` gets at `place`, in variable order.
pub fn service_env(
    topology: &Topology,
    service: &ServiceSpec,
    place: &impl Place,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    env.insert("PORT".to_owned(), place.listen_port(service));
    if service.kafka {
        env.insert("KAFKA_URL".to_owned(), place.kafka_url());
        env.insert("KAFKA_PREFIX".to_owned(), place.kafka_prefix());
        if let Some(group) = &service.consumer_group {
            env.insert("KAFKA_CONSUMER_GROUP".to_owned(), group.clone());
        }
    }
    if service.database {
        env.insert("DATABASE_URL".to_owned(), place.database_url());
    }
    env.extend(calls_and_origins(topology, service, |s| place.origins(s)));
    env
}

/// The part of a service's environment that points at other services:
/// `EDM_ALLOWED_ORIGINS` (the origins of the services whose pages call it,
/// joined with commas) and each URL variable it reads (the first origin of
/// the service it names). `origins` gives a service's origins; Terraform
/// gets this part from `terraform/wiring.json`, which `edm-tool generate`
/// writes with each origin standing for its service's name.
pub fn calls_and_origins(
    topology: &Topology,
    service: &ServiceSpec,
    origins: impl Fn(&ServiceSpec) -> Vec<String>,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    let allowed: Vec<String> = service
        .called_by_pages_of
        .iter()
        .flat_map(|page| origins(topology.service(page)))
        .collect();
    if !allowed.is_empty() {
        env.insert("EDM_ALLOWED_ORIGINS".to_owned(), allowed.join(","));
    }
    for (variable, target) in &service.calls {
        let url = origins(topology.service(target))
            .into_iter()
            .next()
            .unwrap_or_default();
        env.insert(variable.clone(), url);
    }
    env
}

/// This machine, as `./edm run` starts the services: each on its port
/// (moved by `EDM_<KEY>_PORT`), reached at `localhost` and `127.0.0.1`.
#[derive(Debug, Clone)]
pub struct ThisMachine {
    /// Each service's port, by name.
    pub ports: BTreeMap<String, u16>,
    /// `KAFKA_URL`.
    pub kafka_url: String,
    /// `KAFKA_PREFIX`.
    pub kafka_prefix: String,
    /// `DATABASE_URL`.
    pub database_url: String,
}

impl ThisMachine {
    /// The port variable of a service: `EDM_RELAY_PORT` for the key `relay`.
    pub fn port_variable(service: &ServiceSpec) -> String {
        format!("EDM_{}_PORT", service.key.to_uppercase().replace('-', "_"))
    }

    fn port(&self, service: &ServiceSpec) -> u16 {
        self.ports
            .get(&service.name)
            .copied()
            .unwrap_or(service.port)
    }
}

impl Place for ThisMachine {
    fn listen_port(&self, service: &ServiceSpec) -> String {
        self.port(service).to_string()
    }

    fn origins(&self, service: &ServiceSpec) -> Vec<String> {
        let port = self.port(service);
        vec![
            format!("http://localhost:{port}"),
            format!("http://127.0.0.1:{port}"),
        ]
    }

    fn kafka_url(&self) -> String {
        self.kafka_url.clone()
    }

    fn kafka_prefix(&self) -> String {
        self.kafka_prefix.clone()
    }

    fn database_url(&self) -> String {
        self.database_url.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::topology;

    fn here() -> ThisMachine {
        ThisMachine {
            ports: BTreeMap::from([("edm-dashboard".to_owned(), 4001)]),
            kafka_url: "kafka://127.0.0.1:19092".into(),
            kafka_prefix: "p.".into(),
            database_url: "postgres://edm@127.0.0.1/edm".into(),
        }
    }

    fn env_of(name: &str) -> BTreeMap<String, String> {
        let topology = topology();
        service_env(topology, topology.service(name), &here())
    }

    #[test]
    fn each_service_gets_what_the_topology_says_it_needs() {
        let stats = env_of("edm-stats");
        assert_eq!(stats["PORT"], "5002");
        assert_eq!(stats["KAFKA_PREFIX"], "p.");
        assert_eq!(stats["KAFKA_CONSUMER_GROUP"], "edm-consumer-group-2");
        assert_eq!(stats["DATABASE_URL"], "postgres://edm@127.0.0.1/edm");
        // The dashboard's pages call it, from the dashboard's moved port.
        assert_eq!(
            stats["EDM_ALLOWED_ORIGINS"],
            "http://localhost:4001,http://127.0.0.1:4001"
        );
        let dashboard = env_of("edm-dashboard");
        assert_eq!(dashboard["PORT"], "4001");
        assert_eq!(dashboard["EDM_STATS_URL"], "http://localhost:5002");
        assert!(!dashboard.contains_key("KAFKA_URL"));
        let relay = env_of("edm-relay");
        assert!(!relay.contains_key("KAFKA_CONSUMER_GROUP"));
        assert!(!relay.contains_key("DATABASE_URL"));
    }

    #[test]
    fn port_variables_follow_the_key() {
        let topology = topology();
        assert_eq!(
            ThisMachine::port_variable(topology.service("edm-relay")),
            "EDM_RELAY_PORT"
        );
    }
}
