"""Heroku build and run files: the Procfile (run for real against stub
binaries: `web` starts the binary EDM_SERVICE names, `release` migrates only
where DATABASE_URL is set), RustConfig and rust-toolchain as the emk/rust
buildpack reads them, and the topic script against a stub Heroku CLI."""

import os
import re
import subprocess
import tempfile

from . import contract, workspace
from .report import Report

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


def _run(shell: str, command: str, cwd: str, env: dict[str, str]) -> tuple[int, list[str], str]:
    """Runs a Procfile command like a dyno would; returns (exit code, stub calls, output)."""
    log = os.path.join(cwd, "calls.log")
    if os.path.exists(log):
        os.remove(log)
    full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "STUB_LOG": log, **env}
    done = subprocess.run([shell, "-c", command], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=30)
    calls = [c.strip() for c in open(log, encoding="utf-8")] if os.path.exists(log) else []
    return done.returncode, calls, done.stdout + done.stderr


def check_procfile(root: str, report: Report) -> None:
    if not report.check(AREA, os.path.isfile(os.path.join(root, "Procfile")), "Procfile is missing"):
        return
    processes = procfile(root)
    report.check(AREA, "web" in processes, "Procfile has no web process")
    report.check(AREA, "release" in processes, "Procfile has no release process")
    if "web" not in processes or "release" not in processes:
        return
    stats = next(s.binary for s in contract.SERVICES if s.database)
    with tempfile.TemporaryDirectory(prefix="edm-procfile-") as slug:
        bin_dir = os.path.join(slug, "target", "release")
        os.makedirs(bin_dir)
        for binary in contract.BY_BINARY:
            path = os.path.join(bin_dir, binary)
            with open(path, "w", encoding="utf-8") as f:
                f.write(STUB)
            os.chmod(path, 0o755)
        for shell in ("bash", "sh"):
            web, release = processes["web"], processes["release"]
            for binary in contract.BY_BINARY:
                code, calls, out = _run(shell, web, slug, {"EDM_SERVICE": binary, "PORT": "1234"})
                report.check(AREA, code == 0 and calls == [binary],
                             f"web ({shell}) with EDM_SERVICE={binary} ran {calls} (exit {code}): {out.strip()}")
            code, calls, out = _run(shell, web, slug, {})
            report.check(AREA, code != 0 and not calls,
                         f"web ({shell}) without EDM_SERVICE must fail with a message, ran {calls} (exit {code})")
            code, calls, out = _run(shell, release, slug, {"EDM_SERVICE": "edm-ui"})
            report.check(AREA, code == 0 and not calls,
                         f"release ({shell}) without DATABASE_URL must do nothing and exit 0, ran {calls} (exit {code})")
            db = {"EDM_SERVICE": stats, "DATABASE_URL": "postgres://u:p@db.invalid:5432/d"}
            code, calls, out = _run(shell, release, slug, db)
            report.check(AREA, code == 0 and calls == [f"{stats} migrate"],
                         f"release ({shell}) with DATABASE_URL must run '{stats} migrate', ran {calls} (exit {code})")
            code, calls, out = _run(shell, release, slug, {**db, "STUB_EXIT": "3"})
            report.check(AREA, code != 0, f"release ({shell}) must fail (cancel the release) when migrations fail")


