//! The store's settings: where it listens and where its pages send events.

use edm_config::http::service_url;
use edm_config::{ConfigError, Env, HttpSettings};

/// The store's port when `PORT` is unset.
pub const DEFAULT_PORT: u16 = 3000;
/// The relay's address when `EDM_RELAY_URL` is unset: the local edm-relay.
pub const DEFAULT_RELAY_URL: &str = "http://localhost:5000";

/// Everything the store reads from its environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Port to listen on (`PORT`, default 3000; 0 picks a free port).
    pub http: HttpSettings,
    /// Where visitors' browsers send events (`EDM_RELAY_URL`), without a
    /// trailing slash. Browsers call it directly, so it must be reachable
    /// from them, not just from this server.
    pub relay_url: String,
}

impl Settings {
    /// Reads `PORT` and `EDM_RELAY_URL`.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        Ok(Self {
            http: HttpSettings::from_env(env, DEFAULT_PORT)?,
            relay_url: service_url(env, "EDM_RELAY_URL", DEFAULT_RELAY_URL)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edm_config::MapEnv;

    #[test]
    fn defaults_to_the_local_relay_on_port_3000() {
        let settings = Settings::from_env(&MapEnv::default()).unwrap();
        assert_eq!(settings.http.port, 3000);
        assert_eq!(settings.relay_url, "http://localhost:5000");
    }

    #[test]
    fn a_bad_relay_url_is_named() {
        let env = MapEnv::default().with("EDM_RELAY_URL", "localhost:5000");
        assert_eq!(
            Settings::from_env(&env).unwrap_err().to_string(),
            "EDM_RELAY_URL is not an http(s) URL"
        );
    }
}
