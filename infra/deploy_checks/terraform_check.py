"""terraform/: `terraform fmt -check`, then the HCL parsed (no providers
needed) and checked: every var./local./resource reference declared, the
Heroku provider 5.x, and the apps, add-ons, config vars and topics all taken
from topology.json: one local decodes it, the apps iterate over its services,
and no resource or local restates one of its names, keys, topics or consumer
groups. Beyond that, what breaks a deploy: origins and URLs from the apps'
real web_url without its trailing slash, the Kafka add-on attached as KAFKA,
a build and a web formation for every app, each after what it needs, and
the topic script run once the Kafka add-on exists."""

import glob
import os
import re
import shutil
import subprocess

import hcl2
from hcl2.utils import SerializationOptions

from .report import Report
from .topology import Topology

AREA = "terraform"
PINNED_RUST_BUILDPACK = re.compile(r"https://github\.com/emk/heroku-buildpack-rust\.git#[0-9a-f]{40}")
OPTIONS = SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)
REQUIRED_VARIABLES = ("name_prefix", "region", "dyno_size", "dyno_quantity", "source_url",
                      "source_checksum", "kafka_plan", "postgres_plan")
TOPOLOGY_READ = re.compile(r'\$\{jsondecode\(file\("\$\{path\.module\}/([^"]+)"\)\)\}')
PROSE = ("description", "error_message")  # attributes whose text is for people
PER_APP = ("heroku_build", "heroku_formation", "heroku_app_config_association")


class Module:
    """The blocks of every .tf file in one folder."""

    def __init__(self) -> None:
        self.variables: dict[str, dict] = {}
        self.locals: dict[str, object] = {}
        self.resources: dict[tuple[str, str], dict] = {}
        self.outputs: dict[str, dict] = {}
        self.terraform: list[dict] = []
        self.providers: list[dict] = []

    def add(self, doc: dict) -> None:
        for block in doc.get("variable", []):
            self.variables.update(block)
        for block in doc.get("locals", []):
            self.locals.update(block)
        for block in doc.get("resource", []):
            for rtype, named in block.items():
                for rname, body in named.items():
                    self.resources[(rtype, rname)] = body
        for block in doc.get("output", []):
            self.outputs.update(block)
        self.terraform += doc.get("terraform", [])
        self.providers += doc.get("provider", [])

    def of_type(self, rtype: str) -> dict[str, dict]:
        return {name: body for (t, name), body in self.resources.items() if t == rtype}

    def value(self, expr: object) -> object:
        """A literal, a var.X default or a local.X value; None if not static."""
        if not isinstance(expr, str):
            return expr
        match = re.fullmatch(r"\$\{(var|local)\.(\w+)\}", expr)
        if match and match.group(1) == "var":
            return self.variables.get(match.group(2), {}).get("default")
        if match:
            return self.locals.get(match.group(2))
        return None if "${" in expr else expr


def strings(value: object):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


def expressions(module: Module):
    everything = [module.variables, module.locals, module.resources.values(), module.outputs, module.terraform]
    return [s for s in strings([list(x) if not isinstance(x, dict) else x for x in everything]) if "${" in s]


def load(directory: str, report: Report) -> Module | None:
    module, ok = Module(), True
    for path in sorted(glob.glob(os.path.join(directory, "*.tf"))):
        try:
            with open(path, encoding="utf-8") as f:
                module.add(hcl2.load(f, serialization_options=OPTIONS))
        except Exception as e:  # the parser raises several lark error types
            report.fail(AREA, f"{os.path.basename(path)} does not parse: {str(e).splitlines()[0]}")
            ok = False
    return module if ok else None


