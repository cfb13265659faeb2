//! The dashboard as a browser meets it: the real application on a free
//! port, asked over HTTP.

use edm_config::MapEnv;
use edm_dashboard::assets::ASSETS;
use edm_dashboard::{Dashboard, Settings};
use edm_runtime::{Pages, ServiceSettings};
use edm_testkit::html::attribute_values;
use edm_testkit::service::TestService;
use reqwest::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE};

const STREAM_URL: &str = "https://stream.example.test";
const STATS_URL: &str = "https://stats.example.test";

/// A dashboard running on a free port; stops when dropped.
type TestDashboard = TestService<Pages<Dashboard>>;

/// A dashboard pointed at the test's stream and stats URLs.
async fn spawn_dashboard() -> TestDashboard {
    TestDashboard::spawn(
        MapEnv::default()
            .with("EDM_STREAM_URL", STREAM_URL)
            .with("EDM_STATS_URL", format!("{STATS_URL}/")),
    )
    .await
}

/// The dashboard page's HTML.
async fn page(dashboard: &TestDashboard) -> String {
    let response = dashboard.get("/").await;
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

#[tokio::test]
async fn the_page_reaches_the_configured_stream_and_stats_services() {
    let dashboard = spawn_dashboard().await;
    let response = dashboard.get("/").await;
    assert_eq!(response.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
    let policy = response.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    let html = response.text().await.unwrap();

    assert_eq!(
        attribute_values(&html, "body", "data-stream-url"),
        vec![STREAM_URL]
    );
    assert_eq!(
        attribute_values(&html, "body", "data-stats-url"),
        vec![STATS_URL]
    );
    // The browser may reach exactly these, including Socket.io's WebSocket.
    assert!(
        policy.contains(&format!(
            "connect-src {STREAM_URL} wss://stream.example.test {STATS_URL};"
        )),
        "{policy}"
    );
}

#[tokio::test]
async fn the_page_has_every_chart_the_log_and_the_connection_state() {
    let dashboard = spawn_dashboard().await;
    let html = page(&dashboard).await;
    let canvases = attribute_values(&html, "canvas", "id");
    assert_eq!(
        canvases,
        [
            "history-by-product",
            "live-by-product",
            "history-by-day",
            "live-rate"
        ]
    );
    for id in [
        "event-log",
        "stream-state",
        "stats-state",
        "live-click-total",
        "history-click-total",
        "trending-5m-list",
        "trending-1m-list",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "no element #{id}");
    }
    // With no data yet, the page says so rather than showing blank boxes.
    assert!(html.contains("No clicks recorded yet."));
    assert!(html.contains("Trending now"));
    assert!(html.contains("No trending data yet"));
    assert!(html.contains("Waiting for events…"));
    assert!(html.contains("connecting…"));
}

#[tokio::test]
async fn configured_urls_are_escaped_into_the_page() {
    let hostile = "https://stats.example.test/\"><script>alert(1)</script>";
    let dashboard = TestDashboard::spawn(MapEnv::default().with("EDM_STATS_URL", hostile)).await;
    let html = page(&dashboard).await;
    assert!(
        !html.contains("<script>alert(1)"),
        "markup leaked into the page"
    );
    assert_eq!(
        attribute_values(&html, "body", "data-stats-url"),
        vec![hostile]
    );
}

#[tokio::test]
async fn the_page_runs_only_scripts_the_dashboard_serves_itself() {
    let dashboard = spawn_dashboard().await;
    let html = page(&dashboard).await;
    let scripts = attribute_values(&html, "script", "src");
    assert_eq!(
        scripts,
        [
            "/static/vendor/socket.io.min.js",
            "/static/vendor/chart.umd.min.js",
            "/static/edm-stream-client.js",
            "/static/dashboard.js"
        ]
    );
    assert_eq!(
        html.matches("<script").count(),
        4,
        "inline script in the page"
    );
    let policy = dashboard.get("/").await.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.contains("script-src 'self';"), "{policy}");
    // Works offline: every script, style and icon comes from this server.
    let resources = scripts
        .into_iter()
        .chain(attribute_values(&html, "link", "href"))
        .chain(attribute_values(&html, "img", "src"));
    for path in resources {
        assert!(path.starts_with("/static/"), "external resource {path}");
        let response = dashboard.get(&path).await;
        assert_eq!(response.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn every_static_file_is_served_with_its_content_type() {
    let dashboard = spawn_dashboard().await;
    for asset in ASSETS {
        let response = dashboard.get(&format!("/static/{}", asset.path)).await;
        assert_eq!(response.status(), 200, "{}", asset.path);
        assert_eq!(
            response.headers()[CONTENT_TYPE],
            asset.content_type,
            "{}",
            asset.path
        );
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        assert_eq!(
            response.bytes().await.unwrap(),
            asset.bytes,
            "{}",
            asset.path
        );
    }
}

#[tokio::test]
async fn the_scripts_never_turn_event_data_into_markup() {
    let dashboard = spawn_dashboard().await;
    let mut scripts = String::new();
    for path in ["/static/dashboard.js", "/static/edm-stream-client.js"] {
        scripts.push_str(&dashboard.get(path).await.text().await.unwrap());
    }
    for sink in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        "createContextualFragment",
        "DOMParser",
    ] {
        assert!(!scripts.contains(sink), "a dashboard script uses {sink}");
    }
    assert!(scripts.contains("textContent"));
    // The live data arrives as Socket.io events `event`, `trending`,
    // `counts` and `sample`, through the stream client, WebSocket only.
    assert!(scripts.contains("event: onStreamEvent"));
    assert!(scripts.contains("trending: onTrendingRecord"));
    assert!(scripts.contains("counts: onCountsRecord"));
    assert!(scripts.contains("sample: onSampleRecord"));
    assert!(scripts.contains(
        "for (const kind of ['event', 'trending', 'counts', 'sample']) socket.on(kind, track(handlers[kind]));"
    ));
    assert!(scripts.contains("transports: ['websocket']"));
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let dashboard = spawn_dashboard().await;
    for path in ["/health", "/ready"] {
        let response = dashboard.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["service"], "edm-dashboard");
    }
}

#[tokio::test]
async fn unknown_paths_are_a_json_404() {
    let dashboard = spawn_dashboard().await;
    for path in ["/nope", "/static/..%2Fassets.rs", "/static/chart.js"] {
        let response = dashboard.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], "not found");
    }
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    let app = spawn_dashboard().await;
    assert_eq!(app.get("/").await.status(), 200);
    assert_eq!(app.get("/").await.status(), 200);
    assert_eq!(app.get("/no/such/page").await.status(), 404);
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let metrics = response.text().await.unwrap();
    for line in [
        r#"http_requests_total{method="GET",route="/",status="200"} 2"#,
        r#"http_request_duration_seconds_count{method="GET",route="/",status="200"} 2"#,
        r#"http_requests_total{method="GET",route="unmatched",status="404"} 1"#,
    ] {
        assert!(metrics.contains(line), "missing {line} in:\n{metrics}");
    }
    assert!(
        !metrics.contains("/no/such/page"),
        "raw paths are not labels"
    );
}

#[test]
fn defaults_to_the_local_services_on_port_3001() {
    let settings = Settings::from_env(&MapEnv::default()).unwrap();
    assert_eq!(settings.http.port, 3001);
    assert_eq!(*settings.url("EDM_STREAM_URL"), "http://localhost:5001");
    assert_eq!(*settings.url("EDM_STATS_URL"), "http://localhost:5002");
}

#[test]
fn bad_urls_are_named() {
    let env = MapEnv::default().with("EDM_STATS_URL", "stats.example");
    assert_eq!(
        Settings::from_env(&env).err().unwrap().to_string(),
        "EDM_STATS_URL is not an http(s) URL"
    );
    let env = MapEnv::default().with("EDM_STREAM_URL", "ws://stream.example");
    assert_eq!(
        Settings::from_env(&env).err().unwrap().to_string(),
        "EDM_STREAM_URL is not an http(s) URL"
    );
}
