//! HTTP settings every service shares: the port (`PORT`, set by Heroku), the
//! browser origins allowed to call it (`EDM_ALLOWED_ORIGINS`), the proxies
//! in front of it (`EDM_TRUSTED_PROXY_HOPS`), the bounds on connections and
//! on the time a client may take to send a request, how long a stopping
//! service may take (`EDM_SHUTDOWN_TIMEOUT_SECS`), and the URLs of the other
//! services its pages call.

use std::time::Duration;

use url::Url;

use crate::env::{number, Env};
use crate::error::ConfigError;
use crate::topology::topology;

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

/// Where a service listens, whom browsers may call it from, and how long
/// it may take to stop.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// TCP port; `PORT` or the service's local port from `topology.json`.
    pub port: u16,
    /// `EDM_ALLOWED_ORIGINS`, or the local store and dashboard.
    pub allowed_origins: AllowedOrigins,
    /// How long a stopping service may finish requests and background work
    /// before it exits anyway (`EDM_SHUTDOWN_TIMEOUT_SECS`, default 25 s:
    /// Heroku sends SIGKILL 30 s after SIGTERM).
    pub shutdown_timeout: Duration,
    /// Proxies in front of the service that append the client's address to
    /// `X-Forwarded-For` (`EDM_TRUSTED_PROXY_HOPS`, default 0: clients
    /// connect directly and the header is ignored; 1 on Heroku, whose router
    /// appends it). The client is the entry this many places from the end.
    pub trusted_proxy_hops: usize,
    /// Open connections at most (`EDM_HTTP_MAX_CONNECTIONS`, default 10,000).
    pub max_connections: usize,
    /// Open connections from one client address at most, when clients
    /// connect directly (`EDM_HTTP_MAX_CONNECTIONS_PER_ADDRESS`, default
    /// 256; 0 turns the cap off). Behind trusted proxies every connection
    /// comes from a proxy, so the cap does not apply.
    pub max_connections_per_address: usize,
    /// Time a client may take to send a request's headers
    /// (`EDM_HTTP_HEADER_TIMEOUT_SECS`, default 10 s).
    pub header_read_timeout: Duration,
    /// Largest request head (request line and headers) a connection
    /// buffers (`EDM_HTTP_MAX_HEADER_BYTES`, default 16 KiB, 8 KiB to
    /// 1 MiB): a larger one is answered 431 and the connection closed. It
    /// is also the most a connection's read buffer holds, so with
    /// `max_connections` it bounds what open connections buffer (160 MiB
    /// at the defaults).
    pub max_header_bytes: usize,
    /// Time a client may take to send a request's body
    /// (`EDM_HTTP_BODY_TIMEOUT_SECS`, default 10 s); past it the request
    /// fails and whatever it held is released.
    pub body_read_timeout: Duration,
    /// Time a write to a client (an answer, WebSocket frames) may make no
    /// progress (`EDM_HTTP_WRITE_TIMEOUT_SECS`, default 30 s); past it the
    /// connection is closed.
    pub write_timeout: Duration,
}

