//! The configuration error: which variable is wrong and why, never its value.

/// Missing or malformed configuration. The message names the variable and
/// the problem; it never contains the variable's value, which may be secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable} {problem}")]
pub struct ConfigError {
    /// The environment variable at fault, e.g. `KAFKA_URL`.
    pub variable: &'static str,
    /// What is wrong with it, e.g. `entry 2 has no port`.
    pub problem: String,
}

impl ConfigError {
    /// An error about `variable`.
    pub fn new(variable: &'static str, problem: impl Into<String>) -> Self {
        Self {
            variable,
            problem: problem.into(),
        }
    }
}
