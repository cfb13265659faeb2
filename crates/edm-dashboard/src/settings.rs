//! The dashboard's settings: where it listens, and where its page finds the
//! live stream and the click history.

use edm_config::http::service_url;
use edm_config::{ConfigError, Env, HttpSettings};

/// The dashboard's port when `PORT` is unset.
pub const DEFAULT_PORT: u16 = 3001;
/// edm-stream's address when `EDM_STREAM_URL` is unset.
pub const DEFAULT_STREAM_URL: &str = "http://localhost:5001";
/// edm-stats' address when `EDM_STATS_URL` is unset.
pub const DEFAULT_STATS_URL: &str = "http://localhost:5002";

/// Everything the dashboard reads from its environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Port to listen on (`PORT`, default 3001; 0 picks a free port).
    pub http: HttpSettings,
    /// edm-stream's Socket.io server (`EDM_STREAM_URL`), as browsers reach it.
    pub stream_url: String,
    /// edm-stats' REST API (`EDM_STATS_URL`), as browsers reach it.
    pub stats_url: String,
}

impl Settings {
    /// Reads `PORT`, `EDM_STREAM_URL` and `EDM_STATS_URL`.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        Ok(Self {
            http: HttpSettings::from_env(env, DEFAULT_PORT)?,
            stream_url: service_url(env, "EDM_STREAM_URL", DEFAULT_STREAM_URL)?,
            stats_url: service_url(env, "EDM_STATS_URL", DEFAULT_STATS_URL)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edm_config::MapEnv;

    #[test]
    fn defaults_to_the_local_services_on_port_3001() {
        let settings = Settings::from_env(&MapEnv::default()).unwrap();
        assert_eq!(settings.http.port, 3001);
        assert_eq!(settings.stream_url, "http://localhost:5001");
        assert_eq!(settings.stats_url, "http://localhost:5002");
    }

    #[test]
    fn bad_urls_are_named() {
        let env = MapEnv::default().with("EDM_STATS_URL", "stats.example");
        assert_eq!(
            Settings::from_env(&env).unwrap_err().to_string(),
            "EDM_STATS_URL is not an http(s) URL"
        );
        let env = MapEnv::default().with("EDM_STREAM_URL", "ws://stream.example");
        assert_eq!(
            Settings::from_env(&env).unwrap_err().to_string(),
            "EDM_STREAM_URL is not an http(s) URL"
        );
    }
}