def check_build_config(root: str, report: Report) -> None:
    pinned = workspace.rust_toolchain(root)
    report.check(AREA, pinned is not None and re.fullmatch(r"\d+\.\d+(\.\d+)?|stable|beta|nightly(-[\d-]+)?", pinned),
                 "rust-toolchain must be a plain-text version (emk/rust does not read TOML)")
    report.check(AREA, not os.path.exists(os.path.join(root, "rust-toolchain.toml")),
                 "rust-toolchain.toml exists next to rust-toolchain; keep only the plain-text file")
    report.check(AREA, os.path.isfile(os.path.join(root, "Cargo.lock")), "Cargo.lock is missing (builds use --locked)")
    path = os.path.join(root, "RustConfig")
    if not report.check(AREA, os.path.isfile(path), "RustConfig is missing"):
        return
    script = ('set -e; . ./RustConfig; printf "VERSION=%s\\nFLAGS=%s\\nTARGET=%s\\nBUILD_PATH=%s\\n" '
              '"${VERSION:-}" "${RUST_CARGO_BUILD_FLAGS:-}" "${CARGO_TARGET_DIR:-}" "${BUILD_PATH:-}"; env')
    done = subprocess.run(["bash", "-c", script], cwd=root, env={"PATH": os.environ.get("PATH", "")},
                          capture_output=True, text=True, timeout=30)
    if not report.check(AREA, done.returncode == 0, f"RustConfig fails when sourced by bash: {done.stderr.strip()}"):
        return
    values = dict(line.partition("=")[::2] for line in done.stdout.splitlines() if "=" in line)
    flags = values.get("FLAGS", "").split()
    report.check(AREA, "--release" in flags, "RUST_CARGO_BUILD_FLAGS must contain --release (Procfile runs target/release/)")
    report.check(AREA, not re.search(r"(^|\s)(-p|--package|--bin)\b", values.get("FLAGS", "")),
                 "RUST_CARGO_BUILD_FLAGS must build the whole workspace (every app runs a different binary)")
    report.check(AREA, values.get("VERSION", "") in ("", pinned),
                 f"RustConfig VERSION={values.get('VERSION')} overrides rust-toolchain ({pinned})")
    report.check(AREA, values.get("TARGET", "") == "", "RustConfig must not set CARGO_TARGET_DIR (the buildpack sets it)")
    report.check(AREA, values.get("BUILD_PATH", "") == "", "RustConfig BUILD_PATH must be empty (the workspace is at the root)")
    report.check(AREA, values.get("SQLX_OFFLINE") == "true",
                 "RustConfig must `export SQLX_OFFLINE=true`: the stats build sees DATABASE_URL of an unmigrated database")


def check_topic_script(root: str, report: Report, script_env: dict[str, str]) -> None:
    """Runs terraform/scripts/create-kafka-topics.sh against a stub `heroku`."""
    script = os.path.join(root, "terraform", "scripts", "create-kafka-topics.sh")
    if not report.check(AREA, os.path.isfile(script), "terraform/scripts/create-kafka-topics.sh is missing"):
        return
    with tempfile.TemporaryDirectory(prefix="edm-heroku-cli-") as tmp:
        heroku = os.path.join(tmp, "heroku")
        with open(heroku, "w", encoding="utf-8") as f:
            f.write("""#!/bin/sh
echo "heroku $*" >> "$STUB_LOG"
case "$1" in
  config:get) printf '%s\\n' "$STUB_PREFIX" ;;
  kafka:topics:create|kafka:consumer-groups:create)
    [ -n "$STUB_CREATE_ERROR" ] && { echo "$STUB_CREATE_ERROR" >&2; exit 1; } ;;
esac
exit 0
""")
        os.chmod(heroku, 0o755)
        log = os.path.join(tmp, "calls.log")

        def run(prefix: str, error: str = "") -> tuple[int, list[str]]:
            if os.path.exists(log):
                os.remove(log)
            env = {"PATH": f"{tmp}:{os.environ.get('PATH', '')}", "STUB_LOG": log,
                   "STUB_PREFIX": prefix, "STUB_CREATE_ERROR": error, **script_env}
            done = subprocess.run(["bash", script, "edm-test-relay"], env=env, capture_output=True, text=True, timeout=30)
            return done.returncode, (open(log).read().splitlines() if os.path.exists(log) else [])

        def created(calls: list[str], kind: str) -> set[str]:
            return {c.split()[2] for c in calls if c.startswith(f"heroku {kind} ")}

        code, calls = run("wabash-1234.")
        report.check(AREA, code == 0 and "heroku kafka:wait --app edm-test-relay" in calls,
                     f"topic script (basic plan) must wait for the add-on and succeed, exit {code}")
        report.check(AREA, created(calls, "kafka:topics:create") == set(contract.TOPICS),
                     f"topic script (basic plan) created topics {sorted(created(calls, 'kafka:topics:create'))}, "
                     f"expected {list(contract.TOPICS)} (logical names: Heroku adds KAFKA_PREFIX)")
        report.check(AREA, created(calls, "kafka:consumer-groups:create") == set(contract.CONSUMER_GROUPS),
                     f"topic script (basic plan) must create consumer groups {list(contract.CONSUMER_GROUPS)}")
        code, calls = run("")
        report.check(AREA, code == 0 and created(calls, "kafka:topics:create") == set(contract.TOPICS)
                     and not created(calls, "kafka:consumer-groups:create"),
                     "topic script (dedicated plan) must create the topics and no consumer groups")
        code, _ = run("wabash-1234.", "Topic edm-ui-click already exists")
        report.check(AREA, code == 0, "topic script must succeed when the topics already exist (re-runs)")
        code, _ = run("wabash-1234.", "Unauthorized")
        report.check(AREA, code != 0, "topic script must fail when the Heroku CLI refuses to create a topic")
