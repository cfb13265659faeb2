"""Heroku build and run files: the Procfile, run for real against stub
binaries (`web` starts each service of topology.json that EDM_SERVICE names,
`release` migrates the topology's database service only where DATABASE_URL
is set); RustConfig and rust-toolchain as the emk/rust buildpack reads them
(each app's build, with its config vars in ENV_DIR, builds only its binary);
and the topic script, against a stub Heroku CLI, creating the topology's
topics and consumer groups."""

import os
import re
import subprocess
import tempfile

from . import workspace
from .report import Report
from .topology import Topology

AREA = "heroku"
STUB = """#!/bin/sh
echo "$(basename "$0") $*" >> "$STUB_LOG"
exit "${STUB_EXIT:-0}"
"""


def procfile(root: str) -> dict[str, str]:
    processes = {}
    with open(os.path.join(root, "Procfile"), encoding="utf-8") as f:
        for line in f:
            match = re.match(r"^([A-Za-z0-9_-]+):\s*(.+)$", line.rstrip("\n"))
            if match:
                processes[match.group(1)] = match.group(2)
    return processes


def _run_logged(argv: list[str], log: str, env: dict[str, str], cwd: str | None = None) -> tuple[int, list[str], str]:
    """Runs argv with stubs that append their calls to `log`; returns (exit
    code, the stubs' calls, output)."""
    if os.path.exists(log):
        os.remove(log)
    done = subprocess.run(argv, cwd=cwd, env={"STUB_LOG": log, **env}, capture_output=True, text=True, timeout=30)
    calls = []
    if os.path.exists(log):
        with open(log, encoding="utf-8") as f:
            calls = [c.strip() for c in f]
    return done.returncode, calls, done.stdout + done.stderr


def _run(shell: str, command: str, slug: str, env: dict[str, str]) -> tuple[int, list[str], str]:
    """Runs a Procfile command in the slug like a dyno would."""
    path = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    return _run_logged([shell, "-c", command], os.path.join(slug, "calls.log"), {**path, **env}, cwd=slug)


def _write_executable(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, 0o755)


def check_procfile(root: str, report: Report, topology: Topology) -> None:
    if not report.check(AREA, os.path.isfile(os.path.join(root, "Procfile")), "Procfile is missing"):
        return
    processes = procfile(root)
    report.check(AREA, "web" in processes, "Procfile has no web process")
    report.check(AREA, "release" in processes, "Procfile has no release process")
    if "web" not in processes or "release" not in processes:
        return
    with tempfile.TemporaryDirectory(prefix="edm-procfile-") as slug:
        _stub_binaries(slug, [s.name for s in topology.services])
        for shell in ("bash", "sh"):
            _check_web(shell, processes["web"], slug, topology, report)
            _check_release(shell, processes["release"], slug, topology, report)


def _stub_binaries(slug: str, names: list[str]) -> None:
    """target/release/NAME for each name: a stub that logs how it was called."""
    bin_dir = os.path.join(slug, "target", "release")
    os.makedirs(bin_dir)
    for name in names:
        _write_executable(os.path.join(bin_dir, name), STUB)


def _check_web(shell: str, web: str, slug: str, topology: Topology, report: Report) -> None:
    for service in topology.services:
        code, calls, out = _run(shell, web, slug, {"EDM_SERVICE": service.name, "PORT": "1234"})
        report.check(AREA, code == 0 and calls == [service.name],
                     f"web ({shell}) with EDM_SERVICE={service.name} ran {calls} (exit {code}): {out.strip()}")
    code, calls, out = _run(shell, web, slug, {})
    report.check(AREA, code != 0 and not calls,
                 f"web ({shell}) without EDM_SERVICE must fail with a message, ran {calls} (exit {code})")


def _check_release(shell: str, release: str, slug: str, topology: Topology, report: Report) -> None:
    code, calls, out = _run(shell, release, slug, {})
    report.check(AREA, code == 0 and not calls,
                 f"release ({shell}) without DATABASE_URL must do nothing and exit 0, ran {calls} (exit {code})")
    database = topology.database_service
    if database is None:
        return
    env = {"EDM_SERVICE": database.name, "DATABASE_URL": "postgres://u:p@db.invalid:5432/d"}
    code, calls, out = _run(shell, release, slug, env)
    report.check(AREA, code == 0 and calls == [f"{database.name} migrate"],
                 f"release ({shell}) with DATABASE_URL must run '{database.name} migrate', ran {calls} (exit {code})")
    code, calls, out = _run(shell, release, slug, {**env, "STUB_EXIT": "3"})
    report.check(AREA, code != 0, f"release ({shell}) must fail (cancel the release) when migrations fail")


