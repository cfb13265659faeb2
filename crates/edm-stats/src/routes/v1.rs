//! The versioned API: totals, ranges, time series, page loads, consumer
//! status and dead letters. Time ranges are `[from, to)` at minute
//! resolution (aggregates are kept per minute).

use axum::extract::{RawQuery, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::params::{iso, range, Bucket, Query};
use super::{ApiError, AppState};
use crate::consumer::excerpt::{as_text, cut_text};
use crate::consumer::status::StatusSnapshot;
use edm_events::device::DEVICE_TYPES;

/// All-time totals.
#[derive(Debug, Serialize, ToSchema)]
pub struct Totals {
    /// Clicks counted.
    pub clicks: i64,
    /// Page loads counted.
    pub pageloads: i64,
    /// Distinct buttons clicked.
    pub buttons: i64,
}

/// `GET /api/v1/totals`.
#[utoipa::path(get, path = "/api/v1/totals", tag = "v1",
    responses((status = 200, body = Totals), (status = 503, body = super::error::ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn totals(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Totals>, ApiError> {
    Query::parse(raw.as_deref(), &[])?;
    let (clicks, pageloads, buttons): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT COALESCE(SUM(clicks), 0)::bigint FROM click_counts),
                (SELECT COALESCE(SUM(loads), 0)::bigint FROM pageload_counts),
                (SELECT COUNT(DISTINCT button_id) FROM click_counts)",
    )
    .fetch_one(&state.pool)
    .await?;
    Ok(Json(Totals {
        clicks,
        pageloads,
        buttons,
    }))
}

/// Clicks of one button within a range.
#[derive(Debug, Serialize, ToSchema)]
pub struct ButtonClicks {
    /// The button's element id.
    pub button_id: String,
    /// Clicks in the range.
    pub clicks: i64,
}

/// Clicks per button within a range.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClicksInRange {
    /// Range start (inclusive).
    pub from: String,
    /// Range end (exclusive).
    pub to: String,
    /// Most clicked first (ties by button id), at most `limit`, after
    /// skipping `offset`.
    pub buttons: Vec<ButtonClicks>,
    /// The `offset` of the next page, when there are more buttons.
    pub next_offset: Option<i64>,
}

/// `GET /api/v1/clicks?from&to&limit&offset`.
#[utoipa::path(get, path = "/api/v1/clicks", tag = "v1",
    params(
        ("from" = Option<String>, Query, description = "RFC 3339 start (inclusive); default: all time"),
        ("to" = Option<String>, Query, description = "RFC 3339 end (exclusive); default: now"),
        ("limit" = Option<i64>, Query, description = "1 to 1000, default 100"),
        ("offset" = Option<i64>, Query, description = "buttons to skip, 0 to 1000000, default 0: pass the answer's next_offset for the next page"),
    ),
    responses((status = 200, body = ClicksInRange), (status = 400, body = super::error::ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn clicks(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<ClicksInRange>, ApiError> {
    let q = Query::parse(raw.as_deref(), &["from", "to", "limit", "offset"])?;
    let r = range(&q, None)?;
    let limit = q.number("limit", 100, 1, 1000)?;
    let offset = q.number("offset", 0, 0, 1_000_000)?;
    // One more than asked says whether there is a next page.
    let mut rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT button_id, SUM(clicks)::bigint AS n FROM click_counts
         WHERE bucket >= $1 AND bucket < $2
         GROUP BY button_id ORDER BY n DESC, button_id LIMIT $3 OFFSET $4",
    )
    .bind(r.from)
    .bind(r.to)
    .bind(limit + 1)
    .bind(offset)
    .fetch_all(&state.pool)
    .await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    Ok(Json(ClicksInRange {
        from: iso(r.from),
        to: iso(r.to),
        buttons: rows
            .into_iter()
            .map(|(button_id, clicks)| ButtonClicks { button_id, clicks })
            .collect(),
        next_offset: more.then_some(offset + limit),
    }))
}

/// One point of a time series.
#[derive(Debug, Serialize, ToSchema)]
pub struct Point {
    /// Start of the bucket, ISO-8601 UTC.
    pub start: String,
    /// Count in the bucket.
    pub count: i64,
}

/// A time series, one point per bucket (zero-filled).
#[derive(Debug, Serialize, ToSchema)]
pub struct Series {
    /// `minute`, `hour` or `day`.
    pub bucket: &'static str,
    /// Oldest first.
    pub points: Vec<Point>,
}

/// `GET /api/v1/clicks/series?bucket&from&to&button_id`.
#[utoipa::path(get, path = "/api/v1/clicks/series", tag = "v1",
    params(
        ("bucket" = Option<String>, Query, description = "minute, hour (default) or day"),
        ("from" = Option<String>, Query, description = "RFC 3339 start; default: 60 minutes, 48 hours or 30 days back"),
        ("to" = Option<String>, Query, description = "RFC 3339 end (exclusive); default: now"),
        ("button_id" = Option<String>, Query, description = "only this button"),
    ),
    responses((status = 200, body = Series), (status = 400, body = super::error::ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn click_series(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Series>, ApiError> {
    let q = Query::parse(raw.as_deref(), &["bucket", "from", "to", "button_id"])?;
    let bucket = Bucket::parse(&q)?;
    let r = range(&q, Some(bucket.default_span()))?;
    bucket.check(&r)?;
    let button = q.text("button_id")?;
    let rows: Vec<(DateTime<Utc>, i64)> = sqlx::query_as(
        "WITH agg AS (
             SELECT date_trunc($1, bucket, 'UTC') AS start, SUM(clicks) AS n FROM click_counts
             WHERE bucket >= date_trunc($1, $2::timestamptz, 'UTC') AND bucket < $3
               AND ($4::text IS NULL OR button_id = $4)
             GROUP BY 1),
         points AS (
             SELECT generate_series(date_trunc($1, $2::timestamptz, 'UTC'),
                                    $3::timestamptz - interval '1 microsecond',
                                    ('1 ' || $1)::interval) AS start)
         SELECT points.start, COALESCE(agg.n, 0)::bigint FROM points
         LEFT JOIN agg USING (start) ORDER BY points.start",
    )
    .bind(bucket.unit())
    .bind(r.from)
    .bind(r.to)
    .bind(button)
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(series(bucket, rows)))
}

fn series(bucket: Bucket, rows: Vec<(DateTime<Utc>, i64)>) -> Series {
    Series {
        bucket: bucket.unit(),
        points: rows
            .into_iter()
            .map(|(start, count)| Point {
                start: iso(start),
                count,
            })
            .collect(),
    }
}

/// Page loads of one device type.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceLoads {
    /// desktop, mobile, tablet, bot or other.
    pub device_type: String,
    /// Page loads.
    pub loads: i64,
}

/// Page loads within a range.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageLoads {
    /// Range start (inclusive).
    pub from: String,
    /// Range end (exclusive).
    pub to: String,
    /// All page loads in the range.
    pub total: i64,
    /// Per device type, most first.
    pub by_device: Vec<DeviceLoads>,
}

/// `GET /api/v1/pageloads?from&to`.
#[utoipa::path(get, path = "/api/v1/pageloads", tag = "v1",
    params(
        ("from" = Option<String>, Query, description = "RFC 3339 start (inclusive); default: all time"),
        ("to" = Option<String>, Query, description = "RFC 3339 end (exclusive); default: now"),
    ),
    responses((status = 200, body = PageLoads), (status = 400, body = super::error::ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn pageloads(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<PageLoads>, ApiError> {
    let q = Query::parse(raw.as_deref(), &["from", "to"])?;
    let r = range(&q, None)?;
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT device_type, SUM(loads)::bigint AS n FROM pageload_counts
         WHERE bucket >= $1 AND bucket < $2 GROUP BY device_type ORDER BY n DESC, device_type",
    )
    .bind(r.from)
    .bind(r.to)
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(PageLoads {
        from: iso(r.from),
        to: iso(r.to),
        total: rows.iter().map(|(_, n)| n).sum(),
        by_device: rows
            .into_iter()
            .map(|(device_type, loads)| DeviceLoads { device_type, loads })
            .collect(),
    }))
}

/// `GET /api/v1/pageloads/series?bucket&from&to&device_type`.
#[utoipa::path(get, path = "/api/v1/pageloads/series", tag = "v1",
    params(
        ("bucket" = Option<String>, Query, description = "minute, hour (default) or day"),
        ("from" = Option<String>, Query, description = "RFC 3339 start"),
        ("to" = Option<String>, Query, description = "RFC 3339 end (exclusive)"),
        ("device_type" = Option<String>, Query, description = "desktop, mobile, tablet, bot or other"),
    ),
    responses((status = 200, body = Series), (status = 400, body = super::error::ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn pageload_series(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Series>, ApiError> {
    let q = Query::parse(raw.as_deref(), &["bucket", "from", "to", "device_type"])?;
    let bucket = Bucket::parse(&q)?;
    let r = range(&q, Some(bucket.default_span()))?;
    bucket.check(&r)?;
    let device = match q.text("device_type")? {
        None => None,
        Some(d) => Some(
            DEVICE_TYPES
                .iter()
                .find(|t| **t == d)
                .copied()
                .ok_or_else(|| {
                    ApiError::parameter(
                        "device_type",
                        format!("must be one of {}", DEVICE_TYPES.join(", ")),
                    )
                })?,
        ),
    };
    let rows: Vec<(DateTime<Utc>, i64)> = sqlx::query_as(
        "WITH agg AS (
             SELECT date_trunc($1, bucket, 'UTC') AS start, SUM(loads) AS n FROM pageload_counts
             WHERE bucket >= date_trunc($1, $2::timestamptz, 'UTC') AND bucket < $3
               AND ($4::text IS NULL OR device_type = $4)
             GROUP BY 1),
         points AS (
             SELECT generate_series(date_trunc($1, $2::timestamptz, 'UTC'),
                                    $3::timestamptz - interval '1 microsecond',
                                    ('1 ' || $1)::interval) AS start)
         SELECT points.start, COALESCE(agg.n, 0)::bigint FROM points
         LEFT JOIN agg USING (start) ORDER BY points.start",
    )
    .bind(bucket.unit())
    .bind(r.from)
    .bind(r.to)
    .bind(device)
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(series(bucket, rows)))
}

/// `GET /api/v1/consumer`: this instance's consumer.
#[utoipa::path(get, path = "/api/v1/consumer", tag = "v1",
    responses((status = 200, body = StatusSnapshot)))]
pub async fn consumer(State(state): State<AppState>) -> Json<StatusSnapshot> {
    Json(state.status.snapshot())
}

/// A malformed event kept for inspection: an excerpt of it. The whole
/// record stays in Kafka at `topic`, `partition` and `offset` (for as long
/// as the topic's retention keeps it).
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetter {
    /// Sequence number.
    pub id: i64,
    /// Wire topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset: where the whole record is in Kafka.
    pub offset: i64,
    /// Why it was not counted (at most `EDM_STATS_DEAD_LETTER_EXCERPT_BYTES`,
    /// ending in "…" when cut).
    pub error: String,
    /// The payload's first `EDM_STATS_DEAD_LETTER_EXCERPT_BYTES` (1,024 by
    /// default) as text (invalid UTF-8 replaced); `null` for a record
    /// without one.
    pub payload: Option<String>,
    /// The whole payload's size in bytes; `null` without a payload.
    pub payload_bytes: Option<i64>,
    /// Whether `payload` is only the start of the payload.
    pub truncated: bool,
    /// When it was stored.
    pub received_at: String,
}

/// `GET /api/v1/dead-letters?limit&before`: newest first; the next page is
/// `before` the last id of this one.
///
/// Each dead letter holds an excerpt: at most
/// `EDM_STATS_DEAD_LETTER_EXCERPT_BYTES` (1,024 by default) of the payload
/// and of the reason, the payload's full size (`payload_bytes`) and
/// whether it was cut (`truncated`). The whole record stays in Kafka at
/// the dead letter's `topic`, `partition` and `offset`.
#[utoipa::path(get, path = "/api/v1/dead-letters", tag = "v1",
    params(
        ("limit" = Option<i64>, Query, description = "1 to 1000, default 100"),
        ("before" = Option<i64>, Query, description = "only ids below this one: pass the last id of a page for the next"),
    ),
    responses((status = 200, body = [DeadLetter]), (status = 400, body = super::error::ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn dead_letters(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<DeadLetter>>, ApiError> {
    let q = Query::parse(raw.as_deref(), &["limit", "before"])?;
    let limit = q.number("limit", 100, 1, 1000)?;
    let before = q.number("before", i64::MAX, 1, i64::MAX)?;
    let excerpt = state.dead_letter_excerpt_bytes;
    type Row = (
        i64,
        String,
        i32,
        i64,
        String,
        Option<Vec<u8>>,
        Option<i64>,
        DateTime<Utc>,
    );
    // The consumer stores excerpts already; cutting again here keeps every
    // page within the current setting, whatever it was when rows were
    // stored.
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, topic, partition, \"offset\", error, substring(payload FROM 1 FOR $3),
                COALESCE(payload_bytes, octet_length(payload))::bigint, received_at
         FROM dead_letters WHERE id < $2 ORDER BY id DESC LIMIT $1",
    )
    .bind(limit)
    .bind(before)
    .bind(excerpt as i32)
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(
        rows.into_iter()
            .map(
                |(id, topic, partition, offset, error, payload, payload_bytes, at)| {
                    let truncated = match (&payload, payload_bytes) {
                        (Some(p), Some(full)) => full > p.len() as i64,
                        _ => false,
                    };
                    DeadLetter {
                        id,
                        topic,
                        partition,
                        offset,
                        error: cut_text(error, excerpt),
                        payload: payload.map(|p| as_text(&p, truncated)),
                        payload_bytes,
                        truncated,
                        received_at: iso(at),
                    }
                },
            )
            .collect(),
    ))
}
