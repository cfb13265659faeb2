//! The dashboard's static files, embedded in the binary so that a deployed
//! dashboard needs nothing beside it and works without internet access:
//! its own scripts (the page, and the stream client protocol other pages
//! may load too), styles and icon, and the vendored Socket.io client and
//! Chart.js from `static/vendor/` (byte-identical to the packages locked in
//! `web/package-lock.json`; `web/check-vendor.mjs` proves it).

use edm_runtime::assets::Asset;
use edm_runtime::embed_assets;

/// Every file the dashboard serves, from `static/`.
pub const ASSETS: [Asset; 8] = embed_assets![
    "dashboard.js",
    "edm-stream-client.js",
    "dashboard.css",
    "img/favicon.svg",
    "vendor/socket.io.min.js",
    "vendor/socket.io-client.LICENSE",
    "vendor/chart.umd.min.js",
    "vendor/chart.js.LICENSE.md",
];
