"""Proves the deploy checks fail loudly: copies the repository's deployment
files to a temporary folder, breaks one thing at a time, and expects the
checks to exit non-zero naming the problem. `./edm deploy-checks --self-test`."""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

# (what is broken, file, text to replace (None: create the file), replacement, expected message)
MUTATIONS = [
    ("compose YAML syntax", "docker-compose.yml", "name: edm", "name: [edm", "not valid YAML"),
    ("compose schema: unknown key", "docker-compose.yml", "  restart: unless-stopped", "  restrat: unless-stopped",
     "schema: at services"),
    ("compose schema: bad depends_on condition", "docker-compose.yml",
     "condition: service_healthy", "condition: service_ready", "schema: at services"),
    ("compose: topic auto-creation on", "docker-compose.yml", 'KAFKA_AUTO_CREATE_TOPICS_ENABLE: "false"',
     'KAFKA_AUTO_CREATE_TOPICS_ENABLE: "true"', "KAFKA_AUTO_CREATE_TOPICS_ENABLE"),
    ("compose: KAFKA_URL misspelt", "docker-compose.yml", "  KAFKA_URL: kafka://kafka:9092",
     "  KAFKA_ULR: kafka://kafka:9092", "KAFKA_URL is not set"),
    ("compose: KAFKA_URL wrong port", "docker-compose.yml", "KAFKA_URL: kafka://kafka:9092",
     "KAFKA_URL: kafka://kafka:9093", "is not a listener advertised"),
    ("compose: DATABASE_URL without sslmode", "docker-compose.yml",
     "      DATABASE_URL: postgres://edm:edm@postgres:5432/edm?sslmode=disable\n      EDM_ALLOWED",
     "      DATABASE_URL: postgres://edm:edm@postgres:5432/edm\n      EDM_ALLOWED", "sslmode"),
    ("compose: consumers share a group", "docker-compose.yml", "KAFKA_CONSUMER_GROUP: edm-consumer-group-1",
     "KAFKA_CONSUMER_GROUP: edm-consumer-group-2", "share consumer group"),
    ("compose: relay URL not reachable from the browser", "docker-compose.yml",
     "EDM_RELAY_URL: http://localhost:5000", "EDM_RELAY_URL: http://relay:5000", "read by the browser"),
    ("compose: origin missing", "docker-compose.yml",
     "EDM_ALLOWED_ORIGINS: http://localhost:3000,http://127.0.0.1:3000",
     "EDM_ALLOWED_ORIGINS: http://localhost:3001", "must allow http://localhost:3000"),
    ("compose: health check on /health", "docker-compose.yml",
     "http://127.0.0.1:5000/ready", "http://127.0.0.1:5000/health", "healthcheck must probe"),
    ("compose: start without waiting", "docker-compose.yml",
     "      stats-migrate:\n        condition: service_completed_successfully",
     "      stats-migrate:\n        condition: service_started", "stats-migrate with condition"),
    ("Dockerfile: COPY of a missing folder", "Dockerfile", "COPY migrations migrations\nENV",
     "COPY migration migrations\nENV", "COPY migration: no such file"),
    ("Dockerfile: no cmake", "Dockerfile", "install -y --no-install-recommends cmake ",
     "install -y --no-install-recommends ", "does not install cmake"),
    ("Dockerfile: binary not copied", "Dockerfile", "     /app/target/release/edm-stats \\\n", "",
     "does not COPY edm-stats"),
    ("Dockerfile: no dependency layer", "Dockerfile",
     "RUN cargo chef cook --release --locked --recipe-path recipe.json\n", "", "cargo chef cook"),
    ("Dockerfile: toolchain drift", "Dockerfile", "ARG RUST_VERSION=1.", "ARG RUST_VERSION=0.", "rust-toolchain"),
    (".dockerignore hides migrations", ".dockerignore", "target\n", "target\nmigrations\n",
     "excluded from the build context"),
    ("workspace: a new binary crate nobody deploys", "Cargo.toml", "members = [",
     'members = [\n    "crates/edm-newconsumer",', "edm-newconsumer is not run"),
    ("build reads a file outside the copied folders", "crates/edm-config/src/zz_selftest.rs", None,
     'const DOC: &str = include_str!("../../../docs/deploy.md");\n', "does not COPY docs/deploy.md"),
    ("sqlx checked query without offline data", "crates/edm-config/src/zz_selftest.rs", None,
     'fn q() { let _ = sqlx::query!("select 1"); }\n', ".sqlx"),
    ("Procfile without release", "Procfile", "release:", "relase:", "no release process"),
    ("Procfile release migrates everywhere", "Procfile", 'if [ -n "${DATABASE_URL:-}" ]', "if true",
     "without DATABASE_URL must do nothing"),
    ("Procfile web ignores EDM_SERVICE", "Procfile", "web: exec ./target/release/${EDM_SERVICE",
     "web: exec ./target/release/edm-relay #${EDM_SERVICE", "with EDM_SERVICE=edm-stream"),
    ("RustConfig without SQLX_OFFLINE", "RustConfig", "export SQLX_OFFLINE=true", "", "SQLX_OFFLINE"),
    ("RustConfig builds one package", "RustConfig", '"--release --locked"', '"--release -p edm-relay"',
     "whole workspace"),
    ("terraform HCL syntax", "terraform/apps.tf", "locals {", "locals {{", "does not parse"),
    ("terraform fmt", "terraform/addons.tf", "  plan   = var.kafka_plan", "  plan = var.kafka_plan",
     "terraform fmt"),
    ("terraform undeclared variable", "terraform/apps.tf", "region     = var.region", "region     = var.regoin",
     "var.regoin is used"),
    ("terraform wrong origin", "terraform/config.tf",
     'relay = {\n      EDM_ALLOWED_ORIGINS = local.origin["ui"]',
     'relay = {\n      EDM_ALLOWED_ORIGINS = local.origin["dashboard"]', "must come from the edm-ui app"),
    ("terraform hand-built host name", "terraform/config.tf", 'EDM_RELAY_URL = local.origin["relay"]',
     'EDM_RELAY_URL = "https://${var.name_prefix}-relay.herokuapp.com"', "herokuapp.com"),
    ("terraform formation before build", "terraform/builds.tf", "  depends_on = [heroku_build.service]\n", "",
     "must depend on the build"),
    ("terraform Postgres on the wrong app", "terraform/addons.tf", 'heroku_app.service["stats"].id',
     'heroku_app.service["ui"].id', "Postgres must be on"),
    ("terraform Kafka not attached to stats", "terraform/apps.tf", 'kafka_attached_service = ["stream", "stats"]',
     'kafka_attached_service = ["stream"]', "edm-stats neither has the Kafka add-on"),
    ("terraform provider 4.x", "terraform/versions.tf", 'version = "~> 5.2"', 'version = "~> 4.0"',
     "major version 5"),
    ("topic script skips consumer groups", "terraform/scripts/create-kafka-topics.sh",
     'if [ -n "$prefix" ]; then\n  for group', 'if [ -z "$prefix" ]; then\n  for group', "consumer groups"),
]

