"""Runs every offline deploy check: python -m deploy_checks --root DIR.
Exits 1 when any check fails."""

import argparse
import sys

from . import compose_check, contract, dockerfile_check, heroku_check, terraform_check, workspace
from .report import Report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", required=True, help="repository root")
    root = parser.parse_args().root
    report = Report()
    binaries = workspace.binaries(root)
    for spec in contract.SERVICES:
        if spec.binary not in binaries:
            report.warn("workspace", f"no crate builds {spec.binary} yet")
    compose = compose_check.check(root, report, binaries, workspace.variables_read_by_code(root))
    dockerfile_check.check(root, report, binaries, compose)
    heroku_check.check_procfile(root, report)
    heroku_check.check_build_config(root, report)
    script_env = terraform_check.check(root, report)
    heroku_check.check_topic_script(root, report, script_env)
    print(report.summary(), file=sys.stderr)
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
