//! The store's static files (script, style sheet, pictures), embedded in
//! the binary so that a deployed store needs nothing beside it.

use edm_runtime::assets::Asset;
use edm_runtime::embed_assets;

/// Every file the store serves, from `static/`.
pub const ASSETS: [Asset; 3] = embed_assets!["store.js", "store.css", "img/favicon.svg"];