COPIED = ("Cargo.toml", "Cargo.lock", "rust-toolchain", "RustConfig", "Procfile", "Dockerfile", ".dockerignore",
          "docker-compose.yml", "crates", "migrations", "terraform", "infra/kafka/pom.xml", "docs")
SKIP = shutil.ignore_patterns("target", "node_modules", ".terraform")


def copy_repository(root: str, dest: str) -> None:
    for path in COPIED:
        source = os.path.join(root, path)
        target = os.path.join(dest, path)
        if os.path.isdir(source):
            shutil.copytree(source, target, ignore=SKIP)
        elif os.path.isfile(source):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy2(source, target)


def run_checks(root: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}
    return subprocess.run([sys.executable, "-m", "deploy_checks", "--root", root], env=env,
                          capture_output=True, text=True, timeout=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", required=True)
    root = parser.parse_args().root
    failed = 0
    with tempfile.TemporaryDirectory(prefix="edm-deploy-selftest-") as tmp:
        pristine = os.path.join(tmp, "pristine")
        copy_repository(root, pristine)
        baseline = run_checks(pristine)
        if baseline.returncode != 0:
            print(baseline.stderr, file=sys.stderr)
            print("selftest: the unbroken copy already fails; fix that first", file=sys.stderr)
            return 1
        for index, (what, path, old, new, expected) in enumerate(MUTATIONS):
            case = os.path.join(tmp, f"case-{index}")
            shutil.copytree(pristine, case)
            target = os.path.join(case, path)
            if old is None:
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with open(target, "w", encoding="utf-8") as f:
                    f.write(new)
            else:
                with open(target, encoding="utf-8") as f:
                    text = f.read()
                if old not in text:
                    print(f"selftest: STALE '{what}': {path} no longer contains {old!r}", file=sys.stderr)
                    failed += 1
                    continue
                with open(target, "w", encoding="utf-8") as f:
                    f.write(text.replace(old, new, 1))
            if "edm-newconsumer" in new:
                _add_new_crate(case)
            done = run_checks(case)
            if done.returncode != 0 and expected in done.stderr:
                print(f"selftest: ok   {what}", file=sys.stderr)
            else:
                failed += 1
                print(f"selftest: MISS {what}: exit {done.returncode}, expected a failure naming {expected!r}",
                      file=sys.stderr)
                print(done.stderr, file=sys.stderr)
            shutil.rmtree(case)
    print(f"selftest: {len(MUTATIONS) - failed} passed, {failed} failed", file=sys.stderr)
    return 1 if failed else 0


def _add_new_crate(case: str) -> None:
    """The crate a mutation adds to the workspace members: one binary."""
    crate = os.path.join(case, "crates", "edm-newconsumer")
    os.makedirs(os.path.join(crate, "src"))
    with open(os.path.join(crate, "Cargo.toml"), "w", encoding="utf-8") as f:
        f.write('[package]\nname = "edm-newconsumer"\nversion = "0.1.0"\n')
    with open(os.path.join(crate, "src", "main.rs"), "w", encoding="utf-8") as f:
        f.write("fn main() {}\n")


if __name__ == "__main__":
    sys.exit(main())
