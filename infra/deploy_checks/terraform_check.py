"""terraform/: `terraform fmt -check`, then the HCL parsed (no providers
needed) and checked against the contract: the Heroku provider 5.x, one app
per service running its binary, Kafka on one app and attached to the other
Kafka services, Postgres on stats, a build and a formation per app, the
browser-facing URLs and origins wired from the apps' real web_url, topics
made by the CLI script, outputs, and every var./local. reference declared."""

import glob
import os
import re
import shutil
import subprocess

import hcl2
from hcl2.utils import SerializationOptions

from . import contract
from .report import Report

AREA = "terraform"
OPTIONS = SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)
REQUIRED_VARIABLES = ("name_prefix", "region", "dyno_size", "dyno_quantity", "source_url",
                      "source_checksum", "kafka_plan", "postgres_plan")
EACH = object()  # an app_id that follows for_each


class Module:
    """The blocks of every .tf file in one folder."""

    def __init__(self) -> None:
        self.variables: dict[str, dict] = {}
        self.locals: dict[str, object] = {}
        self.resources: dict[tuple[str, str], dict] = {}
        self.outputs: dict[str, dict] = {}
        self.terraform: list[dict] = []

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


def keys_of(module: Module, name: str, body: dict) -> set:
    """The for_each keys of a resource, or its own name when it has none."""
    for_each = body.get("for_each")
    if for_each is None:
        return {name}
    match = re.fullmatch(r"\$\{(?:toset\()?local\.(\w+)\)?\}", str(for_each))
    value = module.locals.get(match.group(1)) if match else None
    if isinstance(value, dict):
        return set(value)
    if isinstance(value, list):
        return set(value)
    return set()


def app_key(module: Module, expr: str) -> object:
    """Which app an app_id expression names: a key, EACH, or None."""
    match = re.search(r"heroku_app\.(\w+)(?:\[([^\]]+)\])?\.id", str(expr))
    if not match:
        return None
    index = match.group(2)
    if index is None:
        return match.group(1)
    if index == "each.key":
        return EACH
    if index.startswith('"'):
        return index.strip('"')
    return module.value(f"${{{index}}}")


def url_target(module: Module, expr: str) -> tuple[object, bool]:
    """(app key whose web_url the expression uses, whether it strips the trailing slash)."""
    expr = str(expr)
    match = re.search(r'local\.(\w+)\["(\w+)"\]', expr)
    if match and "web_url" in str(module.locals.get(match.group(1), "")):
        definition = str(module.locals[match.group(1)])
        return match.group(2), "trimsuffix" in definition and '"/"' in definition
    match = re.search(r'heroku_app\.(\w+)(?:\["(\w+)"\])?\.web_url', expr)
    if match:
        return match.group(2) or match.group(1), "trimsuffix" in expr
    return None, False


def check(root: str, report: Report) -> dict[str, str]:
    """Returns the environment Terraform gives the topic script (literal values)."""
    directory = os.path.join(root, "terraform")
    if not report.check(AREA, os.path.isdir(directory), "terraform/ is missing"):
        return {}
    fmt(directory, report)
    module = load(directory, report)
    if module is None:
        return {}
    _check_references(root, module, report)
    _check_provider(module, report)
    binary_key = _check_apps(module, report)
    if binary_key is None:
        return {}
    key = {b: binary_key[b] for b in binary_key}
    _check_addons(module, key, report)
    _check_wiring(module, key, report)
    script_env = _check_topics(module, report)
    _check_builds(module, key, report)
    _check_outputs(module, key, report)
    return script_env


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


def _check_apps(module: Module, report: Report) -> dict[str, str] | None:
    binary_key = {}
    for name, body in module.of_type("heroku_app").items():
        services = module.value(body.get("for_each")) if body.get("for_each") else None
        for key in keys_of(module, name, body):
            edm_service = (body.get("config_vars") or {}).get("EDM_SERVICE")
            binary = services.get(key) if edm_service == "${each.value}" and isinstance(services, dict) \
                else module.value(edm_service)
            if report.check(AREA, isinstance(binary, str), f"heroku_app.{name}[{key}] does not set EDM_SERVICE"):
                binary_key[binary] = key
        buildpacks = [module.value(b) for b in body.get("buildpacks", [])]
        report.check(AREA, "emk/rust" in buildpacks, f"heroku_app.{name} must use the emk/rust buildpack")
    for spec in contract.SERVICES:
        report.check(AREA, spec.binary in binary_key, f"no heroku_app runs {spec.binary} (EDM_SERVICE)")
    return binary_key if all(s.binary in binary_key for s in contract.SERVICES) else None


def _covered(module: Module, rtype: str) -> dict[str, tuple[str, dict]]:
    """App key => (resource name, body) for every resource of a type."""
    found = {}
    for name, body in module.of_type(rtype).items():
        for key in keys_of(module, name, body):
            target = app_key(module, body.get("app_id", ""))
            found[key if target is EACH else target] = (name, body)
    return found


