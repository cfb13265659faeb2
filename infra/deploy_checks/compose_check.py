"""docker-compose.yml: valid against the Compose Specification's JSON schema,
and wired as the contract says: KRaft Kafka without auto-creation, a one-shot
topic job, Postgres, the stats migrations, the five services with the
environment edm-config needs, health checks on /ready and start ordering."""

import json
import os
import re
from urllib.parse import urlsplit

import yaml
from jsonschema import Draft7Validator

from . import contract, env_rules
from .report import Report

AREA = "compose"
SCHEMA = os.path.join(os.path.dirname(__file__), "schema", "compose-spec.json")


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


def published_ports(service: dict) -> set[tuple[int, int]]:
    """(host port, container port) pairs."""
    pairs = set()
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            if entry.get("published") is not None:
                pairs.add((int(str(entry["published"]).split("-")[0]), int(entry["target"])))
            continue
        parts = str(entry).split("/")[0].split(":")
        if len(parts) >= 2 and parts[-1].isdigit() and parts[-2].isdigit():
            pairs.add((int(parts[-2]), int(parts[-1])))
    return pairs


def healthcheck_text(service: dict) -> str:
    test = (service.get("healthcheck") or {}).get("test") or []
    return test if isinstance(test, str) else " ".join(str(t) for t in test)


def interpolated(value: str) -> bool:
    """Whether compose would substitute a host variable into the value."""
    return re.search(r"(?<!\$)\$(\{|[A-Za-z_])", value.replace("$$", "")) is not None


def check(root: str, report: Report, workspace_binaries: dict, code_variables: set[str]) -> dict | None:
    doc = load(root, report)
    if doc is None:
        return None
    validate_schema(doc, report)
    services = doc["services"]
    broker = _check_kafka(services, report, root)
    postgres = _check_postgres(services, report)
    known_binaries = set(contract.BY_BINARY) | set(workspace_binaries)
    running = {}  # binary => compose service name (long-running)
    for name, service in services.items():
        cmd = command(service)
        if len(cmd) == 1 and cmd[0] in known_binaries:
            report.check(AREA, cmd[0] not in running,
                         f"services '{running.get(cmd[0])}' and '{name}' both run {cmd[0]}")
            running[cmd[0]] = name
    for spec in contract.SERVICES:
        if report.check(AREA, spec.binary in running, f"no service runs {spec.binary}"):
            _check_edm_service(services, running, spec, broker, postgres, report, code_variables)
    for binary in sorted(set(workspace_binaries) - set(running)):
        crate = workspace_binaries[binary].name
        if crate not in contract.NOT_DEPLOYED:
            report.fail(AREA, f"workspace binary {binary} is not run by any compose service")
    _check_dependencies(services, report)
    _check_consumer_groups(services, running, report)
    return doc


def _check_kafka(services: dict, report: Report, root: str) -> dict | None:
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
    _check_kafka_version(name, str(service["image"]), root, report)
    advertised = {(h, int(p)) for _, h, p in
                  re.findall(r"(\w+)://([^:,]*):(\d+)", env.get("KAFKA_ADVERTISED_LISTENERS", ""))}
    report.check(AREA, bool(advertised), f"{name}: KAFKA_ADVERTISED_LISTENERS names no listener")
    topic_job = _check_topic_job(services, name, report)
    return {"name": name, "advertised": advertised, "topic_job": topic_job}


def _check_kafka_version(name: str, image: str, root: str, report: Report) -> None:
    pom = os.path.join(root, "infra", "kafka", "pom.xml")
    if not os.path.isfile(pom):
        return
    with open(pom, encoding="utf-8") as f:
        match = re.search(r"<kafka.version>([^<]+)</kafka.version>", f.read())
    if match:
        tag = image.partition(":")[2]
        report.check(AREA, tag == match.group(1),
                     f"{name}: image {image} differs from the native broker's Kafka {match.group(1)} "
                     "(infra/kafka/pom.xml); keep them the same")


def _check_topic_job(services: dict, broker: str, report: Report) -> str | None:
    jobs = [n for n, s in services.items() if "kafka-topics" in " ".join(command(s) + _entrypoint(s))
            and "--create" in " ".join(command(s))]
    if not report.check(AREA, len(jobs) == 1, f"expected one topic-creation job (kafka-topics --create), found {jobs}"):
        return None
    name, job = jobs[0], services[jobs[0]]
    text = " ".join(command(job))
    for topic in contract.TOPICS:
        report.check(AREA, topic in text, f"{name}: does not create topic {topic}")
    report.check(AREA, "KAFKA_PREFIX" in text, f"{name}: topic names must carry KAFKA_PREFIX")
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


def _check_edm_service(services, running, spec, broker, postgres, report, code_variables) -> None:
    name = running[spec.binary]
    service, env = services[name], environment(services[name])
    where = f"{name} ({spec.binary})"
    build = service.get("build")
    report.check(AREA, build is not None, f"{where}: has no build section (images come from the Dockerfile)")
    for variable in sorted(env):
        report.check(AREA, variable in contract.CONFIG_VARIABLES or variable in code_variables,
                     f"{where}: sets {variable}, which no service reads")
    judged = {k: v for k, v in env.items() if not interpolated(v)}
    # PORT, published port and health check agree.
    report.check(AREA, judged.get("PORT") == str(spec.port), f"{where}: PORT must be {spec.port}")
    report.check(AREA, (spec.port, spec.port) in published_ports(service),
                 f"{where}: must publish \"{spec.port}:{spec.port}\" (same port as the native run)")
    health = healthcheck_text(service)
    report.check(AREA, f":{spec.port}/ready" in health,
                 f"{where}: healthcheck must probe http://127.0.0.1:{spec.port}/ready")
    if spec.kafka:
        _check_kafka_client(where, name, service, judged, broker, report)
    if spec.database:
        _check_database(where, services, name, judged, postgres, spec, report)
    for variable, target in spec.calls.items():
        _check_call(where, services, name, judged, variable, contract.BY_BINARY[target], running, report)
    if spec.allows_origin_of:
        _check_origins(where, judged, contract.BY_BINARY[spec.allows_origin_of], report)


