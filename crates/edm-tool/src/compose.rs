//! `docker-compose.yml`, generated from topology.json: Kafka in KRaft mode
//! with auto-creation off (as on Heroku), a one-shot job that creates every
//! topic and internal topic, Postgres with a one-shot migration job for the
//! service that has the database, one image built once, and each service of
//! topology.json with the environment [`edm_config::wiring`] gives it,
//! published on its port (moved by `EDM_<KEY>_PORT`), probed on `/ready`,
//! started once what it needs is ready.

use std::fmt::Write;

use edm_config::topology::{ServiceSpec, Topology};
use edm_config::wiring::{service_env, Place, ThisMachine};

/// The Apache Kafka image (the version the everyday test broker runs).
const KAFKA_IMAGE: &str = "apache/kafka:4.1.0";
/// Partitions of each event topic.
const PARTITIONS: u32 = 4;
/// The database every service with `database: true` shares.
const DATABASE_URL: &str = "postgres://edm:edm@postgres:5432/edm?sslmode=disable";

/// The compose network, seen from the services and from the browser.
struct Compose;

impl Compose {
    /// The published port, movable: `${EDM_RELAY_PORT:-5000}`.
    fn published_port(service: &ServiceSpec) -> String {
        format!(
            "${{{}:-{}}}",
            ThisMachine::port_variable(service),
            service.port
        )
    }
}

impl Place for Compose {
    fn listen_port(&self, service: &ServiceSpec) -> String {
        service.port.to_string()
    }

    /// Read by the visitor's browser: the published port on this machine.
    fn origins(&self, service: &ServiceSpec) -> Vec<String> {
        let port = Self::published_port(service);
        vec![
            format!("http://localhost:{port}"),
            format!("http://127.0.0.1:{port}"),
        ]
    }

    fn kafka_url(&self) -> String {
        "kafka://kafka:9092".into()
    }

    fn kafka_prefix(&self) -> String {
        String::new()
    }

    fn database_url(&self) -> String {
        DATABASE_URL.into()
    }
}

/// The whole file.
pub fn render(topology: &Topology) -> String {
    let mut out = String::new();
    header(&mut out, topology);
    infrastructure(&mut out, topology);
    for service in &topology.services {
        service_block(&mut out, topology, service);
    }
    out.push_str("\nvolumes:\n  kafka-data:\n  postgres-data:\n");
    out
}

fn header(out: &mut String, topology: &Topology) {
    let mut ports = String::from("#");
    for (i, service) in topology.services.iter().enumerate() {
        let entry = format!(
            " {} ({}){}",
            ThisMachine::port_variable(service),
            service.port,
            if i + 1 == topology.services.len() {
                "."
            } else {
                ","
            }
        );
        if ports.rsplit('\n').next().map_or(0, str::len) + entry.len() > 76 {
            ports.push_str("\n#");
        }
        ports.push_str(&entry);
    }
    let _ = write!(
        out,
        "# docker-compose.yml: the whole EDM system in containers. Generated from
# topology.json by `cargo xtask generate` (crates/edm-tool); `./edm lint`
# fails when it differs. Do not edit by hand.
#
#   docker compose up --build
#
# then open the store at http://localhost:3000 and the dashboard at
# http://localhost:3001. Apache Kafka runs in KRaft mode with topic
# auto-creation off (as on Heroku), a one-shot job creates every topic, another
# applies the database migrations, and the services start in order, each once
# what it needs is healthy. One image (edm:local) holds every service; it is
# built once, by the edm-image job, and never pulled.
#
# Ports are the same as the native `./edm run`, so run one or the other. Each
# published port can be moved with a variable, and the pages follow it (port
# 5000 is taken by AirPlay Receiver on recent macOS):
#
#   EDM_RELAY_PORT=5050 docker compose up --build
#
{ports}

name: edm

x-edm-healthcheck: &edm-healthcheck
  interval: 5s
  timeout: 3s
  retries: 30
  start_period: 10s

services:
"
    );
}

