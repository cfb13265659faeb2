//! The results of one run of the deploy checks: passed checks, warnings
//! and failures, each failure and warning named by its area (`topology`,
//! `dockerfile`, `heroku`, `terraform`, …). Any failure fails the run.

/// What one run found.
#[derive(Debug, Default)]
pub struct Report {
    /// How many checks passed.
    pub passed: usize,
    /// `area: message` of each failed check.
    pub failures: Vec<String>,
    /// `area: message` of each warning (what could not be checked).
    pub warnings: Vec<String>,
    /// Whether failures and warnings are printed to stderr as they come.
    print: bool,
}

impl Report {
    /// A report that prints each failure (`deploy-checks: FAIL area:
    /// message`) and warning to stderr as it is found.
    pub fn printing() -> Report {
        Report {
            print: true,
            ..Report::default()
        }
    }

    /// A report that only collects (the tests read it).
    pub fn quiet() -> Report {
        Report::default()
    }

    /// Counts one check: passed when `ok`, else a failure saying `failure`.
    /// Returns `ok`.
    pub fn check(&mut self, area: &str, ok: bool, failure: impl FnOnce() -> String) -> bool {
        if ok {
            self.passed += 1;
        } else {
            self.fail(area, failure());
        }
        ok
    }

    /// Records a failure.
    pub fn fail(&mut self, area: &str, message: impl Into<String>) {
        let message = message.into();
        if self.print {
            eprintln!("deploy-checks: FAIL {area}: {message}");
        }
        self.failures.push(format!("{area}: {message}"));
    }

    /// Records a warning: something not checked, which does not fail the run.
    pub fn warn(&mut self, area: &str, message: impl Into<String>) {
        let message = message.into();
        if self.print {
            eprintln!("deploy-checks: warning {area}: {message}");
        }
        self.warnings.push(format!("{area}: {message}"));
    }

    /// Whether every check passed.
    pub fn ok(&self) -> bool {
        self.failures.is_empty()
    }

    /// `deploy-checks: N passed, M failed`.
    pub fn summary(&self) -> String {
        format!(
            "deploy-checks: {} passed, {} failed",
            self.passed,
            self.failures.len()
        )
    }
}
