//! The store's static files (script, style sheet, pictures), embedded in
//! the binary so that a deployed store needs nothing beside it.

/// One embedded file, served under `/static/<path>`.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// Path below `/static/`.
    pub path: &'static str,
    /// The `Content-Type` it is served with.
    pub content_type: &'static str,
    /// The file's bytes.
    pub bytes: &'static [u8],
}

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// Every file the store serves.
pub const ASSETS: [Asset; 3] = [
    Asset {
        path: "store.js",
        content_type: JAVASCRIPT,
        bytes: include_bytes!("../static/store.js"),
    },
    Asset {
        path: "store.css",
        content_type: CSS,
        bytes: include_bytes!("../static/store.css"),
    },
    Asset {
        path: "img/favicon.svg",
        content_type: SVG,
        bytes: include_bytes!("../static/img/favicon.svg"),
    },
];

/// The embedded file at `path`, if there is one.
pub fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|asset| asset.path == path)
}
