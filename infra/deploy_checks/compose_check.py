"""docker-compose.yml: valid against the Compose Specification's JSON schema,
and held to topology.json: each service there runs as the compose service
named by its key, on its port (published and probed on /ready), with Kafka's
and the database's variables exactly where the topology puts them, its
consumer group, the origins of the pages that call it and the URLs of the
services it calls. Published ports may be moved with `${VAR:-port}`; the
browser-facing URLs and origins must then name the same variable, and the
defaults are judged. Around them: one image built once by a one-shot job and
never pulled, KRaft Kafka without auto-creation, a one-shot job that creates
the topology's topics, Postgres with the stats migrations, and start ordering
that waits for readiness."""

import json
import os
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import yaml
from jsonschema import Draft7Validator

from . import env_rules
from .report import Report
from .topology import Service, Topology

AREA = "compose"
SCHEMA = os.path.join(os.path.dirname(__file__), "schema", "compose-spec.json")
# Read by Rust's standard library and tracing, not by name in crates/.
RUNTIME_VARIABLES = {"RUST_LOG", "RUST_BACKTRACE"}
KAFKA_TLS_VARIABLES = ("KAFKA_TRUSTED_CERT", "KAFKA_CLIENT_CERT", "KAFKA_CLIENT_CERT_KEY")


@dataclass(frozen=True)
class Stack:
    """What each EDM service in the compose file is judged against."""

    services: dict
    topology: Topology
    broker: dict | None  # name, advertised listeners, topic job
    postgres: dict | None  # name, user, password, db
    code_variables: set[str]


def load(root: str, report: Report) -> dict | None:
    path = os.path.join(root, "docker-compose.yml")
    if not report.check(AREA, os.path.isfile(path), "docker-compose.yml is missing"):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
    except yaml.YAMLError as e:
        report.fail(AREA, f"docker-compose.yml is not valid YAML: {e}")
        return None
    if not report.check(AREA, isinstance(doc, dict) and isinstance(doc.get("services"), dict),
                        "docker-compose.yml has no services mapping"):
        return None
    return doc


def validate_schema(doc: dict, report: Report) -> None:
    with open(SCHEMA, encoding="utf-8") as f:
        schema = json.load(f)
    errors = sorted(Draft7Validator(schema).iter_errors(doc), key=lambda e: list(e.absolute_path))
    for error in errors:
        where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        report.fail(AREA, f"schema: at {where}: {error.message}")
    report.check(AREA, not errors, "docker-compose.yml does not match the Compose Specification")


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return {k: v for k, _, v in (str(e).partition("=") for e in env)}
    return {k: "" if v is None else (str(v).lower() if isinstance(v, bool) else str(v))
            for k, v in env.items()}


def command(service: dict) -> list[str]:
    cmd = service.get("command")
    if cmd is None:
        return []
    return cmd.split() if isinstance(cmd, str) else [str(c) for c in cmd]


def depends_on(service: dict) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: "service_started" for name in deps}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def published_hosts(service: dict) -> dict[int, str]:
    """Container port -> the host port as written (`5000` or `${EDM_RELAY_PORT:-5000}`)."""
    hosts = {}
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            if entry.get("published") is not None:
                hosts[int(entry["target"])] = str(entry["published"]).split("-")[0]
            continue
        host, sep, target = str(entry).split("/")[0].rpartition(":")
        if sep and target.isdigit():
            # An IP before the host port: 127.0.0.1:5000:5000.
            hosts[int(target)] = host if host.startswith("${") else host.rsplit(":", 1)[-1]
    return hosts


def published_ports(service: dict) -> set[tuple[int, int]]:
    """(host port, container port) pairs, defaults taken for variables."""
    return {(int(defaulted(host)), target) for target, host in published_hosts(service).items()
            if defaulted(host).isdigit()}


def defaulted(value: str) -> str:
    """The value compose gives when no host variable is set: `${VAR:-x}` is x."""
    return re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)\}", r"\1", value)


def healthcheck_text(service: dict) -> str:
    test = (service.get("healthcheck") or {}).get("test") or []
    return test if isinstance(test, str) else " ".join(str(t) for t in test)


def interpolated(value: str) -> bool:
    """Whether compose would substitute a host variable into the value."""
    return re.search(r"(?<!\$)\$(\{|[A-Za-z_])", value.replace("$$", "")) is not None


