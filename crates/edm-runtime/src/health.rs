//! `/health` and `/ready`, answered the same way by every service.
//!
//! - `GET /health`: the process serves; always `200 {"status":"ok","service":…}`.
//! - `GET /ready`: whether it can do its work now. `200 {"status":"ready",…}`
//!   or `503 {"status":"unavailable",…}`, with the checks that decided it
//!   (`"kafka":"reachable"`, `"database":"unreachable"`, …) beside `status`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

/// The outcome of a service's readiness check.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadyReport {
    /// Whether the service can do its work now.
    pub ready: bool,
    /// What was checked, as JSON fields shown beside `status`.
    pub checks: Map<String, Value>,
}

impl ReadyReport {
    /// A report; `checks` should be a JSON object (anything else is
    /// shown under `checks`).
    pub fn new(ready: bool, checks: Value) -> Self {
        let checks = match checks {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            other => Map::from_iter([("checks".to_owned(), other)]),
        };
        Self { ready, checks }
    }

    /// Ready, with nothing to check (a service that depends on nothing at
    /// run time is ready once it serves).
    pub fn always() -> Self {
        Self::new(true, Value::Null)
    }

    /// The `/ready` answer of `service`.
    pub fn into_response(self, service: &str) -> Response {
        let mut body = self.checks;
        let status = if self.ready { "ready" } else { "unavailable" };
        body.insert("status".to_owned(), json!(status));
        body.insert("service".to_owned(), json!(service));
        let status = if self.ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        (status, Json(Value::Object(body))).into_response()
    }
}

/// The `/health` answer of `service`.
pub fn live(service: &str) -> Response {
    Json(json!({"status": "ok", "service": service})).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(response: Response) -> (u16, Value) {
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn readiness_is_one_shape_with_the_checks_beside_the_status() {
        let report = ReadyReport::new(false, json!({"kafka": "unreachable"}));
        let (status, json) = body(report.into_response("edm-relay")).await;
        assert_eq!(status, 503);
        assert_eq!(
            json,
            json!({"status": "unavailable", "service": "edm-relay", "kafka": "unreachable"})
        );
        let (status, json) = body(ReadyReport::always().into_response("edm-ui")).await;
        assert_eq!(status, 200);
        assert_eq!(json, json!({"status": "ready", "service": "edm-ui"}));
    }
}