impl HttpSettings {
    /// Reads `PORT` (default: `service`'s port in the topology),
    /// `EDM_ALLOWED_ORIGINS`, `EDM_TRUSTED_PROXY_HOPS`, the connection and
    /// time bounds, and `EDM_SHUTDOWN_TIMEOUT_SECS`.
    pub fn from_env(env: &impl Env, service: &str) -> Result<Self, ConfigError> {
        let port = match env.get("PORT") {
            None => topology().service(service).port,
            Some(raw) => raw
                .parse::<u16>()
                .map_err(|_| ConfigError::new("PORT", "is not a port number (expected 0-65535)"))?,
        };
        let allowed_origins = match env.get("EDM_ALLOWED_ORIGINS") {
            None => AllowedOrigins::List(topology().local_page_origins()),
            Some(raw) if raw == "*" => AllowedOrigins::Any,
            Some(raw) => AllowedOrigins::List(parse_origins(&raw)?),
        };
        let seconds = |variable, default, max| {
            number(env, variable, default, 1, max).map(Duration::from_secs)
        };
        Ok(Self {
            port,
            allowed_origins,
            shutdown_timeout: seconds("EDM_SHUTDOWN_TIMEOUT_SECS", 25, 3600)?,
            trusted_proxy_hops: number(env, "EDM_TRUSTED_PROXY_HOPS", 0, 0, 10)? as usize,
            max_connections: number(env, "EDM_HTTP_MAX_CONNECTIONS", 10_000, 1, 1_000_000)?
                as usize,
            max_connections_per_address: number(
                env,
                "EDM_HTTP_MAX_CONNECTIONS_PER_ADDRESS",
                256,
                0,
                1_000_000,
            )? as usize,
            header_read_timeout: seconds("EDM_HTTP_HEADER_TIMEOUT_SECS", 10, 300)?,
            max_header_bytes: number(env, "EDM_HTTP_MAX_HEADER_BYTES", 16 << 10, 8 << 10, 1 << 20)?
                as usize,
            body_read_timeout: seconds("EDM_HTTP_BODY_TIMEOUT_SECS", 10, 3600)?,
            write_timeout: seconds("EDM_HTTP_WRITE_TIMEOUT_SECS", 30, 3600)?,
        })
    }
}

/// Parses a comma-separated list of origins into their canonical form
/// (`scheme://host[:port]`, as browsers send them in `Origin`).
fn parse_origins(raw: &str) -> Result<Vec<String>, ConfigError> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .enumerate()
        .map(|(i, entry)| {
            web_url(entry)
                .filter(|url| url.path() == "/" && url.query().is_none() && url.fragment().is_none())
                .map(|url| url.origin().ascii_serialization())
                .ok_or_else(|| {
                    ConfigError::new(
                        "EDM_ALLOWED_ORIGINS",
                        format!(
                            "entry {} is not an origin (expected http(s)://host[:port] or a lone *)",
                            i + 1
                        ),
                    )
                })
        })
        .collect()
}

/// `raw` as an absolute http(s) URL with a host, or `None`.
fn web_url(raw: &str) -> Option<Url> {
    Url::parse(raw)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
}

/// The address of another EDM service, as browsers reach it: the text as
/// configured (pages get exactly that), checked to be an http(s) URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceUrl {
    /// As configured, without a trailing slash.
    text: String,
    /// As parsed.
    url: Url,
}

impl ServiceUrl {
    /// The URL as configured, without a trailing slash, ready to have
    /// paths appended.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// `scheme://host[:port]`: what a Content-Security-Policy source names,
    /// since a source with a path matches only that path.
    pub fn origin(&self) -> String {
        self.url.origin().ascii_serialization()
    }

    /// The origin with `ws`/`wss` in place of `http`/`https`, for the
    /// WebSocket connections a page opens to the service.
    pub fn websocket_origin(&self) -> String {
        let origin = self.origin();
        match origin.strip_prefix("http") {
            Some(rest) => format!("ws{rest}"),
            None => origin,
        }
    }
}

