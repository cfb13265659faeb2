"""Runs every offline deploy check: python -m deploy_checks --root DIR.
Exits 1 when any check fails. docker-compose.yml and the Dockerfile's binary
list are generated from topology.json (`cargo xtask check` holds them to
it); what is checked here is written by hand: the Dockerfile's build, the
Procfile, RustConfig, terraform/ and its topic script."""

import argparse
import sys

from . import dockerfile_check, heroku_check, terraform_check, workspace
from .report import Report
from .topology import load_topology


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", required=True, help="repository root")
    root = parser.parse_args().root
    report = Report()
    topology = load_topology(root, report)
    if topology is not None:
        binaries = workspace.binaries(root)
        for spec in topology.services:
            if spec.name not in binaries:
                report.warn("workspace", f"no crate builds {spec.name} (a service in topology.json) yet")
        services = {spec.name for spec in topology.services}
        for binary, crate in sorted(binaries.items()):
            report.check("workspace", binary in services or crate.name in topology.tools,
                         f"workspace binary {binary} is not run: topology.json lists it neither as a "
                         "service (deployed, in the generated docker-compose.yml and Dockerfile) nor in tools")
        dockerfile_check.check(root, report)
        heroku_check.check_procfile(root, report, topology)
        heroku_check.check_build_config(root, report, topology)
        terraform_check.check(root, report, topology)
        heroku_check.check_topic_script(root, report, topology)
    print(report.summary(), file=sys.stderr)
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
