//! The store as a visitor's browser meets it: the real application on a free
//! port, asked over HTTP.

use edm_config::MapEnv;
use edm_runtime::Pages;
use edm_runtime::ServiceSettings;
use edm_testkit::html::attribute_values;
use edm_testkit::service::TestService;
use edm_ui::assets::ASSETS;
use edm_ui::catalog::{all_items, Product};
use edm_ui::{Settings, Store};
use reqwest::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE};

const RELAY_URL: &str = "https://relay.example.test";

/// A store running on a free port, sending events to the test relay URL;
/// stops when dropped.
async fn spawn_store() -> TestService<Pages<Store>> {
    TestService::spawn(MapEnv::default().with("EDM_RELAY_URL", format!("{RELAY_URL}/"))).await
}

#[tokio::test]
async fn the_page_has_a_button_for_every_product_and_kit() {
    let store = spawn_store().await;
    let response = store.get("/").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
    let html = response.text().await.unwrap();

    let button_ids = attribute_values(&html, "button", "id");
    for product in all_items() {
        assert!(
            button_ids.contains(&product.button_id()),
            "no button with id {:?} in {button_ids:?}",
            product.button_id()
        );
        assert!(
            html.contains(&product.price()),
            "no price for {}",
            product.name
        );
    }
    // The ids the reference store used, with their apostrophes, commas and dots.
    for id in [
        "areopress-coffee-maker",
        "the-camper's-kit",
        "bunum-wo-aa,-papua-new-guinea",
        "msr-reactor-2.5l-stove-system",
    ] {
        assert!(button_ids.iter().any(|b| b == id), "missing button {id}");
    }
    // Browse buttons exist too, and every button id is unique.
    assert!(button_ids.iter().any(|b| b == "shop-coffee"));
    let mut unique = button_ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), button_ids.len(), "duplicate button ids");
}

#[tokio::test]
async fn the_page_sends_events_to_the_configured_relay() {
    let store = spawn_store().await;
    let response = store.get("/").await;
    let policy = response.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    let html = response.text().await.unwrap();

    let relay_urls = attribute_values(&html, "body", "data-relay-url");
    assert_eq!(relay_urls, vec![RELAY_URL.to_owned()]);
    // The browser may talk to the relay, and load scripts only from the store.
    assert!(
        policy.contains(&format!("connect-src {RELAY_URL};")),
        "{policy}"
    );
    assert!(policy.contains("script-src 'self';"), "{policy}");
    let scripts = attribute_values(&html, "script", "src");
    assert_eq!(scripts, vec!["/static/store.js".to_owned()]);
    assert_eq!(
        html.matches("<script").count(),
        scripts.len(),
        "inline script"
    );
}

#[tokio::test]
async fn every_static_file_is_served_with_its_content_type() {
    let store = spawn_store().await;
    for asset in ASSETS {
        let response = store.get(&format!("/static/{}", asset.path)).await;
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
    let script = store.get("/static/store.js").await.text().await.unwrap();
    for endpoint in [
        "/produceClickMessage",
        "/producePageLoad",
        "Idempotency-Key",
    ] {
        assert!(script.contains(endpoint), "store.js never uses {endpoint}");
    }
}

#[tokio::test]
async fn the_page_links_only_to_files_the_store_serves() {
    let store = spawn_store().await;
    let html = store.get("/").await.text().await.unwrap();
    let links = attribute_values(&html, "link", "href")
        .into_iter()
        .chain(attribute_values(&html, "script", "src"));
    for path in links {
        assert!(path.starts_with("/static/"), "external resource {path}");
        assert_eq!(store.get(&path).await.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let store = spawn_store().await;
    for path in ["/health", "/ready"] {
        let response = store.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["service"], "edm-ui");
    }
}

#[tokio::test]
async fn unknown_paths_are_a_json_404() {
    let store = spawn_store().await;
    for path in ["/nope", "/static/..%2FCargo.toml", "/static/missing.js"] {
        let response = store.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], "not found");
    }
}

#[test]
fn a_store_without_configuration_uses_the_local_relay() {
    let settings = Settings::from_env(&MapEnv::default()).unwrap();
    assert_eq!(*settings.url("EDM_RELAY_URL"), "http://localhost:5000");
    assert_eq!(settings.http.port, 3000);
    let _: Vec<&Product> = all_items().collect();
}

#[test]
fn a_bad_relay_url_is_named() {
    let env = MapEnv::default().with("EDM_RELAY_URL", "localhost:5000");
    assert_eq!(
        Settings::from_env(&env).err().unwrap().to_string(),
        "EDM_RELAY_URL is not an http(s) URL"
    );
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    let app = spawn_store().await;
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