def _check_kafka_client(where, name, service, env, broker, report) -> None:
    url = env.get("KAFKA_URL")
    if not report.check(AREA, bool(url), f"{where}: KAFKA_URL is not set"):
        return
    try:
        brokers, tls = env_rules.kafka_brokers(url)
    except ValueError as e:
        report.fail(AREA, f"{where}: KAFKA_URL {e}")
        return
    if tls:
        for variable in contract.KAFKA_TLS_VARIABLES:
            report.check(AREA, bool(env.get(variable)), f"{where}: kafka+ssl:// needs {variable}")
    if broker:
        for host, port in brokers:
            report.check(AREA, (host, port) in broker["advertised"],
                         f"{where}: KAFKA_URL broker {host}:{port} is not a listener advertised by {broker['name']}")
        job = broker["topic_job"]
        report.check(AREA, job is None or depends_on(service).get(job) == "service_completed_successfully",
                     f"{where}: must depend on {job} with condition service_completed_successfully")
    prefix = env.get("KAFKA_PREFIX", "")
    report.check(AREA, env_rules.KAFKA_NAME.match(prefix) is not None,
                 f"{where}: KAFKA_PREFIX may hold only letters, digits, '.', '_' and '-'")
    for topic in filter(None, (t.strip() for t in env.get("KAFKA_TOPIC", "").split(","))):
        report.check(AREA, topic in contract.TOPICS, f"{where}: KAFKA_TOPIC names unknown topic {topic}")


def _check_database(where, services, name, env, postgres, spec, report) -> None:
    url = env.get("DATABASE_URL")
    if not report.check(AREA, bool(url), f"{where}: DATABASE_URL is not set"):
        return
    parts = urlsplit(url)
    report.check(AREA, parts.scheme in ("postgres", "postgresql"), f"{where}: DATABASE_URL is not a postgres:// URL")
    report.check(AREA, "sslmode=" in parts.query,
                 f"{where}: DATABASE_URL needs ?sslmode=disable (edm-stats requires TLS unless the URL says otherwise)")
    if postgres:
        report.check(AREA, parts.hostname == postgres["name"] and (parts.port or 5432) == 5432,
                     f"{where}: DATABASE_URL must point at {postgres['name']}:5432")
        report.check(AREA, (parts.username, parts.password, parts.path.lstrip("/"))
                     == (postgres["user"], postgres["password"], postgres["db"]),
                     f"{where}: DATABASE_URL user, password or database differ from the postgres service's")
    migrations = [n for n, s in services.items() if command(s) == [spec.binary, "migrate"]]
    if report.check(AREA, len(migrations) == 1, f"expected one one-shot service running '{spec.binary} migrate'"):
        job = services[migrations[0]]
        report.check(AREA, environment(job).get("DATABASE_URL") == url,
                     f"{migrations[0]}: DATABASE_URL differs from {name}'s")
        report.check(AREA, depends_on(services[name]).get(migrations[0]) == "service_completed_successfully",
                     f"{where}: must depend on {migrations[0]} with condition service_completed_successfully")


def _check_call(where, services, name, env, variable, target, running, report) -> None:
    value = env.get(variable)
    if not report.check(AREA, bool(value), f"{where}: {variable} is not set"):
        return
    try:
        host, port = env_rules.http_url(value)
    except ValueError as e:
        report.fail(AREA, f"{where}: {variable} {e}")
        return
    report.check(AREA, host in ("localhost", "127.0.0.1") and port == target.port,
                 f"{where}: {variable} is read by the browser, so it must be http://localhost:{target.port}")
    target_service = running.get(target.binary)
    if target_service:
        report.check(AREA, depends_on(services[name]).get(target_service) == "service_healthy",
                     f"{where}: must depend on {target_service} with condition service_healthy")


def _check_origins(where, env, origin_of, report) -> None:
    value = env.get("EDM_ALLOWED_ORIGINS")
    if not report.check(AREA, bool(value), f"{where}: EDM_ALLOWED_ORIGINS is not set"):
        return
    try:
        allowed = env_rules.origins(value)
    except ValueError as e:
        report.fail(AREA, f"{where}: EDM_ALLOWED_ORIGINS {e}")
        return
    wanted = f"http://localhost:{origin_of.port}"
    report.check(AREA, wanted in allowed or allowed == ["*"],
                 f"{where}: EDM_ALLOWED_ORIGINS must allow {wanted} ({origin_of.binary})")


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


def _check_consumer_groups(services: dict, running: dict, report: Report) -> None:
    groups = {}
    for spec in contract.SERVICES:
        if spec.consumer_group and spec.binary in running:
            env = environment(services[running[spec.binary]])
            group = env.get("KAFKA_CONSUMER_GROUP") or spec.consumer_group
            report.check(AREA, env_rules.KAFKA_NAME.match(group) is not None,
                         f"{running[spec.binary]}: KAFKA_CONSUMER_GROUP '{group}' is not a valid Kafka name")
            report.check(AREA, group not in groups,
                         f"{running[spec.binary]} and {groups.get(group)} share consumer group {group}; "
                         "each consumer service needs its own")
            groups[group] = running[spec.binary]
