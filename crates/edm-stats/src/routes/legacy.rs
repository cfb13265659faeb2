//! The original reference's two endpoints, same paths and shapes.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::params::iso;
use super::{ApiError, AppState};

/// Clicks of one button, all time.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClickCount {
    /// The button's element id.
    pub button_id: String,
    /// Its clicks.
    pub sum: i64,
}

/// Clicks on one UTC day.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClickDay {
    /// Start of the day, ISO-8601 UTC.
    #[serde(rename = "Day")]
    pub day: String,
    /// Clicks that day.
    pub clicks: i64,
}

/// Clicks per button, most clicked first.
#[utoipa::path(get, path = "/api/clickCount", tag = "original",
    responses((status = 200, description = "One row per button", body = [ClickCount])))]
#[tracing::instrument(skip_all)]
pub async fn click_count(State(state): State<AppState>) -> Result<Json<Vec<ClickCount>>, ApiError> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT button_id, SUM(clicks)::bigint AS sum FROM click_counts
         GROUP BY button_id ORDER BY sum DESC, button_id",
    )
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(
        rows.into_iter()
            .map(|(button_id, sum)| ClickCount { button_id, sum })
            .collect(),
    ))
}

/// Clicks per UTC day, oldest first.
#[utoipa::path(get, path = "/api/clickHistory", tag = "original",
    responses((status = 200, description = "One row per day with clicks", body = [ClickDay])))]
#[tracing::instrument(skip_all)]
pub async fn click_history(State(state): State<AppState>) -> Result<Json<Vec<ClickDay>>, ApiError> {
    let rows: Vec<(DateTime<Utc>, i64)> = sqlx::query_as(
        "SELECT date_trunc('day', bucket, 'UTC') AS day, SUM(clicks)::bigint FROM click_counts
         GROUP BY day ORDER BY day",
    )
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(
        rows.into_iter()
            .map(|(day, clicks)| ClickDay {
                day: iso(day),
                clicks,
            })
            .collect(),
    ))
}
