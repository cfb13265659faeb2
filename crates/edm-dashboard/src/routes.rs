//! The dashboard as a site: the page at `/` and the embedded static files
//! under `/static/` (`/health`, `/ready` and `/metrics` come with the
//! runtime; the browser talks to edm-stream and edm-stats itself, so the
//! dashboard's server is ready once it serves).

use askama::Template;
use edm_config::ServiceUrl;
use edm_runtime::{pages, Routes, Site, SiteSettings};

use crate::assets::ASSETS;

/// The dashboard, a site: its page reads the live stream from edm-stream
/// (`EDM_STREAM_URL`) and the history from edm-stats (`EDM_STATS_URL`).
pub struct Dashboard;

impl Site for Dashboard {
    const NAME: &'static str = crate::NAME;

    fn routes(settings: &SiteSettings<Self>) -> Routes {
        let (stream, stats) = (
            settings.url("EDM_STREAM_URL"),
            settings.url("EDM_STATS_URL"),
        );
        let page = DashboardPage {
            stream_url: stream.as_str(),
            stats_url: stats.as_str(),
        };
        pages::site(
            page,
            &ASSETS,
            &connect_sources(stream, stats),
            "edm_dashboard",
        )
    }
}

/// Where the page may connect: edm-stream over HTTP (Socket.io's polling)
/// and over WebSocket once it upgrades, and edm-stats.
fn connect_sources(stream: &ServiceUrl, stats: &ServiceUrl) -> [String; 3] {
    [stream.origin(), stream.websocket_origin(), stats.origin()]
}

/// The dashboard page. The URLs are HTML-escaped into `data-` attributes,
/// where the page's script reads them.
#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage<'a> {
    /// edm-stream's Socket.io address.
    stream_url: &'a str,
    /// edm-stats' REST API address.
    stats_url: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use edm_config::http::service_url;
    use edm_config::MapEnv;
    use edm_runtime::pages::content_security_policy;

    fn url(variable: &'static str, value: &str) -> ServiceUrl {
        service_url(&MapEnv::default().with(variable, value), variable).unwrap()
    }

    #[test]
    fn the_policy_allows_the_stream_over_http_and_websocket() {
        let policy = content_security_policy(&connect_sources(
            &url("EDM_STREAM_URL", "https://stream.example/x"),
            &url("EDM_STATS_URL", "http://localhost:5002"),
        ));
        let policy = policy.to_str().unwrap();
        assert!(
            policy.contains(
                "connect-src https://stream.example wss://stream.example http://localhost:5002;"
            ),
            "{policy}"
        );
        let policy = content_security_policy(&connect_sources(
            &url("EDM_STREAM_URL", "http://localhost:5001"),
            &url("EDM_STATS_URL", "https://stats.example"),
        ));
        assert!(policy.to_str().unwrap().contains(
            "connect-src http://localhost:5001 ws://localhost:5001 https://stats.example;"
        ));
    }
}