def fmt(directory: str, report: Report) -> None:
    terraform = shutil.which("terraform")
    if terraform is None:
        report.warn(AREA, "terraform is not installed: `terraform fmt -check` skipped")
        return
    env = {**os.environ, "CHECKPOINT_DISABLE": "1", "TF_CLI_CONFIG_FILE": os.devnull, "TF_IN_AUTOMATION": "1"}
    done = subprocess.run([terraform, "fmt", "-check", "-recursive", "-diff", directory],
                          env=env, capture_output=True, text=True, timeout=60)
    report.check(AREA, done.returncode == 0,
                 f"`terraform fmt -check -recursive terraform/` failed (run terraform fmt -recursive terraform/):\n"
                 f"{done.stdout}{done.stderr}")


def check(root: str, report: Report, topology: Topology) -> None:
    directory = os.path.join(root, "terraform")
    if not report.check(AREA, os.path.isdir(directory), "terraform/ is missing"):
        return
    fmt(directory, report)
    module = load(directory, report)
    if module is None:
        return
    _check_references(root, module, report)
    _check_provider(module, report)
    topology_local = _check_reads_topology(root, module, report)
    if topology_local is None:
        return
    _check_not_restated(module, topology, topology_local, report)
    _check_apps(module, topology_local, report)
    _check_addons(module, report)
    _check_origins(module, report)
    runner = _check_topic_runner(module, report)
    _check_builds(module, runner, report)


def _check_references(root: str, module: Module, report: Report) -> None:
    exprs = expressions(module)
    used_vars = {v for e in exprs for v in re.findall(r"\bvar\.([A-Za-z_][\w-]*)", e)}
    used_locals = {v for e in exprs for v in re.findall(r"\blocal\.([A-Za-z_][\w-]*)", e)}
    for name in sorted(used_vars - set(module.variables)):
        report.fail(AREA, f"var.{name} is used but no variable \"{name}\" is declared")
    for name in sorted(set(module.variables) - used_vars):
        report.fail(AREA, f"variable \"{name}\" is declared but never used")
    for name in sorted(used_locals - set(module.locals)):
        report.fail(AREA, f"local.{name} is used but not declared in a locals block")
    for rtype, rname in sorted({m for e in exprs for m in
                                re.findall(r"\b(heroku_\w+|terraform_data|null_resource)\.([A-Za-z_]\w*)", e)}):
        report.check(AREA, (rtype, rname) in module.resources, f"{rtype}.{rname} is referenced but not declared")
    for name in REQUIRED_VARIABLES:
        report.check(AREA, name in module.variables, f"variable \"{name}\" is missing")
    report.check(AREA, module.variables.get("postgres_plan", {}).get("default") == "heroku-postgresql:essential-0",
                 "variable postgres_plan must default to heroku-postgresql:essential-0")
    report.check(AREA, not any("herokuapp.com" in s for s in strings([module.resources, module.locals, module.outputs])),
                 "an expression builds a herokuapp.com host name; use heroku_app.<x>.web_url (names carry a random suffix)")
    example = os.path.join(root, "terraform", "terraform.tfvars.example")
    if os.path.isfile(example):
        with open(example, encoding="utf-8") as f:
            names = re.findall(r"^(?:# )?([a-z_][a-z0-9_]*)\s*=", f.read(), re.M)
        for name in names:
            report.check(AREA, name in module.variables, f"terraform.tfvars.example sets unknown variable {name}")


def _check_provider(module: Module, report: Report) -> None:
    heroku = {}
    for block in module.terraform:
        for providers in block.get("required_providers", []):
            heroku = providers.get("heroku", heroku)
    report.check(AREA, heroku.get("source") == "heroku/heroku",
                 "required_providers must declare heroku with source = \"heroku/heroku\"")
    version = str(heroku.get("version", ""))
    report.check(AREA, re.fullmatch(r"~>\s*5(\.\d+)*|>=\s*5[\d.]*\s*,\s*<\s*6(\.0)*", version) is not None,
                 f"the heroku provider must be pinned to major version 5, found '{version}'")
    # A dedicated Kafka plan can take longer to provision than the
    # provider's default 20 minutes; the apply would fail with paid add-ons
    # half made.
    timeouts = [t for block in module.providers for t in block.get("heroku", {}).get("timeouts", [])]
    report.check(AREA, any("addon_create_timeout" in t for t in timeouts),
                 "provider \"heroku\" must set timeouts { addon_create_timeout } (dedicated Kafka plans "
                 "take longer than the default 20 minutes to provision)")


