//! Query parameters, parsed by hand so every error names its parameter and
//! values reach SQL only as typed bind parameters, never as text.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

use super::ApiError;

/// Parsed query string: each parameter at most once, only known names.
pub struct Query(HashMap<String, String>);

impl Query {
    /// Parses `raw`, refusing names outside `allowed` and repeated names.
    pub fn parse(raw: Option<&str>, allowed: &[&str]) -> Result<Self, ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
            .map_err(|_| ApiError::parameter("query", "is not a valid query string"))?;
        let mut map = HashMap::new();
        for (name, value) in pairs {
            if !allowed.contains(&name.as_str()) {
                let shown: String = name.chars().take(40).collect();
                return Err(ApiError::parameter(
                    &shown,
                    format!(
                        "is not a parameter of this endpoint (allowed: {})",
                        allowed.join(", ")
                    ),
                ));
            }
            if map.insert(name.clone(), value).is_some() {
                return Err(ApiError::parameter(&name, "is given more than once"));
            }
        }
        Ok(Self(map))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// An RFC 3339 timestamp.
    pub fn time(&self, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        self.get(name)
            .map(|v| {
                DateTime::parse_from_rfc3339(v)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| {
                        ApiError::parameter(
                            name,
                            "must be an RFC 3339 timestamp, e.g. 2026-11-22T00:00:00Z",
                        )
                    })
            })
            .transpose()
    }

    /// A whole number in `min..=max`, or `default`.
    pub fn number(&self, name: &str, default: i64, min: i64, max: i64) -> Result<i64, ApiError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| {
                    ApiError::parameter(name, format!("must be a whole number from {min} to {max}"))
                }),
        }
    }

    /// A free-text filter of at most 256 characters.
    pub fn text(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.get(name) {
            Some(v) if v.is_empty() || v.chars().count() > 256 => {
                Err(ApiError::parameter(name, "must be 1 to 256 characters"))
            }
            other => Ok(other.map(str::to_owned)),
        }
    }

    /// One of `choices`, or `default`.
    pub fn choice(
        &self,
        name: &str,
        choices: &[&'static str],
        default: &'static str,
    ) -> Result<&'static str, ApiError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => choices.iter().find(|c| **c == v).copied().ok_or_else(|| {
                ApiError::parameter(name, format!("must be one of {}", choices.join(", ")))
            }),
        }
    }
}

/// A time range `[from, to)`.
#[derive(Debug, Clone, Copy)]
pub struct Range {
    /// Inclusive start.
    pub from: DateTime<Utc>,
    /// Exclusive end.
    pub to: DateTime<Utc>,
}

/// `from`/`to` with defaults: `to` now, `from` = `to` − `default_span`
/// (or the epoch when `default_span` is `None`). `from` must precede `to`.
pub fn range(q: &Query, default_span: Option<Duration>) -> Result<Range, ApiError> {
    let to = q
        .time("to")?
        .unwrap_or_else(|| Utc::now() + Duration::minutes(1));
    let from = match (q.time("from")?, default_span) {
        (Some(from), _) => from,
        (None, Some(span)) => to - span,
        (None, None) => DateTime::<Utc>::UNIX_EPOCH,
    };
    if from >= to {
        return Err(ApiError::parameter("from", "must be earlier than to"));
    }
    Ok(Range { from, to })
}

/// Time-series buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// One point per minute.
    Minute,
    /// One point per hour.
    Hour,
    /// One point per UTC day.
    Day,
}

/// Most points one series request may return.
pub const MAX_POINTS: i64 = 10_000;

impl Bucket {
    /// `bucket`: minute, hour or day (default hour).
    pub fn parse(q: &Query) -> Result<Self, ApiError> {
        Ok(
            match q.choice("bucket", &["minute", "hour", "day"], "hour")? {
                "minute" => Bucket::Minute,
                "day" => Bucket::Day,
                _ => Bucket::Hour,
            },
        )
    }

    /// The unit for Postgres' `date_trunc`.
    pub fn unit(self) -> &'static str {
        match self {
            Bucket::Minute => "minute",
            Bucket::Hour => "hour",
            Bucket::Day => "day",
        }
    }

    /// Length of one bucket.
    pub fn length(self) -> Duration {
        match self {
            Bucket::Minute => Duration::minutes(1),
            Bucket::Hour => Duration::hours(1),
            Bucket::Day => Duration::days(1),
        }
    }

    /// The span shown when `from` is not given: 60 minutes, 48 hours, 30 days.
    pub fn default_span(self) -> Duration {
        match self {
            Bucket::Minute => Duration::minutes(60),
            Bucket::Hour => Duration::hours(48),
            Bucket::Day => Duration::days(30),
        }
    }

    /// Refuses ranges that would produce more than [`MAX_POINTS`] points.
    pub fn check(self, range: &Range) -> Result<(), ApiError> {
        let points = (range.to - range.from).num_seconds() / self.length().num_seconds() + 1;
        if points > MAX_POINTS {
            return Err(ApiError::parameter(
                "from",
                format!(
                    "the range holds {points} {} buckets; at most {MAX_POINTS} per request",
                    self.unit()
                ),
            ));
        }
        Ok(())
    }
}

/// An ISO-8601 UTC timestamp with milliseconds, as the original API gave it.
pub fn iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}
