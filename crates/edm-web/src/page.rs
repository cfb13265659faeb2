//! Askama templates as axum responses, and the pages' HTTP error type.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;

/// A rendered template: `HtmlPage(template)` is a response. A template that
/// fails to render becomes an opaque 500, with the cause logged.
pub struct HtmlPage<T>(pub T);

impl<T: Template> IntoResponse for HtmlPage<T> {
    fn into_response(self) -> Response {
        match self.0.render() {
            Ok(html) => Html(html).into_response(),
            Err(error) => PageError::Render(error).into_response(),
        }
    }
}

/// What can go wrong answering a request for a page or a file.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// No page or file at this path.
    #[error("not found")]
    NotFound,
    /// A template failed to render (a bug; logged, never shown).
    #[error("the page could not be rendered")]
    Render(#[source] askama::Error),
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = match &self {
            PageError::NotFound => StatusCode::NOT_FOUND,
            PageError::Render(cause) => {
                tracing::error!(error = %cause, "template rendering failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let body = Json(serde_json::json!({ "error": self.to_string() }));
        (status, body).into_response()
    }
}