def check_build_config(root: str, report: Report, topology: Topology) -> None:
    pinned = workspace.rust_toolchain(root)
    report.check(AREA, pinned is not None and re.fullmatch(r"\d+\.\d+(\.\d+)?|stable|beta|nightly(-[\d-]+)?", pinned),
                 "rust-toolchain must be a plain-text version (emk/rust does not read TOML)")
    report.check(AREA, not os.path.exists(os.path.join(root, "rust-toolchain.toml")),
                 "rust-toolchain.toml exists next to rust-toolchain; keep only the plain-text file")
    report.check(AREA, os.path.isfile(os.path.join(root, "Cargo.lock")), "Cargo.lock is missing (builds use --locked)")
    path = os.path.join(root, "RustConfig")
    if not report.check(AREA, os.path.isfile(path), "RustConfig is missing"):
        return
    values = _source_rust_config(root, report, {})
    if values is None:
        return
    flags = values.get("FLAGS", "").split()
    report.check(AREA, "--release" in flags, "RUST_CARGO_BUILD_FLAGS must contain --release (Procfile runs target/release/)")
    report.check(AREA, "--locked" in flags, "RUST_CARGO_BUILD_FLAGS must contain --locked (builds use Cargo.lock as is)")
    report.check(AREA, not re.search(r"(^|\s)(-p|--package|--bin)\b", values.get("FLAGS", "")),
                 "RustConfig without EDM_SERVICE must build the whole workspace")
    report.check(AREA, values.get("VERSION", "") in ("", pinned),
                 f"RustConfig VERSION={values.get('VERSION')} overrides rust-toolchain ({pinned})")
    report.check(AREA, values.get("TARGET", "") == "", "RustConfig must not set CARGO_TARGET_DIR (the buildpack sets it)")
    report.check(AREA, values.get("BUILD_PATH", "") == "", "RustConfig BUILD_PATH must be empty (the workspace is at the root)")
    report.check(AREA, values.get("SQLX_OFFLINE") == "true",
                 "RustConfig must `export SQLX_OFFLINE=true`: the stats build sees DATABASE_URL of an unmigrated database")
    _check_per_app_builds(root, report, topology)


def _source_rust_config(root: str, report: Report, config_vars: dict[str, str]) -> dict[str, str] | None:
    """RustConfig's settings when bin/compile sources it with `config_vars`
    as the files of its ENV_DIR; None (and a failure) when it fails."""
    with tempfile.TemporaryDirectory(prefix="edm-env-dir-") as env_dir:
        for name, value in config_vars.items():
            with open(os.path.join(env_dir, name), "w", encoding="utf-8") as f:
                f.write(value)
        script = ('set -e; ENV_DIR=$1; . ./RustConfig; printf "VERSION=%s\\nFLAGS=%s\\nTARGET=%s\\nBUILD_PATH=%s\\n" '
                  '"${VERSION:-}" "${RUST_CARGO_BUILD_FLAGS:-}" "${CARGO_TARGET_DIR:-}" "${BUILD_PATH:-}"; env')
        done = subprocess.run(["bash", "-c", script, "rustconfig", env_dir], cwd=root,
                              env={"PATH": os.environ.get("PATH", "")}, capture_output=True, text=True, timeout=30)
    if not report.check(AREA, done.returncode == 0,
                        f"RustConfig fails when sourced by bash with {sorted(config_vars)}: {done.stderr.strip()}"):
        return None
    return dict(line.partition("=")[::2] for line in done.stdout.splitlines() if "=" in line)


def _check_per_app_builds(root: str, report: Report, topology: Topology) -> None:
    """Each app compiles only what it runs (a cold workspace build is several
    times longer, against Heroku's 15-minute compile limit): with the app's
    EDM_SERVICE, the flags select the package that builds that binary; the
    app with the database runs that same binary's `migrate` in its release
    phase."""
    binaries = workspace.binaries(root)
    for spec in topology.services:
        values = _source_rust_config(root, report, {"EDM_SERVICE": spec.name})
        if values is None:
            continue
        flags = values.get("FLAGS", "").split()
        packages = [flags[i + 1] for i, f in enumerate(flags[:-1]) if f in ("-p", "--package")]
        crate = binaries.get(spec.name)
        report.check(AREA, crate is not None and packages == [crate.name],
                     f"the {spec.name} app's build must be `-p {crate.name if crate else spec.name}` "
                     f"(its binary's package alone), not {' '.join(flags)}")

HEROKU_CLI_STUB = """#!/bin/sh
echo "heroku $*" >> "$STUB_LOG"
case "$1" in
  kafka:*) [ -n "$STUB_NO_KAFKA_PLUGIN" ] && { echo " ›   Warning: $1 is not a heroku command." >&2; exit 127; } ;;
esac
case "$*" in *--help*) exit 0 ;; esac
case "$1" in
  config:get) printf '%s\\n' "$STUB_PREFIX" ;;
  kafka:topics:create|kafka:consumer-groups:create)
    [ -n "$STUB_CREATE_ERROR" ] && { echo "$STUB_CREATE_ERROR" >&2; exit 1; } ;;
esac
exit 0
"""