fn infrastructure(out: &mut String, topology: &Topology) {
    let _ = write!(
        out,
        "  # One-shot: builds the image of every EDM service, once (two services
  # building the same tag at once can fail on a first `up`).
  edm-image:
    build:
      context: .
      target: runtime
    image: edm:local
    command: [\"true\"]
    restart: \"no\"

  kafka:
    image: {KAFKA_IMAGE}
    environment:
      KAFKA_NODE_ID: 1
      KAFKA_PROCESS_ROLES: broker,controller
      KAFKA_CONTROLLER_QUORUM_VOTERS: 1@kafka:9093
      KAFKA_LISTENERS: PLAINTEXT://:9092,CONTROLLER://:9093
      KAFKA_ADVERTISED_LISTENERS: PLAINTEXT://kafka:9092
      KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
      KAFKA_CONTROLLER_LISTENER_NAMES: CONTROLLER
      KAFKA_INTER_BROKER_LISTENER_NAME: PLAINTEXT
      KAFKA_AUTO_CREATE_TOPICS_ENABLE: \"false\"
      KAFKA_NUM_PARTITIONS: {PARTITIONS}
      KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: 1
      KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: 1
      KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: 1
      KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR: 1
      KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR: 1
      KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: 0
      KAFKA_LOG_DIRS: /var/lib/kafka/data
    volumes:
      - kafka-data:/var/lib/kafka/data
    healthcheck:
      test: [\"CMD-SHELL\", \"/opt/kafka/bin/kafka-broker-api-versions.sh --bootstrap-server localhost:9092 >/dev/null 2>&1\"]
      interval: 10s
      timeout: 15s
      retries: 12
      start_period: 20s

  # One-shot: creates every topic of topology.json (auto-creation is off),
  # then exits 0.
  kafka-topics:
    image: {KAFKA_IMAGE}
    environment:
      KAFKA_PREFIX: \"\"
    entrypoint: [\"/bin/sh\", \"-c\"]
    command:
      - |
        set -e
        create() {{
          /opt/kafka/bin/kafka-topics.sh --bootstrap-server kafka:9092 --create --if-not-exists \\
            --replication-factor 1 --topic \"$${{KAFKA_PREFIX}}$$1\" --partitions \"$$2\" $$3
        }}
"
    );
    for topic in &topology.topics {
        let config = match topology.cleanup_policy(topic) {
            "compact" => " \"--config cleanup.policy=compact\"",
            _ => "",
        };
        let _ = writeln!(out, "        create {topic} {PARTITIONS}{config}");
    }
    for topic in &topology.internal_topics {
        let config = if topic.compact {
            " \"--config cleanup.policy=compact\""
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "        create {} {}{config}",
            topic.name, topic.partitions
        );
    }
    out.push_str(
        "    restart: \"no\"
    depends_on:
      kafka:
        condition: service_healthy

  postgres:
    image: postgres:17
    environment:
      POSTGRES_USER: edm
      POSTGRES_PASSWORD: edm
      POSTGRES_DB: edm
    volumes:
      - postgres-data:/var/lib/postgresql/data
    healthcheck:
      test: [\"CMD-SHELL\", \"pg_isready -U edm -d edm\"]
      interval: 5s
      timeout: 3s
      retries: 20
",
    );
    for service in topology.services.iter().filter(|s| s.database) {
        let _ = write!(
            out,
            "
  # One-shot: applies the {name} migrations, as Heroku's release phase does.
  {key}-migrate:
    image: edm:local
    pull_policy: never
    command: [\"{name}\", \"migrate\"]
    restart: \"no\"
    environment:
      DATABASE_URL: {DATABASE_URL}
    depends_on:
      edm-image:
        condition: service_completed_successfully
      postgres:
        condition: service_healthy
",
            name = service.name,
            key = service.key,
        );
    }
}

fn service_block(out: &mut String, topology: &Topology, service: &ServiceSpec) {
    let _ = write!(
        out,
        "
  {key}:
    image: edm:local
    pull_policy: never
    restart: unless-stopped
    command: [\"{name}\"]
    environment:
",
        key = service.key,
        name = service.name,
    );
    for (variable, value) in service_env(topology, service, &Compose) {
        let value = if value.is_empty() {
            "\"\"".to_owned()
        } else {
            value
        };
        let _ = writeln!(out, "      {variable}: {value}");
    }
    let _ = write!(
        out,
        "    ports:
      - \"{published}:{port}\"
    healthcheck:
      <<: *edm-healthcheck
      test: [\"CMD\", \"curl\", \"-fsS\", \"-o\", \"/dev/null\", \"http://127.0.0.1:{port}/ready\"]
    depends_on:
      edm-image:
        condition: service_completed_successfully
",
        published = Compose::published_port(service),
        port = service.port,
    );
    if service.kafka {
        out.push_str("      kafka-topics:\n        condition: service_completed_successfully\n");
    }
    if service.database {
        let _ = write!(
            out,
            "      postgres:\n        condition: service_healthy\n      {}-migrate:\n        condition: service_completed_successfully\n",
            service.key
        );
    }
    for target in service.calls.values() {
        let _ = write!(
            out,
            "      {}:\n        condition: service_healthy\n",
            topology.service(target).key
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_topic_is_created_and_every_service_wired() {
        let topology = edm_config::topology::topology();
        let text = render(topology);
        for topic in &topology.topics {
            let config = match topology.cleanup_policy(topic) {
                "compact" => " \"--config cleanup.policy=compact\"",
                _ => "",
            };
            assert!(
                text.contains(&format!("        create {topic} 4{config}\n")),
                "{topic}"
            );
        }
        assert!(text.contains(
            "        create edm-trending-counts 4 \"--config cleanup.policy=compact\"\n"
        ));
        // The sample is a public topic of normal retention.
        assert!(text.contains("        create edm-trending-sample 4\n"));
        assert!(text.contains(
            "        create edm-trending-window-counts-changelog 4 \"--config cleanup.policy=compact\"\n"
        ));
        for service in &topology.services {
            assert!(text.contains(&format!("\n  {}:\n", service.key)));
            assert!(text.contains(&format!("command: [\"{}\"]", service.name)));
        }
        assert!(text.contains("      EDM_STATS_URL: http://localhost:${EDM_STATS_PORT:-5002}\n"));
        assert!(text.contains("      KAFKA_CONSUMER_GROUP: edm-trending\n"));
        assert!(text.contains("  stats-migrate:\n"));
    }
}
