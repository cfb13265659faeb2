//! Where configuration values come from: the process environment in
//! production, a plain map in tests. Empty values count as unset, because
//! `heroku config:set X=` and compose files leave empty strings behind.

use std::collections::HashMap;

/// A source of configuration variables.
pub trait Env {
    /// The raw value of `name`, or `None` when unset or empty.
    fn raw(&self, name: &str) -> Option<String>;

    /// The value of `name`, trimmed, or `None` when unset or blank.
    fn get(&self, name: &str) -> Option<String> {
        self.raw(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }
}

/// The variables of the running process.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn raw(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

/// A fixed set of variables, for tests and tools.
#[derive(Debug, Clone, Default)]
pub struct MapEnv(pub HashMap<String, String>);

impl MapEnv {
    /// An environment holding exactly these pairs.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// Sets `name` to `value`, returning the environment for chaining.
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.0.insert(name.to_owned(), value.into());
        self
    }
}

impl Env for MapEnv {
    fn raw(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

/// A whole number from `variable`, or `default` when unset; it must lie in
/// `min..=max`. The error names the variable and the accepted range.
pub fn number<E: Env + ?Sized>(
    env: &E,
    variable: &'static str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, crate::ConfigError> {
    let Some(raw) = env.get(variable) else {
        return Ok(default);
    };
    raw.parse::<u64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| {
            crate::ConfigError::new(
                variable,
                format!("must be a whole number from {min} to {max}"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_values_count_as_unset() {
        let env = MapEnv::from_pairs([("A", "  "), ("B", " x ")]);
        assert_eq!(env.get("A"), None);
        assert_eq!(env.get("B").as_deref(), Some("x"));
        assert_eq!(env.get("C"), None);
    }

    #[test]
    fn numbers_are_bounded() {
        let env = MapEnv::from_pairs([("N", "50"), ("BIG", "5000"), ("BAD", "x")]);
        assert_eq!(number(&env, "N", 1, 1, 100), Ok(50));
        assert_eq!(number(&env, "UNSET", 7, 1, 100), Ok(7));
        let err = number(&env, "BIG", 1, 1, 100).unwrap_err();
        assert_eq!(err.to_string(), "BIG must be a whole number from 1 to 100");
        assert!(number(&env, "BAD", 1, 1, 100).is_err());
    }
}