impl PartialEq<&str> for ServiceUrl {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// The URL of the service that `variable` (`EDM_RELAY_URL`, …) points at;
/// when unset, that service's local address from the topology. Must be an
/// http(s) URL.
pub fn service_url(env: &impl Env, variable: &'static str) -> Result<ServiceUrl, ConfigError> {
    let raw = match env.get(variable) {
        Some(raw) => raw,
        None => topology()
            .called_through(variable)
            .map(|service| service.local_url())
            .ok_or_else(|| ConfigError::new(variable, "names no service in topology.json"))?,
    };
    let text = raw.trim_end_matches('/');
    web_url(text)
        .filter(|_| !text.contains(char::is_whitespace))
        .map(|url| ServiceUrl {
            text: text.to_owned(),
            url,
        })
        .ok_or_else(|| ConfigError::new(variable, "is not an http(s) URL"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MapEnv;

    #[test]
    fn port_defaults_and_parses() {
        assert_eq!(
            HttpSettings::from_env(&MapEnv::default(), "edm-relay")
                .unwrap()
                .port,
            5000
        );
        let env = MapEnv::default().with("PORT", "8080");
        assert_eq!(
            HttpSettings::from_env(&env, "edm-relay").unwrap().port,
            8080
        );
        let env = MapEnv::default().with("PORT", "http");
        assert_eq!(
            HttpSettings::from_env(&env, "edm-relay")
                .unwrap_err()
                .to_string(),
            "PORT is not a port number (expected 0-65535)"
        );
    }

    #[test]
    fn origins_default_to_the_local_store_and_dashboard() {
        let s = HttpSettings::from_env(&MapEnv::default(), "edm-relay").unwrap();
        assert!(s.allowed_origins.allows("http://localhost:3000"));
        assert!(!s.allowed_origins.allows("https://evil.example"));
    }

    #[test]
    fn origins_are_configurable_and_star_is_explicit() {
        let env = MapEnv::default().with(
            "EDM_ALLOWED_ORIGINS",
            "https://shop.example/, https://dash.example",
        );
        let s = HttpSettings::from_env(&env, "edm-relay").unwrap();
        assert!(s.allowed_origins.allows("https://shop.example"));
        assert!(!s.allowed_origins.allows("http://localhost:3000"));
        let env = MapEnv::default().with("EDM_ALLOWED_ORIGINS", "*");
        assert_eq!(
            HttpSettings::from_env(&env, "edm-relay")
                .unwrap()
                .allowed_origins,
            AllowedOrigins::Any
        );
        for bad in [
            "https://a.example,shop",
            "https://a.example,https://b.example/path",
        ] {
            let env = MapEnv::default().with("EDM_ALLOWED_ORIGINS", bad);
            assert!(HttpSettings::from_env(&env, "edm-relay")
                .unwrap_err()
                .to_string()
                .contains("entry 2"));
        }
    }

    #[test]
    fn the_shutdown_timeout_fits_herokus_thirty_seconds_by_default() {
        let s = HttpSettings::from_env(&MapEnv::default(), "edm-ui").unwrap();
        assert_eq!(s.shutdown_timeout, Duration::from_secs(25));
        let env = MapEnv::default().with("EDM_SHUTDOWN_TIMEOUT_SECS", "0");
        assert_eq!(
            HttpSettings::from_env(&env, "edm-ui")
                .unwrap_err()
                .to_string(),
            "EDM_SHUTDOWN_TIMEOUT_SECS must be a whole number from 1 to 3600"
        );
    }

    #[test]
    fn service_urls_are_checked() {
        let env = MapEnv::default().with("EDM_RELAY_URL", "https://relay.example/");
        let url = service_url(&env, "EDM_RELAY_URL").unwrap();
        assert_eq!(url.as_str(), "https://relay.example");
        assert_eq!(
            service_url(&MapEnv::default(), "EDM_RELAY_URL")
                .unwrap()
                .as_str(),
            "http://localhost:5000"
        );
        let env = MapEnv::default().with("EDM_RELAY_URL", "relay");
        assert_eq!(
            service_url(&env, "EDM_RELAY_URL").unwrap_err().to_string(),
            "EDM_RELAY_URL is not an http(s) URL"
        );
    }

    #[test]
    fn origins_drop_path_query_and_fragment() {
        let env = MapEnv::default().with("EDM_STREAM_URL", "https://stream.example/api?x=1#f");
        let url = service_url(&env, "EDM_STREAM_URL").unwrap();
        assert_eq!(url.origin(), "https://stream.example");
        assert_eq!(url.websocket_origin(), "wss://stream.example");
        let local = service_url(&MapEnv::default(), "EDM_STREAM_URL").unwrap();
        assert_eq!(local.origin(), "http://localhost:5001");
        assert_eq!(local.websocket_origin(), "ws://localhost:5001");
    }
}
