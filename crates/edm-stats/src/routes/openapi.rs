//! The API described as OpenAPI, generated from the handlers' annotations
//! and served at `/openapi.json`.

use axum::Json;
use utoipa::OpenApi;

use super::{legacy, v1};

/// The stats API's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "edm-stats", description = "Click and page-load statistics of the EDM store, counted exactly once from Kafka."),
    paths(
        legacy::click_count, legacy::click_history,
        v1::totals, v1::clicks, v1::click_series, v1::pageloads, v1::pageload_series,
        v1::consumer, v1::dead_letters,
    ),
    tags((name = "original", description = "Endpoints of the original reference, same shapes"),
         (name = "v1", description = "The versioned API"))
)]
pub struct ApiDoc;

/// `GET /openapi.json`.
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
