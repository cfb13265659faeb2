//! The event catalog over HTTP: the JSON Schema of each topic's records, as
//! `edm_events::catalog` generates them (the same text as the files under
//! `docs/events/`), so a team writing a producer or a consumer can fetch the
//! contract from the running relay. The catalog lists every topic, also
//! `edm-trending`, `edm-trending-counts` and `edm-trending-sample`, which
//! the relay never accepts (edm-trending writes them).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use edm_config::Topic;
use edm_events::catalog;
use serde::Serialize;

use super::AppState;
use crate::error::ErrorBody;

/// The media type of a JSON Schema document.
const SCHEMA_MEDIA_TYPE: &str = "application/schema+json";

/// `GET /api/v1/schemas`: every topic of the catalog.
#[derive(Debug, Serialize)]
pub struct Catalog {
    /// One entry per topic.
    pub schemas: Vec<CatalogEntry>,
}

/// One topic in the catalog.
#[derive(Debug, Serialize)]
pub struct CatalogEntry {
    /// The logical topic, e.g. `edm-ui-click`.
    pub topic: &'static str,
    /// Whether this relay accepts events for it (`KAFKA_TOPIC`; never for
    /// edm-trending's topics).
    pub accepted: bool,
    /// Where its schema is served.
    pub schema: String,
    /// The original single-event endpoint for it; `null` for a topic no
    /// relay writes (edm-trending's).
    pub endpoint: Option<&'static str>,
}

/// Lists the topics and where their schemas are.
#[tracing::instrument(skip_all)]
pub async fn list(State(state): State<Arc<AppState>>) -> Json<Catalog> {
    let schemas = Topic::ALL
        .into_iter()
        .map(|topic| CatalogEntry {
            topic: topic.name(),
            accepted: state.settings.topics.contains(&topic),
            schema: format!("/api/v1/schemas/{topic}"),
            endpoint: match topic {
                Topic::Click => Some("/produceClickMessage"),
                Topic::PageLoad => Some("/producePageLoad"),
                Topic::Trending | Topic::Counts | Topic::Sample => None,
            },
        })
        .collect();
    Json(Catalog { schemas })
}

/// One topic's schema; 404 naming the known topics for any other name.
#[tracing::instrument]
pub async fn one(Path(topic): Path<String>) -> Response {
    match topic.parse::<Topic>() {
        Ok(topic) => (
            [(header::CONTENT_TYPE, SCHEMA_MEDIA_TYPE)],
            catalog::schema_text(topic),
        )
            .into_response(),
        Err(_) => (
            StatusCode::NOT_FOUND,
            Json(ErrorBody {
                error: "unknown_topic",
                message: format!(
                    "no schema for this topic; the catalog has {}",
                    Topic::ALL.map(Topic::name).join(", ")
                ),
                field: Some("topic".into()),
                event_id: None,
            }),
        )
            .into_response(),
    }
}
