//! Postgres connection settings from `DATABASE_URL`. Heroku Postgres needs
//! TLS but its certificate cannot be verified against a public CA, so TLS is
//! required (`sslmode=require`) unless the URL itself says otherwise, as a
//! local `?sslmode=disable` does.

use std::str::FromStr;

use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgConnectOptions, PgSslMode};

use crate::env::Env;
use crate::error::ConfigError;

/// Where the database is. The URL holds a password, so it stays wrapped.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// `DATABASE_URL`, read once at start (Heroku may rotate it; a restart
    /// picks up the new one).
    pub url: SecretString,
}

impl DatabaseSettings {
    /// Reads and checks `DATABASE_URL`.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let url = env
            .get("DATABASE_URL")
            .ok_or_else(|| ConfigError::new("DATABASE_URL", "is not set"))?;
        let settings = Self {
            url: SecretString::from(url),
        };
        settings.connect_options()?;
        Ok(settings)
    }

    /// Options for sqlx, with TLS required unless the URL sets `sslmode`.
    pub fn connect_options(&self) -> Result<PgConnectOptions, ConfigError> {
        let url = self.url.expose_secret();
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(ConfigError::new("DATABASE_URL", "is not a postgres:// URL"));
        }
        let options = PgConnectOptions::from_str(url)
            .map_err(|_| ConfigError::new("DATABASE_URL", "is not a valid Postgres URL"))?;
        let explicit_mode = url
            .split_once('?')
            .is_some_and(|(_, query)| query.split('&').any(|p| p.starts_with("sslmode=")));
        Ok(if explicit_mode {
            options
        } else {
            options.ssl_mode(PgSslMode::Require)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MapEnv;

    #[test]
    fn requires_tls_unless_the_url_says_otherwise() {
        let env = MapEnv::default().with("DATABASE_URL", "postgres://u:p@db.example:5432/d");
        let opts = DatabaseSettings::from_env(&env)
            .unwrap()
            .connect_options()
            .unwrap();
        assert!(matches!(opts.get_ssl_mode(), PgSslMode::Require));
        let env =
            MapEnv::default().with("DATABASE_URL", "postgres://u:p@localhost/d?sslmode=disable");
        let opts = DatabaseSettings::from_env(&env)
            .unwrap()
            .connect_options()
            .unwrap();
        assert!(matches!(opts.get_ssl_mode(), PgSslMode::Disable));
    }

    #[test]
    fn errors_never_show_the_password() {
        let env = MapEnv::default().with("DATABASE_URL", "mysql://u:hunter2@db/d");
        let err = DatabaseSettings::from_env(&env).unwrap_err().to_string();
        assert_eq!(err, "DATABASE_URL is not a postgres:// URL");
        let settings = DatabaseSettings::from_env(
            &MapEnv::default().with("DATABASE_URL", "postgres://u:hunter2@db/d"),
        )
        .unwrap();
        assert!(!format!("{settings:?}").contains("hunter2"));
        assert_eq!(
            DatabaseSettings::from_env(&MapEnv::default())
                .unwrap_err()
                .to_string(),
            "DATABASE_URL is not set"
        );
    }
}
