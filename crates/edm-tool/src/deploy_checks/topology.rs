//! `topology.json` of the repository being checked (read from its root,
//! not the copy compiled into this binary, so a broken copy can be
//! checked), parsed by edm-config's one parser, then checked for what would
//! break every reader of it (edm-config, `./edm run`, terraform/): a name,
//! key, port or consumer group used twice, a reference to a service that
//! is not there, a consumer group without Kafka, a service that is also a
//! tool, more than one database.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use edm_config::topology::{ServiceSpec, Topology};
use serde_json::error::Category;

use super::report::Report;

const AREA: &str = "topology";

/// The topology at `root`, or `None` (reported) when it is missing, does
/// not parse or is inconsistent.
pub fn load(root: &Path, report: &mut Report) -> Option<Topology> {
    let Ok(text) = std::fs::read_to_string(root.join("topology.json")) else {
        report.fail(AREA, "topology.json is missing");
        return None;
    };
    let topology = match Topology::from_json(&text) {
        Ok(topology) => topology,
        Err(e) if matches!(e.classify(), Category::Data) => {
            report.fail(
                AREA,
                format!("topology.json does not have the expected shape: {e}"),
            );
            return None;
        }
        Err(e) => {
            report.fail(AREA, format!("topology.json is not valid JSON: {e}"));
            return None;
        }
    };
    consistent(&topology, report).then_some(topology)
}

/// The consumer groups of the services that have one.
pub fn consumer_groups(topology: &Topology) -> BTreeSet<&str> {
    topology.consumer_groups().collect()
}

/// The one service with `database: true`, if any.
pub fn database_service(topology: &Topology) -> Option<&ServiceSpec> {
    topology.services.iter().find(|s| s.database)
}

/// Whether `topology` holds together; each problem is reported.
fn consistent(topology: &Topology, report: &mut Report) -> bool {
    let failures = report.failures.len();
    let services = &topology.services;
    shared(report, "name", services.iter().map(|s| s.name.clone()));
    shared(report, "key", services.iter().map(|s| s.key.clone()));
    shared(report, "port", services.iter().map(|s| s.port.to_string()));
    shared(
        report,
        "consumer_group",
        topology.consumer_groups().map(str::to_owned),
    );
    for service in services {
        report.check(AREA, service.port != 0, || {
            format!("{}: port 0 is not a port number", service.name)
        });
        for other in service
            .called_by_pages_of
            .iter()
            .chain(service.calls.values())
        {
            report.check(AREA, services.iter().any(|s| &s.name == other), || {
                format!("{} refers to unknown service {other}", service.name)
            });
        }
        report.check(
            AREA,
            service.kafka || service.consumer_group.is_none(),
            || format!("{} has a consumer group but no kafka: true", service.name),
        );
        report.check(AREA, !topology.tools.contains(&service.name), || {
            format!("{} is both a service and a tool", service.name)
        });
    }
    report.check(
        AREA,
        services.iter().filter(|s| s.database).count() <= 1,
        || "more than one service has database: true (there is one Postgres)".to_owned(),
    );
    report.failures.len() == failures
}

/// Reports each value that more than one service has for `attribute`.
fn shared(report: &mut Report, attribute: &str, values: impl Iterator<Item = String>) {
    let mut counts = BTreeMap::<String, usize>::new();
    for value in values {
        *counts.entry(value).or_default() += 1;
    }
    for (value, _) in counts.into_iter().filter(|(_, n)| *n > 1) {
        report.fail(
            AREA,
            format!("two services share {attribute} {value}; each needs its own"),
        );
    }
}