def check(root: str, report: Report, topology: Topology, workspace_binaries: dict,
          code_variables: set[str]) -> dict | None:
    doc = load(root, report)
    if doc is None:
        return None
    validate_schema(doc, report)
    services = doc["services"]
    stack = Stack(services, topology, _check_kafka(services, topology, report),
                  _check_postgres(services, report), code_variables)
    for spec in topology.services:
        service = services.get(spec.key)
        if report.check(AREA, service is not None and command(service) == [spec.name],
                        f"no service '{spec.key}' runs {spec.name} (its key in topology.json)"):
            _check_edm_service(stack, spec, report)
    _check_undeployed_binaries(services, topology, workspace_binaries, report)
    _check_dependencies(services, report)
    return doc


def _check_kafka(services: dict, topology: Topology, report: Report) -> dict | None:
    brokers = [n for n, s in services.items()
               if str(s.get("image", "")).startswith("apache/kafka")
               and "KAFKA_PROCESS_ROLES" in environment(s)]
    if not report.check(AREA, len(brokers) == 1,
                        f"expected one apache/kafka broker service with KAFKA_PROCESS_ROLES, found {brokers}"):
        return None
    name = brokers[0]
    service, env = services[name], environment(services[name])
    roles = {r.strip() for r in env["KAFKA_PROCESS_ROLES"].split(",")}
    report.check(AREA, {"broker", "controller"} <= roles and "KAFKA_ZOOKEEPER_CONNECT" not in env,
                 f"{name}: not KRaft (KAFKA_PROCESS_ROLES must hold broker,controller; no ZooKeeper)")
    report.check(AREA, env.get("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "").lower() == "false",
                 f"{name}: KAFKA_AUTO_CREATE_TOPICS_ENABLE must be \"false\" (Heroku never auto-creates topics)")
    report.check(AREA, bool(healthcheck_text(service)), f"{name}: has no healthcheck")
    advertised = {(h, int(p)) for _, h, p in
                  re.findall(r"(\w+)://([^:,]*):(\d+)", env.get("KAFKA_ADVERTISED_LISTENERS", ""))}
    report.check(AREA, bool(advertised), f"{name}: KAFKA_ADVERTISED_LISTENERS names no listener")
    topic_job = _check_topic_job(services, name, topology, report)
    return {"name": name, "advertised": advertised, "topic_job": topic_job}


def _check_topic_job(services: dict, broker: str, topology: Topology, report: Report) -> str | None:
    jobs = [n for n, s in services.items() if "kafka-topics" in " ".join(command(s) + _entrypoint(s))
            and "--create" in " ".join(command(s))]
    if not report.check(AREA, len(jobs) == 1, f"expected one topic-creation job (kafka-topics --create), found {jobs}"):
        return None
    name, job = jobs[0], services[jobs[0]]
    words = set(re.findall(r"[\w.-]+", " ".join(command(job))))
    for topic in topology.topics:
        report.check(AREA, topic in words, f"{name}: does not create topic {topic} (topology.json)")
    # One command a line (continuation lines joined).
    script = " ".join(command(job)).replace("\\\n", " ")
    for internal in topology.internal_topics:
        # The topic's own command: its name, then its settings.
        found = re.search(re.escape(internal.name) + r"\S*([^\n]*)", script)
        settings = found.group(1) if found else ""
        report.check(AREA, found is not None, f"{name}: does not create internal topic {internal.name} (topology.json)")
        report.check(AREA, re.search(rf"--partitions\s+{internal.partitions}\b", settings) is not None,
                     f"{name}: internal topic {internal.name} needs --partitions {internal.partitions}")
        report.check(AREA, ("cleanup.policy=compact" in settings) == internal.compact,
                     f"{name}: internal topic {internal.name} must {'' if internal.compact else 'not '}be compacted")
    report.check(AREA, "KAFKA_PREFIX" in words, f"{name}: topic names must carry KAFKA_PREFIX")
    report.check(AREA, str(job.get("restart", "no")) == "no", f"{name}: a one-shot job needs restart: \"no\"")
    report.check(AREA, depends_on(job).get(broker) == "service_healthy",
                 f"{name}: must depend on {broker} with condition service_healthy")
    return name


def _entrypoint(service: dict) -> list[str]:
    entry = service.get("entrypoint") or []
    return entry.split() if isinstance(entry, str) else [str(e) for e in entry]


def _check_postgres(services: dict, report: Report) -> dict | None:
    found = [n for n, s in services.items() if str(s.get("image", "")).split("/")[-1].startswith("postgres")]
    if not report.check(AREA, len(found) == 1, f"expected one postgres service, found {found}"):
        return None
    name, env = found[0], environment(services[found[0]])
    report.check(AREA, bool(healthcheck_text(services[name])), f"{name}: has no healthcheck")
    return {"name": name, "user": env.get("POSTGRES_USER", "postgres"),
            "password": env.get("POSTGRES_PASSWORD"), "db": env.get("POSTGRES_DB", env.get("POSTGRES_USER", "postgres"))}


def _check_edm_service(stack: Stack, spec: Service, report: Report) -> None:
    service, env = stack.services[spec.key], environment(stack.services[spec.key])
    where = f"{spec.key} ({spec.name})"
    _check_image(where, stack, service, report)
    for variable in sorted(env):
        report.check(AREA, variable in RUNTIME_VARIABLES or variable in stack.code_variables,
                     f"{where}: sets {variable}, which no service reads")
        report.check(AREA, _given_by_topology(variable, spec, stack.topology) is not False,
                     f"{where}: sets {variable}, which topology.json does not give {spec.name}")
    judged = {k: defaulted(v) for k, v in env.items() if not interpolated(defaulted(v))}
    _check_port(where, spec, service, judged, report)
    if spec.kafka:
        _check_kafka_client(where, stack, service, judged, report)
    if spec.consumer_group:
        report.check(AREA, judged.get("KAFKA_CONSUMER_GROUP", spec.consumer_group) == spec.consumer_group,
                     f"{where}: KAFKA_CONSUMER_GROUP must be {spec.consumer_group} (topology.json) or unset")
    if spec.database:
        _check_database(where, stack, spec, judged, report)
    for variable, target in spec.calls.items():
        _check_call(where, stack, service, env, variable, stack.topology.by_name(target), report)
    if spec.called_by_pages_of:
        _check_origins(where, stack, env, [stack.topology.by_name(p) for p in spec.called_by_pages_of], report)


def _check_image(where: str, stack: Stack, service: dict, report: Report) -> None:
    """Every EDM service runs the one image a one-shot job builds, waits for
    that job, and never pulls the image (it exists nowhere else)."""
    builders = [n for n, s in stack.services.items() if s.get("build") is not None]
    if not report.check(AREA, len(builders) == 1,
                        f"expected one service that builds the EDM image, found {builders} "
                        "(several building one tag at once can fail)"):
        return
    name, builder = builders[0], stack.services[builders[0]]
    report.check(AREA, str(builder.get("restart", "no")) == "no", f"{name}: a one-shot job needs restart: \"no\"")
    report.check(AREA, service.get("image") == builder.get("image") and service.get("pull_policy") == "never",
                 f"{where}: must run image {builder.get('image')} with pull_policy: never (built by {name})")
    report.check(AREA, depends_on(service).get(name) == "service_completed_successfully",
                 f"{where}: must depend on {name} with condition service_completed_successfully")


def _host_port(stack: Stack, target: Service) -> str:
    """How the compose file publishes `target`'s port (its number when not published)."""
    service = stack.services.get(target.key) or {}
    return published_hosts(service).get(target.port, str(target.port))


def _given_by_topology(variable: str, spec: Service, topology: Topology) -> bool | None:
    """Whether topology.json gives `spec` the variable; None when it has no say."""
    if variable == "KAFKA_CONSUMER_GROUP":
        return spec.consumer_group is not None
    if variable.startswith("KAFKA_"):
        return spec.kafka
    if variable == "DATABASE_URL":
        return spec.database
    if variable == "EDM_ALLOWED_ORIGINS":
        return bool(spec.called_by_pages_of)
    if any(variable in s.calls for s in topology.services):
        return variable in spec.calls
    return None


def _check_port(where: str, spec: Service, service: dict, env: dict, report: Report) -> None:
    report.check(AREA, env.get("PORT") == str(spec.port), f"{where}: PORT must be {spec.port} (topology.json)")
    report.check(AREA, (spec.port, spec.port) in published_ports(service),
                 f"{where}: must publish port {spec.port}, on {spec.port} unless a variable moves it "
                 f"(\"{spec.port}:{spec.port}\" or \"${{VARIABLE:-{spec.port}}}:{spec.port}\", as the native run)")
    report.check(AREA, f":{spec.port}/ready" in healthcheck_text(service),
                 f"{where}: healthcheck must probe http://127.0.0.1:{spec.port}/ready")


def _check_kafka_client(where: str, stack: Stack, service: dict, env: dict, report: Report) -> None:
    url = env.get("KAFKA_URL")
    if not report.check(AREA, bool(url), f"{where}: KAFKA_URL is not set"):
        return
    try:
        brokers, tls = env_rules.kafka_brokers(url)
    except ValueError as e:
        report.fail(AREA, f"{where}: KAFKA_URL {e}")
        return
    if tls:
        for variable in KAFKA_TLS_VARIABLES:
            report.check(AREA, bool(env.get(variable)), f"{where}: kafka+ssl:// needs {variable}")
    broker = stack.broker
    if broker:
        for host, port in brokers:
            report.check(AREA, (host, port) in broker["advertised"],
                         f"{where}: KAFKA_URL broker {host}:{port} is not a listener advertised by {broker['name']}")
        job = broker["topic_job"]
        report.check(AREA, job is None or depends_on(service).get(job) == "service_completed_successfully",
                     f"{where}: must depend on {job} with condition service_completed_successfully")
    report.check(AREA, env_rules.KAFKA_NAME.match(env.get("KAFKA_PREFIX", "")) is not None,
                 f"{where}: KAFKA_PREFIX may hold only letters, digits, '.', '_' and '-'")
    for topic in filter(None, (t.strip() for t in env.get("KAFKA_TOPIC", "").split(","))):
        report.check(AREA, topic in stack.topology.topics, f"{where}: KAFKA_TOPIC names unknown topic {topic}")


def _check_database(where: str, stack: Stack, spec: Service, env: dict, report: Report) -> None:
    url = env.get("DATABASE_URL")
    if not report.check(AREA, bool(url), f"{where}: DATABASE_URL is not set"):
        return
    parts, postgres, services = urlsplit(url), stack.postgres, stack.services
    report.check(AREA, parts.scheme in ("postgres", "postgresql"), f"{where}: DATABASE_URL is not a postgres:// URL")
    report.check(AREA, "sslmode=" in parts.query,
                 f"{where}: DATABASE_URL needs ?sslmode=disable (edm-stats requires TLS unless the URL says otherwise)")
    if postgres:
        report.check(AREA, parts.hostname == postgres["name"] and (parts.port or 5432) == 5432,
                     f"{where}: DATABASE_URL must point at {postgres['name']}:5432")
        report.check(AREA, (parts.username, parts.password, parts.path.lstrip("/"))
                     == (postgres["user"], postgres["password"], postgres["db"]),
                     f"{where}: DATABASE_URL user, password or database differ from the postgres service's")
    migrations = [n for n, s in services.items() if command(s) == [spec.name, "migrate"]]
    if report.check(AREA, len(migrations) == 1, f"expected one one-shot service running '{spec.name} migrate'"):
        job = services[migrations[0]]
        report.check(AREA, environment(job).get("DATABASE_URL") == url,
                     f"{migrations[0]}: DATABASE_URL differs from {spec.key}'s")
        report.check(AREA, depends_on(services[spec.key]).get(migrations[0]) == "service_completed_successfully",
                     f"{where}: must depend on {migrations[0]} with condition service_completed_successfully")


def _check_call(where: str, stack: Stack, service: dict, env: dict, variable: str, target: Service,
                report: Report) -> None:
    wanted = f"http://localhost:{_host_port(stack, target)}"
    report.check(AREA, env.get(variable) == wanted,
                 f"{where}: {variable} must be {wanted}: {target.name}'s published port, as the browser reads it")
    if target.key in stack.services:
        report.check(AREA, depends_on(service).get(target.key) == "service_healthy",
                     f"{where}: must depend on {target.key} with condition service_healthy")


def _check_origins(where: str, stack: Stack, env: dict, pages: list[Service], report: Report) -> None:
    wanted = [f"http://{host}:{_host_port(stack, page)}" for page in pages for host in ("localhost", "127.0.0.1")]
    allowed = {o.strip().rstrip("/") for o in env.get("EDM_ALLOWED_ORIGINS", "").split(",") if o.strip()}
    report.check(AREA, allowed == set(wanted),
                 f"{where}: EDM_ALLOWED_ORIGINS must be {','.join(wanted)}: "
                 f"the pages of {', '.join(p.name for p in pages)} (topology.json)")


def _check_undeployed_binaries(services: dict, topology: Topology, workspace_binaries: dict,
                               report: Report) -> None:
    running = {command(s)[0] for s in services.values() if len(command(s)) == 1}
    for binary, crate in sorted(workspace_binaries.items()):
        report.check(AREA, binary in running or crate.name in topology.tools,
                     f"workspace binary {binary} is not run by any compose service "
                     "(a tool that is never deployed belongs in tools in topology.json)")


def _check_dependencies(services: dict, report: Report) -> None:
    for name, service in services.items():
        for target, condition in depends_on(service).items():
            if not report.check(AREA, target in services, f"{name}: depends on unknown service {target}"):
                continue
            if condition == "service_healthy":
                report.check(AREA, bool(healthcheck_text(services[target])),
                             f"{name}: waits for {target} to be healthy, but {target} has no healthcheck")
            elif condition == "service_completed_successfully":
                report.check(AREA, str(services[target].get("restart", "no")) == "no",
                             f"{name}: waits for {target} to complete, but {target} restarts")
            else:
                report.fail(AREA, f"{name}: depends on {target} without waiting for readiness "
                                  "(use service_healthy or service_completed_successfully)")
