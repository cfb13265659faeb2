"""topology.json, the one description of EDM's services that the deployment
files are held to: loaded, and checked for what would break every reader of
it (edm-config, ./edm run, terraform/): a malformed entry, a name, key, port
or consumer group used twice, a reference to a service that is not there."""

import json
import os
from dataclasses import dataclass, field

from .report import Report

AREA = "topology"


@dataclass(frozen=True)
class Service:
    """One deployed service: one binary, one compose service, one Heroku app."""

    name: str  # workspace binary = crate name
    key: str  # compose service name, Terraform key, Heroku app suffix
    port: int  # local port (PORT default, published port)
    kafka: bool = False  # needs KAFKA_URL and friends
    consumer_group: str | None = None  # logical consumer group
    database: bool = False  # needs DATABASE_URL
    called_by_pages_of: tuple[str, ...] = ()  # services whose pages call it
    calls: dict[str, str] = field(default_factory=dict)  # URL variable => service
    session_affinity: bool = False  # Heroku's http-session-affinity on its app
    kafka_transactions: bool = False  # uses Kafka transactions (processing guarantee by plan)


@dataclass(frozen=True)
class InternalTopic:
    name: str  # logical (no KAFKA_PREFIX)
    partitions: int
    compact: bool  # cleanup.policy=compact


@dataclass(frozen=True)
class Topology:
    topics: tuple[str, ...]
    services: tuple[Service, ...]
    tools: frozenset[str]  # workspace crates that are never deployed
    internal_topics: tuple[InternalTopic, ...] = ()  # created ahead with their own settings

    def by_name(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)

    @property
    def database_service(self) -> Service | None:
        return next((s for s in self.services if s.database), None)

    @property
    def consumer_groups(self) -> set[str]:
        return {s.consumer_group for s in self.services if s.consumer_group}


def load_topology(root: str, report: Report) -> Topology | None:
    """The topology, or None (reported) when it is missing or broken."""
    path = os.path.join(root, "topology.json")
    if not report.check(AREA, os.path.isfile(path), "topology.json is missing"):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        topology = Topology(tuple(doc["topics"]), tuple(_service(entry) for entry in doc["services"]),
                            frozenset(doc["tools"]),
                            tuple(InternalTopic(t["name"], int(t["partitions"]), bool(t.get("compact", False)))
                                  for t in doc.get("internal_topics", [])))
    except json.JSONDecodeError as e:
        report.fail(AREA, f"topology.json is not valid JSON: {e}")
        return None
    except (KeyError, TypeError, ValueError) as e:
        report.fail(AREA, f"topology.json does not have the expected shape: {e}")
        return None
    return topology if _consistent(topology, report) else None


def _service(entry: dict) -> Service:
    service = Service(**{**entry, "called_by_pages_of": tuple(entry.get("called_by_pages_of", ()))})
    if not isinstance(service.port, int) or not 0 < service.port < 65536:
        raise ValueError(f"{service.name}: port {service.port!r} is not a port number")
    return service


def _consistent(topology: Topology, report: Report) -> bool:
    failures = len(report.failures)
    for attribute in ("name", "key", "port", "consumer_group"):
        values = [getattr(s, attribute) for s in topology.services if getattr(s, attribute) is not None]
        for value in sorted({v for v in values if values.count(v) > 1}, key=str):
            report.fail(AREA, f"two services share {attribute} {value}; each needs its own")
    names = {s.name for s in topology.services}
    for service in topology.services:
        for other in (*service.called_by_pages_of, *service.calls.values()):
            report.check(AREA, other in names, f"{service.name} refers to unknown service {other}")
        report.check(AREA, service.kafka or not service.consumer_group,
                     f"{service.name} has a consumer group but no kafka: true")
        report.check(AREA, service.name not in topology.tools, f"{service.name} is both a service and a tool")
    report.check(AREA, sum(s.database for s in topology.services) <= 1,
                 "more than one service has database: true (there is one Postgres)")
    return len(report.failures) == failures
