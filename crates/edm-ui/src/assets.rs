//! The store's static files (script, style sheet, pictures), embedded in
//! the binary so that a deployed store needs nothing beside it.

use edm_web::assets::{Asset, CSS, JAVASCRIPT, SVG};

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
    edm_web::assets::find(&ASSETS, path)
}
