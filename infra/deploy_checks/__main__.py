"""Runs every offline deploy check: python -m deploy_checks --root DIR.
Exits 1 when any check fails."""

import argparse
import sys

from . import compose_check, dockerfile_check, heroku_check, terraform_check, workspace
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
        compose = compose_check.check(root, report, topology, binaries, workspace.variables_read_by_code(root))
        dockerfile_check.check(root, report, topology, binaries, compose)
        heroku_check.check_procfile(root, report, topology)
        heroku_check.check_build_config(root, report, topology)
        terraform_check.check(root, report, topology)
        heroku_check.check_topic_script(root, report, topology)
    print(report.summary(), file=sys.stderr)
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
