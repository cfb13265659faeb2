"""Collects check results and prints them; a failure makes the run fail."""

import sys


class Report:
    """Results of one run: passed checks, warnings and failures, by area."""

    def __init__(self) -> None:
        self.passed = 0
        self.failures: list[str] = []
        self.warnings: list[str] = []

    def check(self, area: str, ok: bool, failure: str) -> bool:
        """Counts a check; prints `failure` when `ok` is false."""
        if ok:
            self.passed += 1
        else:
            self.fail(area, failure)
        return ok

    def fail(self, area: str, message: str) -> None:
        self.failures.append(f"{area}: {message}")
        print(f"deploy-checks: FAIL {area}: {message}", file=sys.stderr)

    def warn(self, area: str, message: str) -> None:
        self.warnings.append(f"{area}: {message}")
        print(f"deploy-checks: warning {area}: {message}", file=sys.stderr)

    def summary(self) -> str:
        return f"deploy-checks: {self.passed} passed, {len(self.failures)} failed"