def check_topic_script(root: str, report: Report, topology: Topology) -> None:
    """Runs terraform/scripts/create-kafka-topics.sh against a stub `heroku`,
    as by hand: it must read the names from topology.json (Terraform passes
    the same names in its environment)."""
    script = os.path.join(root, "terraform", "scripts", "create-kafka-topics.sh")
    if not report.check(AREA, os.path.isfile(script), "terraform/scripts/create-kafka-topics.sh is missing"):
        return
    groups = topology.consumer_groups
    topics = set(topology.topics) | {t.name for t in topology.internal_topics}
    compacted = {t.name for t in topology.internal_topics if t.compact}
    with tempfile.TemporaryDirectory(prefix="edm-heroku-cli-") as tmp:
        _write_executable(os.path.join(tmp, "heroku"), HEROKU_CLI_STUB)
        code, calls = _run_topic_script(script, tmp, "wabash-1234.")
        report.check(AREA, code == 0 and "heroku kafka:wait --app edm-test-relay" in calls,
                     f"topic script (basic plan) must wait for the add-on and succeed, exit {code}")
        report.check(AREA, _created(calls, "kafka:topics:create") == topics,
                     f"topic script (basic plan) created topics {sorted(_created(calls, 'kafka:topics:create'))}, "
                     f"expected {sorted(topics)} from topology.json (logical names: Heroku adds KAFKA_PREFIX)")
        report.check(AREA, _created(calls, "kafka:consumer-groups:create") == groups,
                     f"topic script (basic plan) must create the consumer groups {sorted(groups)} of topology.json")
        for internal in topology.internal_topics:
            made = [c for c in calls if c.startswith(f"heroku kafka:topics:create {internal.name} ")]
            report.check(AREA, len(made) == 1 and f"--partitions {internal.partitions} " in made[0] + " ",
                         f"topic script must create {internal.name} with {internal.partitions} partition(s): {made}")
        report.check(AREA, {c.split()[2] for c in calls if c.startswith("heroku kafka:topics:compaction ")
                            and c.split()[3:4] == ["enable"]} == compacted,
                     f"topic script must enable compaction on exactly {sorted(compacted)} (topology.json)")
        code, calls = _run_topic_script(script, tmp, "")
        report.check(AREA, code == 0 and _created(calls, "kafka:topics:create") == topics
                     and not _created(calls, "kafka:consumer-groups:create"),
                     "topic script (dedicated plan) must create the topics and no consumer groups")
        code, _ = _run_topic_script(script, tmp, "wabash-1234.", {"STUB_CREATE_ERROR": "Topic already exists"})
        report.check(AREA, code == 0, "topic script must succeed when the topics already exist (re-runs)")
        code, _ = _run_topic_script(script, tmp, "wabash-1234.", {"STUB_CREATE_ERROR": "Unauthorized"})
        report.check(AREA, code != 0, "topic script must fail when the Heroku CLI refuses to create a topic")
        code, calls = _run_topic_script(script, tmp, "wabash-1234.", {"STUB_NO_KAFKA_PLUGIN": "1"})
        asked = [c for c in calls if "--help" not in c and (c.startswith("heroku kafka:") or "config:get" in c)]
        report.check(AREA, code != 0 and not asked,
                     "topic script must stop before asking anything of the add-on when the CLI has no Kafka plugin")
    _check_cli_check_runs_first(root, report)


def _check_cli_check_runs_first(root: str, report: Report) -> None:
    """Terraform checks the CLI before it creates any app (so before the
    paid add-ons): the apps depend on the check."""
    with open(os.path.join(root, "terraform", "apps.tf"), encoding="utf-8") as f:
        apps = f.read()
    report.check(AREA, re.search(r"depends_on\s*=\s*\[\s*terraform_data\.heroku_cli_check\s*\]", apps) is not None,
                 "terraform/apps.tf: heroku_app.service must depend on terraform_data.heroku_cli_check "
                 "(the CLI and its Kafka plugin are checked before anything is created)")


def _run_topic_script(script: str, stub_dir: str, prefix: str, env: dict | None = None) -> tuple[int, list[str]]:
    """Runs the script for app edm-test-relay, as by hand (no names given)."""
    env = {"PATH": f"{stub_dir}:{os.environ.get('PATH', '')}", "STUB_PREFIX": prefix, **(env or {})}
    code, calls, _ = _run_logged(["bash", script, "edm-test-relay"], os.path.join(stub_dir, "calls.log"), env)
    return code, calls


def _created(calls: list[str], kind: str) -> set[str]:
    return {c.split()[2] for c in calls if c.startswith(f"heroku {kind} ") and "--help" not in c}
