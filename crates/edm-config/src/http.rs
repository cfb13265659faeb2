//! HTTP settings every service shares: the port (`PORT`, set by Heroku) and
//! the browser origins allowed to call it (`EDM_ALLOWED_ORIGINS`).

use crate::env::Env;
use crate::error::ConfigError;

/// The local store and dashboard origins, allowed when nothing is configured.
pub const DEFAULT_ALLOWED_ORIGINS: [&str; 4] = [
    "http://localhost:3000",
    "http://127.0.0.1:3000",
    "http://localhost:3001",
    "http://127.0.0.1:3001",
];

/// Browser origins a service accepts cross-origin requests from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedOrigins {
    /// `*`: any origin (only when configured so explicitly).
    Any,
    /// Exactly these origins (`scheme://host[:port]`).
    List(Vec<String>),
}

impl AllowedOrigins {
    /// Whether a request from `origin` may be answered.
    pub fn allows(&self, origin: &str) -> bool {
        match self {
            AllowedOrigins::Any => true,
            AllowedOrigins::List(list) => list.iter().any(|o| o == origin),
        }
    }
}

/// Where a service listens and whom browsers may call it from.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// TCP port; `PORT` or the service's local default.
    pub port: u16,
    /// `EDM_ALLOWED_ORIGINS`, or the local store and dashboard.
    pub allowed_origins: AllowedOrigins,
}

impl HttpSettings {
    /// Reads `PORT` (default `default_port`) and `EDM_ALLOWED_ORIGINS`.
    pub fn from_env(env: &impl Env, default_port: u16) -> Result<Self, ConfigError> {
        let port = match env.get("PORT") {
            None => default_port,
            Some(raw) => raw
                .parse::<u16>()
                .map_err(|_| ConfigError::new("PORT", "is not a port number (expected 0-65535)"))?,
        };
        let allowed_origins = match env.get("EDM_ALLOWED_ORIGINS") {
            None => AllowedOrigins::List(
                DEFAULT_ALLOWED_ORIGINS
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            ),
            Some(raw) if raw == "*" => AllowedOrigins::Any,
            Some(raw) => AllowedOrigins::List(parse_origins(&raw)?),
        };
        Ok(Self {
            port,
            allowed_origins,
        })
    }
}

/// Parses a comma-separated list of origins, normalising trailing slashes.
fn parse_origins(raw: &str) -> Result<Vec<String>, ConfigError> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .enumerate()
        .map(|(i, origin)| {
            let origin = origin.trim_end_matches('/');
            let valid = ["http://", "https://"].iter().any(|scheme| {
                origin
                    .strip_prefix(scheme)
                    .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'))
            });
            if valid {
                Ok(origin.to_owned())
            } else {
                Err(ConfigError::new(
                    "EDM_ALLOWED_ORIGINS",
                    format!(
                        "entry {} is not an origin (expected http(s)://host[:port] or a lone *)",
                        i + 1
                    ),
                ))
            }
        })
        .collect()
}

/// A URL another service is reached at, from `variable` or `default`,
/// without a trailing slash. Must be http(s).
pub fn service_url(
    env: &impl Env,
    variable: &'static str,
    default: &str,
) -> Result<String, ConfigError> {
    let url = env.get(variable).unwrap_or_else(|| default.to_owned());
    let url = url.trim_end_matches('/').to_owned();
    let valid = ["http://", "https://"]
        .iter()
        .any(|s| url.strip_prefix(s).is_some_and(|rest| !rest.is_empty()));
    if !valid || url.contains(char::is_whitespace) {
        return Err(ConfigError::new(variable, "is not an http(s) URL"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MapEnv;

    #[test]
    fn port_defaults_and_parses() {
        assert_eq!(
            HttpSettings::from_env(&MapEnv::default(), 5000)
                .unwrap()
                .port,
            5000
        );
        let env = MapEnv::default().with("PORT", "8080");
        assert_eq!(HttpSettings::from_env(&env, 5000).unwrap().port, 8080);
        let env = MapEnv::default().with("PORT", "http");
        assert_eq!(
            HttpSettings::from_env(&env, 5000).unwrap_err().to_string(),
            "PORT is not a port number (expected 0-65535)"
        );
    }

    #[test]
    fn origins_default_to_the_local_store_and_dashboard() {
        let s = HttpSettings::from_env(&MapEnv::default(), 1).unwrap();
        assert!(s.allowed_origins.allows("http://localhost:3000"));
        assert!(!s.allowed_origins.allows("https://evil.example"));
    }

    #[test]
    fn origins_are_configurable_and_star_is_explicit() {
        let env = MapEnv::default().with(
            "EDM_ALLOWED_ORIGINS",
            "https://shop.example/, https://dash.example",
        );
        let s = HttpSettings::from_env(&env, 1).unwrap();
        assert!(s.allowed_origins.allows("https://shop.example"));
        assert!(!s.allowed_origins.allows("http://localhost:3000"));
        let env = MapEnv::default().with("EDM_ALLOWED_ORIGINS", "*");
        assert_eq!(
            HttpSettings::from_env(&env, 1).unwrap().allowed_origins,
            AllowedOrigins::Any
        );
        let env = MapEnv::default().with("EDM_ALLOWED_ORIGINS", "https://a.example,shop");
        assert!(HttpSettings::from_env(&env, 1)
            .unwrap_err()
            .to_string()
            .contains("entry 2"));
    }

    #[test]
    fn service_urls_are_checked() {
        let env = MapEnv::default().with("EDM_RELAY_URL", "https://relay.example/");
        assert_eq!(
            service_url(&env, "EDM_RELAY_URL", "http://localhost:5000").unwrap(),
            "https://relay.example"
        );
        assert_eq!(
            service_url(&MapEnv::default(), "EDM_RELAY_URL", "http://localhost:5000").unwrap(),
            "http://localhost:5000"
        );
        let env = MapEnv::default().with("EDM_RELAY_URL", "relay");
        assert_eq!(
            service_url(&env, "EDM_RELAY_URL", "x")
                .unwrap_err()
                .to_string(),
            "EDM_RELAY_URL is not an http(s) URL"
        );
    }
}