def _check_reads_topology(root: str, module: Module, report: Report) -> str | None:
    """The name of the local that decodes topology.json."""
    readers = {name: m.group(1) for name, value in module.locals.items()
               if (m := TOPOLOGY_READ.fullmatch(str(value)))}
    if not report.check(AREA, len(readers) == 1,
                        'expected one local = jsondecode(file("${path.module}/../topology.json")), '
                        f"found {sorted(readers)}"):
        return None
    name, path = next(iter(readers.items()))
    wanted = os.path.normpath(os.path.join(root, "topology.json"))
    report.check(AREA, os.path.normpath(os.path.join(root, "terraform", path)) == wanted,
                 f"local.{name} reads terraform/{path}, which is not the repository's topology.json")
    return name


def _places(module: Module):
    """(where, value) of every variable, local, resource and output."""
    yield from ((f"variable {n}", v) for n, v in module.variables.items())
    yield from ((f"local.{n}", v) for n, v in module.locals.items())
    yield from ((f"{t}.{n}", v) for (t, n), v in module.resources.items())
    yield from ((f"output {n}", v) for n, v in module.outputs.items())


def _literal_words(value: object):
    """Words of the string literals in a value, prose attributes left out."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key not in PROSE:
                yield from _literal_words(item)
    elif isinstance(value, list):
        for item in value:
            yield from _literal_words(item)
    elif isinstance(value, str):
        for literal in re.findall(r'"([^"]*)"', value) if "${" in value else [value]:
            yield from filter(None, re.split(r"[\s,]+", literal))


def _check_not_restated(module: Module, topology: Topology, topology_local: str, report: Report) -> None:
    """Names, topics and groups come from the topology; outputs alone may
    name an app by its key (the store, the dashboard), and only a real one."""
    names = {s.name for s in topology.services} | set(topology.topics) | topology.consumer_groups
    keys = {s.key for s in topology.services}
    restated = sorted({f"{word} in {where}" for where, value in _places(module) for word in _literal_words(value)
                       if word in names or (word in keys and not where.startswith("output "))})
    report.check(AREA, not restated, f"restates topology.json instead of reading local.{topology_local}: "
                                     f"{', '.join(restated)}")
    for name, body in module.outputs.items():
        for key in re.findall(r'heroku_app\.\w+\["([^"]+)"\]', str(body.get("value"))):
            report.check(AREA, key in keys, f"output {name}: no service has the key {key} in topology.json")


def _check_apps(module: Module, topology_local: str, report: Report) -> None:
    apps = module.of_type("heroku_app")
    if not report.check(AREA, len(apps) == 1, f"expected one heroku_app resource (one app per service), found {len(apps)}"):
        return
    name, body = next(iter(apps.items()))
    for_each = str(body.get("for_each"))
    match = re.fullmatch(r"\$\{local\.(\w+)\}", for_each)
    report.check(AREA, match is not None and f"local.{topology_local}.services" in str(module.locals.get(match.group(1))),
                 f"heroku_app.{name}: for_each must be a local built from local.{topology_local}.services")
    report.check(AREA, not body.get("config_vars"),
                 f"heroku_app.{name}: config vars belong in heroku_app_config_association alone (one place)")
    report.check(AREA, re.search(r"EDM_SERVICE\s*=\s*name\b", str(module.locals.get("service_config", ""))) is not None,
                 "local.service_config (the apps' config vars) must set EDM_SERVICE = name, the binary each app "
                 "builds and runs")
    buildpacks = [module.value(b) for b in body.get("buildpacks", [])]
    report.check(AREA, any(PINNED_RUST_BUILDPACK.fullmatch(str(b)) for b in buildpacks),
                 f"heroku_app.{name} must use the emk/rust buildpack pinned to a commit "
                 "(https://github.com/emk/heroku-buildpack-rust.git#<40-hex commit>): RustConfig relies on its bin/compile")
    for rtype in PER_APP:
        report.check(AREA, any(str(b.get("for_each")) == for_each for b in module.of_type(rtype).values()),
                     f"every app needs a {rtype}: expected one with the for_each of heroku_app.{name}")


def _check_addons(module: Module, report: Report) -> None:
    plans = {name: str(module.value(body.get("plan"))) for name, body in module.of_type("heroku_addon").items()}
    kafka = [n for n, p in plans.items() if p.startswith("heroku-kafka:")]
    postgres = [n for n, p in plans.items() if p.startswith("heroku-postgresql:")]
    report.check(AREA, len(postgres) == 1, f"expected one heroku-postgresql add-on, found {postgres}")
    if not report.check(AREA, len(kafka) == 1, f"expected one heroku-kafka add-on, found {kafka}"):
        return
    attachments = {n: b for n, b in module.of_type("heroku_addon_attachment").items()
                   if f"heroku_addon.{kafka[0]}." in str(b.get("addon_id"))}
    report.check(AREA, bool(attachments), f"heroku_addon.{kafka[0]} is attached to no other app")
    for name, body in attachments.items():
        report.check(AREA, module.value(body.get("name", "KAFKA")) == "KAFKA",
                     f"heroku_addon_attachment.{name} must be named KAFKA (for KAFKA_URL and friends)")


def _check_origins(module: Module, report: Report) -> None:
    for where, value in _places(module):
        if not where.startswith("output "):
            for expr in strings(value):
                report.check(AREA, ".web_url" not in expr or "trimsuffix(" in expr,
                             f"{where}: web_url ends with '/'; origins and URLs must drop it (trimsuffix)")


def _check_topic_runner(module: Module, report: Report) -> str | None:
    runners = [(rtype, name, body) for (rtype, name), body in module.resources.items()
               for provisioner in body.get("provisioner", [])
               if "scripts/create-kafka-topics.sh" in str((provisioner.get("local-exec") or {}).get("command"))]
    if not report.check(AREA, len(runners) == 1,
                        "expected one resource whose local-exec runs scripts/create-kafka-topics.sh"):
        return None
    rtype, name, body = runners[0]
    report.check(AREA, "heroku_addon." in str(body.get("triggers_replace", "")) + str(body.get("triggers", "")),
                 f"{rtype}.{name} must follow the Kafka add-on (triggers_replace)")
    return f"{rtype}.{name}"


def _check_builds(module: Module, topic_runner: str | None, report: Report) -> None:
    for name, body in module.of_type("heroku_build").items():
        source = (body.get("source") or [{}])[0]
        report.check(AREA, "${var." in str(source.get("url")), f"heroku_build.{name}: source url must come from a variable")
        report.check(AREA, "checksum" in source, f"heroku_build.{name}: source has no checksum attribute")
        depends = " ".join(map(str, body.get("depends_on", [])))
        report.check(AREA, topic_runner is None or topic_runner in depends,
                     f"heroku_build.{name} must depend on the topic creation ({topic_runner})")
        report.check(AREA, "heroku_addon." in depends, f"heroku_build.{name} must wait for the add-ons (Postgres)")
    for name, body in module.of_type("heroku_formation").items():
        report.check(AREA, module.value(body.get("type")) == "web", f"heroku_formation.{name}: type must be web")
        report.check(AREA, "heroku_build." in " ".join(map(str, body.get("depends_on", []))),
                     f"heroku_formation.{name} must depend on the build (depends_on)")
        for attribute in ("size", "quantity"):
            report.check(AREA, "var." in str(body.get(attribute)) or "local." in str(body.get(attribute)),
                         f"heroku_formation.{name}: {attribute} must come from a variable")
