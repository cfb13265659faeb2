"""Proves the deploy checks fail loudly: copies the repository's deployment
files and topology.json to a temporary folder, breaks one thing at a time
(a deployment file, or topology.json alone, which the files must then
follow), and expects the checks to exit non-zero naming the problem.
`./edm deploy-checks --self-test`."""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

# (what is broken, file, text to replace (None: create the file), replacement, expected message)
MUTATIONS = [
    ("topology.json not JSON", "topology.json", '"tools": [', '"tools" [', "topology.json is not valid JSON"),
    ("topology: two consumers share a group", "topology.json", '"consumer_group": "edm-consumer-group-2"',
     '"consumer_group": "edm-consumer-group-1"', "share consumer_group edm-consumer-group-1"),
    ("topology: a call to a service that is not there", "topology.json", '"EDM_RELAY_URL": "edm-relay"',
     '"EDM_RELAY_URL": "edm-realy"', "refers to unknown service edm-realy"),
    ("Dockerfile: COPY of a missing folder", "Dockerfile", "COPY migrations migrations\nENV",
     "COPY migration migrations\nENV", "COPY migration: no such file"),
    ("Dockerfile: build without topology.json", "Dockerfile", "COPY Cargo.toml Cargo.lock topology.json ./",
     "COPY Cargo.toml Cargo.lock ./", "does not COPY topology.json"),
    ("Dockerfile: no cmake", "Dockerfile", "install -y --no-install-recommends cmake ",
     "install -y --no-install-recommends ", "does not install cmake"),
    ("Dockerfile: no dependency layer", "Dockerfile",
     "RUN cargo chef cook --release --locked --recipe-path recipe.json\n", "", "cargo chef cook"),
    ("Dockerfile: toolchain drift", "Dockerfile", "ARG RUST_VERSION=1.", "ARG RUST_VERSION=0.", "rust-toolchain"),
    (".dockerignore hides topology.json", ".dockerignore", "target\n", "target\ntopology.json\n",
     "COPY topology.json: excluded from the build context"),
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
    ("RustConfig builds one package everywhere", "RustConfig", '"--release --locked"', '"--release --locked -p edm-relay"',
     "whole workspace"),
    ("RustConfig ignores the app's EDM_SERVICE", "RustConfig",
     'RUST_CARGO_BUILD_FLAGS="$RUST_CARGO_BUILD_FLAGS -p $edm_service"', "true",
     "the edm-stream app's build must be `-p edm-stream`"),
    ("terraform config vars in two places", "terraform/apps.tf",
     "  buildpacks = [var.buildpack]\n", '  buildpacks = [var.buildpack]\n  config_vars = { EDM_SERVICE = each.value }\n',
     "belong in heroku_app_config_association alone"),
    ("terraform app without its EDM_SERVICE", "terraform/config.tf",
     "EDM_SERVICE = name", "EDM_SERVICE = key", "must set EDM_SERVICE = name"),
    ("buildpack by registry name", "terraform/variables.tf",
     'default     = "https://github.com/emk/heroku-buildpack-rust.git#cfa0f0621411f0dbb46df9d4740e119b7a459ccc"',
     'default     = "emk/rust"', "pinned to a commit"),
    ("terraform HCL syntax", "terraform/apps.tf", "locals {", "locals {{", "does not parse"),
    ("terraform fmt", "terraform/addons.tf", "  plan   = var.kafka_plan", "  plan = var.kafka_plan",
     "terraform fmt"),
    ("terraform undeclared variable", "terraform/apps.tf", "region     = var.region", "region     = var.regoin",
     "var.regoin is used"),
    ("terraform reads another topology", "terraform/apps.tf", '"${path.module}/../topology.json"',
     '"${path.module}/topology.json"', "which is not the repository's topology.json"),
    ("terraform restates the consumer groups", "terraform/kafka-topics.tf",
     'join(" ", local.consumer_groups)', '"edm-consumer-group-1 edm-consumer-group-2"',
     "restates topology.json instead of reading local.topology: edm-consumer-group-1"),
    ("terraform Postgres on a hand-picked app", "terraform/addons.tf",
     "heroku_app.service[local.database_service].id", 'heroku_app.service["stats"].id',
     "stats in heroku_addon.postgres"),
    ("terraform output of a service not in the topology", "terraform/outputs.tf",
     'heroku_app.service["ui"].web_url', 'heroku_app.service["store"].web_url', "no service has the key store"),
    ("terraform origin keeps web_url's slash", "terraform/config.tf", 'trimsuffix(app.web_url, "/")', "app.web_url",
     "must drop it (trimsuffix)"),
    ("terraform hand-built host name", "terraform/config.tf", 'trimsuffix(app.web_url, "/")',
     '"https://${var.name_prefix}-${key}.herokuapp.com"', "herokuapp.com"),
    ("terraform formation before build", "terraform/builds.tf", "  depends_on = [heroku_build.service]\n", "",
     "must depend on the build"),
    ("terraform Kafka not attached", "terraform/addons.tf", "addon_id = heroku_addon.kafka.id",
     "addon_id = heroku_addon.postgres.id", "is attached to no other app"),
    ("topic script forgets compaction", "terraform/scripts/create-kafka-topics.sh",
     'if [ "$policy" = compact ]; then', 'if false; then', "enable compaction"),
    ("terraform default add-on timeout", "terraform/versions.tf",
     "addon_create_timeout = local.addon_create_timeout", "# no timeout", "addon_create_timeout"),
    ("terraform provider 4.x", "terraform/versions.tf", 'version = "~> 5.2"', 'version = "~> 4.0"',
     "major version 5"),
    ("topic script skips consumer groups", "terraform/scripts/create-kafka-topics.sh",
     'if [ -n "$prefix" ]; then\n  for group', 'if [ -z "$prefix" ]; then\n  for group', "consumer groups"),
    ("topic script without the CLI check", "terraform/scripts/create-kafka-topics.sh",
     'bash "$(dirname "$0")/check-heroku-cli.sh"\n', "", "no Kafka plugin"),
    ("terraform creates apps before the CLI check", "terraform/apps.tf",
     "  depends_on = [terraform_data.heroku_cli_check]\n", "", "must depend on terraform_data.heroku_cli_check"),
    ("topic script ignores topology.json", "terraform/scripts/create-kafka-topics.sh",
     "topics=${EDM_KAFKA_TOPICS:-$(topology_names topics)}", "topics=${EDM_KAFKA_TOPICS:-edm-ui-click}",
     "from topology.json (logical names"),
]

COPIED = ("Cargo.toml", "Cargo.lock", "rust-toolchain", "RustConfig", "Procfile", "Dockerfile", ".dockerignore",
          "topology.json", "crates", "migrations", "terraform", "docs")
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