def _check_addons(module: Module, key: dict[str, str], report: Report) -> None:
    addons = module.of_type("heroku_addon")
    plans = {name: str(module.value(body.get("plan"))) for name, body in addons.items()}
    kafka = [n for n, p in plans.items() if p.startswith("heroku-kafka:")]
    postgres = [n for n, p in plans.items() if p.startswith("heroku-postgresql:")]
    if report.check(AREA, len(kafka) == 1, f"expected one heroku-kafka add-on, found {kafka}"):
        host = app_key(module, addons[kafka[0]].get("app_id", ""))
        attached = set()
        for name, body in module.of_type("heroku_addon_attachment").items():
            if f"heroku_addon.{kafka[0]}." in str(body.get("addon_id")):
                attached |= set(_keys_for(module, name, body))
                report.check(AREA, module.value(body.get("name", "KAFKA")) == "KAFKA",
                             f"heroku_addon_attachment.{name} must be named KAFKA (for KAFKA_URL and friends)")
        for spec in contract.SERVICES:
            if spec.kafka:
                report.check(AREA, key[spec.binary] in attached | {host},
                             f"{spec.binary} neither has the Kafka add-on nor an attachment of it")
    if report.check(AREA, len(postgres) == 1, f"expected one heroku-postgresql add-on, found {postgres}"):
        host = app_key(module, addons[postgres[0]].get("app_id", ""))
        stats = next(s for s in contract.SERVICES if s.database)
        report.check(AREA, host == key[stats.binary], f"Postgres must be on the {stats.binary} app, is on {host}")


def _keys_for(module: Module, name: str, body: dict) -> list:
    target = app_key(module, body.get("app_id", ""))
    return list(keys_of(module, name, body)) if target is EACH else [target]


def _config_vars(module: Module, app: str) -> dict[str, str]:
    merged = {}
    for rtype, attributes in (("heroku_app", ("config_vars", "sensitive_config_vars")),
                              ("heroku_app_config_association", ("vars", "sensitive_vars"))):
        entry = _covered(module, rtype).get(app) if rtype != "heroku_app" else None
        if rtype == "heroku_app":
            for name, body in module.of_type(rtype).items():
                if app in keys_of(module, name, body):
                    entry = (name, body)
        if not entry:
            continue
        for attribute in attributes:
            value = entry[1].get(attribute)
            match = re.fullmatch(r"\$\{local\.(\w+)\[each\.key\]\}", str(value))
            if match:
                value = (module.locals.get(match.group(1)) or {}).get(app)
            elif isinstance(value, str):
                value = module.value(value)
            if isinstance(value, dict):
                merged.update(value)
    return merged


def _check_wiring(module: Module, key: dict[str, str], report: Report) -> None:
    for spec in contract.SERVICES:
        variables = _config_vars(module, key[spec.binary])
        wanted = dict(spec.calls)
        if spec.allows_origin_of:
            wanted["EDM_ALLOWED_ORIGINS"] = spec.allows_origin_of
        for variable, target in wanted.items():
            value = variables.get(variable)
            if not report.check(AREA, value is not None, f"{spec.binary}: config var {variable} is not set"):
                continue
            app, strips = url_target(module, value)
            report.check(AREA, app == key[target],
                         f"{spec.binary}: {variable} must come from the {target} app's web_url, not {value}")
            report.check(AREA, strips, f"{spec.binary}: {variable} must drop web_url's trailing slash (trimsuffix)")


def _check_topics(module: Module, report: Report) -> dict[str, str]:
    runners = []
    for (rtype, name), body in module.resources.items():
        for provisioner in body.get("provisioner", []):
            local_exec = provisioner.get("local-exec")
            if local_exec and "scripts/create-kafka-topics.sh" in str(local_exec.get("command")):
                runners.append((rtype, name, body, local_exec))
    if not report.check(AREA, len(runners) == 1,
                        "expected one resource whose local-exec runs scripts/create-kafka-topics.sh"):
        return {}
    rtype, name, body, local_exec = runners[0]
    report.check(AREA, "heroku_addon." in str(body.get("triggers_replace", "")) + str(body.get("triggers", ""))
                 + str(body.get("depends_on", "")), f"{rtype}.{name} must follow the Kafka add-on (triggers)")
    env = {k: v for k, v in (local_exec.get("environment") or {}).items() if isinstance(v, str) and "${" not in v}
    return env


def _check_builds(module: Module, key: dict[str, str], report: Report) -> None:
    builds, formations = _covered(module, "heroku_build"), _covered(module, "heroku_formation")
    topics = [f"{t}.{n}" for (t, n), b in module.resources.items() if "provisioner" in b]
    for spec in contract.SERVICES:
        app = key[spec.binary]
        if report.check(AREA, app in builds, f"{spec.binary}: no heroku_build"):
            name, body = builds[app]
            source = (body.get("source") or [{}])[0]
            report.check(AREA, "${var." in str(source.get("url")), f"heroku_build.{name}: source url must come from a variable")
            report.check(AREA, "checksum" in source, f"heroku_build.{name}: source has no checksum attribute")
            depends = " ".join(map(str, body.get("depends_on", [])))
            report.check(AREA, all(t in depends for t in topics),
                         f"heroku_build.{name} must depend on the topic creation ({topics})")
            if spec.database:
                report.check(AREA, "heroku_addon." in depends, f"heroku_build.{name} must wait for the Postgres add-on")
        if report.check(AREA, app in formations, f"{spec.binary}: no heroku_formation"):
            name, body = formations[app]
            report.check(AREA, module.value(body.get("type")) == "web", f"heroku_formation.{name}: type must be web")
            report.check(AREA, "heroku_build." in " ".join(map(str, body.get("depends_on", []))),
                         f"heroku_formation.{name} must depend on the build (depends_on)")
            for attribute in ("size", "quantity"):
                report.check(AREA, "var." in str(body.get(attribute)) or "local." in str(body.get(attribute)),
                             f"heroku_formation.{name}: {attribute} must come from a variable")


def _check_outputs(module: Module, key: dict[str, str], report: Report) -> None:
    for output, binary in (("store_url", "edm-ui"), ("dashboard_url", "edm-dashboard")):
        value = str(module.outputs.get(output, {}).get("value", ""))
        app, _ = url_target(module, value)
        report.check(AREA, app == key[binary], f"output {output} must be the {binary} app's web_url")
