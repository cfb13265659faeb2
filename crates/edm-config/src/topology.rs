//! The service topology, read from `topology.json` at the repository root:
//! each service's name, local port, consumer group, which services' pages
//! call it, and which services it calls. The same file drives `./edm run`,
//! `terraform/` and the deploy checks, so a port or a group is changed in
//! one place. It is compiled into every binary; nothing is read at run time.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::Deserialize;

/// The topology as written in `topology.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Topology {
    /// Logical topic names, for the scripts that create them.
    pub topics: Vec<String>,
    /// Which of `topics` are compacted (`cleanup.policy=compact`): the
    /// latest record per key is what they hold (`edm-trending-counts`).
    #[serde(default)]
    pub compacted_topics: Vec<String>,
    /// Topics a service needs created ahead with settings of their own
    /// (edm-trending's repartition and changelog topics).
    #[serde(default)]
    pub internal_topics: Vec<InternalTopic>,
    /// The deployed services (one Heroku app each).
    pub services: Vec<ServiceSpec>,
    /// Workspace crates that are tools, never deployed.
    pub tools: Vec<String>,
}

/// A topic created ahead with its own partition count and cleanup policy.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct InternalTopic {
    /// Logical name (without `KAFKA_PREFIX`).
    pub name: String,
    /// Its partition count.
    pub partitions: i32,
    /// Whether it is compacted (`cleanup.policy=compact`) rather than
    /// deleted by age.
    #[serde(default)]
    pub compact: bool,
}

impl InternalTopic {
    /// Its `cleanup.policy`: `compact` or `delete`.
    pub fn cleanup_policy(&self) -> &'static str {
        if self.compact {
            "compact"
        } else {
            "delete"
        }
    }
}

/// One deployed service.
#[derive(Debug, Clone, Deserialize)]
pub struct ServiceSpec {
    /// Binary and crate name, e.g. `edm-relay`.
    pub name: String,
    /// Short name: the compose service and the Terraform key.
    pub key: String,
    /// Local port, used when `PORT` is unset.
    pub port: u16,
    /// Whether it talks to Kafka.
    #[serde(default)]
    pub kafka: bool,
    /// Logical consumer group, when it consumes in a group.
    #[serde(default)]
    pub consumer_group: Option<String>,
    /// Whether it needs `DATABASE_URL`.
    #[serde(default)]
    pub database: bool,
    /// Services whose pages call this one from the browser: their origins
    /// are what it allows by default.
    #[serde(default)]
    pub called_by_pages_of: Vec<String>,
    /// Whether its Heroku app turns on session affinity (Terraform):
    /// edm-stream's, for Socket.io clients that start with long-polling.
    #[serde(default)]
    pub session_affinity: bool,
    /// Whether it uses Kafka transactions: Terraform then sets its
    /// `EDM_TRENDING_PROCESSING_GUARANTEE` by the Kafka plan (at least once
    /// where the plan may not grant transactional ids).
    #[serde(default)]
    pub kafka_transactions: bool,
    /// URL variables it reads, each naming the service it points at.
    #[serde(default)]
    pub calls: BTreeMap<String, String>,
}

impl ServiceSpec {
    /// Where it is reached on this machine: `http://localhost:PORT`.
    pub fn local_url(&self) -> String {
        format!("http://localhost:{}", self.port)
    }
}

static TOPOLOGY: LazyLock<Topology> = LazyLock::new(|| {
    Topology::from_json(include_str!("../../../topology.json"))
        .expect("topology.json is valid (edm-config's tests parse it)")
});

/// The topology compiled into this binary.
pub fn topology() -> &'static Topology {
    &TOPOLOGY
}

impl Topology {
    /// Parses the text of a `topology.json`: the one parser, used for the
    /// compiled-in copy and by checks that read another file (the deploy
    /// checks, on a copy of the repository). The error's
    /// [`classify`](serde_json::Error::classify) tells malformed JSON from
    /// JSON of the wrong shape.
    pub fn from_json(text: &str) -> Result<Topology, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The service named `name`.
    ///
    /// # Panics
    /// When `topology.json` has no such service. Names are constants of
    /// each service crate, and every service's settings tests look theirs up.
    pub fn service(&self, name: &str) -> &ServiceSpec {
        self.services
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("topology.json has no service named {name}"))
    }

    /// The `cleanup.policy` of the public topic `name`: `compact` or `delete`.
    pub fn cleanup_policy(&self, name: &str) -> &'static str {
        if self.compacted_topics.iter().any(|t| t == name) {
            "compact"
        } else {
            "delete"
        }
    }

    /// The consumer groups of the services that have one, in file order.
    pub fn consumer_groups(&self) -> impl Iterator<Item = &str> {
        self.services
            .iter()
            .filter_map(|s| s.consumer_group.as_deref())
    }

    /// The service a URL variable (`EDM_RELAY_URL`, …) points at.
    pub fn called_through(&self, variable: &str) -> Option<&ServiceSpec> {
        let name = self.services.iter().find_map(|s| s.calls.get(variable))?;
        Some(self.service(name))
    }

    /// The local origins of every service whose pages call another
    /// (`http://localhost:3000`, `http://127.0.0.1:3000`, …), in the order
    /// the services are listed.
    pub fn local_page_origins(&self) -> Vec<String> {
        self.services
            .iter()
            .filter(|page| {
                self.services
                    .iter()
                    .any(|s| s.called_by_pages_of.contains(&page.name))
            })
            .flat_map(|page| {
                [
                    format!("http://localhost:{}", page.port),
                    format!("http://127.0.0.1:{}", page.port),
                ]
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Topic;

    #[test]
    fn the_topology_parses_and_names_every_topic_the_code_knows() {
        let topology = topology();
        let names: Vec<&str> = Topic::ALL.iter().map(|t| t.name()).collect();
        assert_eq!(topology.topics, names);
        assert_eq!(topology.service("edm-relay").port, 5000);
        for compacted in &topology.compacted_topics {
            assert!(topology.topics.contains(compacted), "{compacted}");
        }
        assert_eq!(topology.cleanup_policy("edm-trending-counts"), "compact");
        assert_eq!(topology.cleanup_policy("edm-ui-click"), "delete");
        assert_eq!(topology.cleanup_policy("edm-trending-sample"), "delete");
    }

    #[test]
    fn every_reference_names_a_listed_service() {
        let topology = topology();
        for service in &topology.services {
            for name in service
                .called_by_pages_of
                .iter()
                .chain(service.calls.values())
            {
                assert!(
                    topology.services.iter().any(|s| &s.name == name),
                    "{} refers to unknown service {name}",
                    service.name
                );
            }
        }
    }

    #[test]
    fn page_origins_are_the_local_store_and_dashboard() {
        assert_eq!(
            topology().local_page_origins(),
            [
                "http://localhost:3000",
                "http://127.0.0.1:3000",
                "http://localhost:3001",
                "http://127.0.0.1:3001",
            ]
        );
        assert_eq!(
            topology()
                .called_through("EDM_STATS_URL")
                .map(ServiceSpec::local_url),
            Some("http://localhost:5002".to_owned())
        );
    }
}
