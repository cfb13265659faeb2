//! The dashboard's static files, embedded in the binary so that a deployed
//! dashboard needs nothing beside it and works without internet access:
//! its own script, styles and icon, and the vendored Socket.io client and
//! Chart.js from `static/vendor/` (byte-identical to the packages locked in
//! `web/package-lock.json`; `web/check-vendor.mjs` proves it).

use edm_web::assets::{Asset, CSS, JAVASCRIPT, SVG, TEXT};

/// Every file the dashboard serves.
pub const ASSETS: [Asset; 7] = [
    Asset {
        path: "dashboard.js",
        content_type: JAVASCRIPT,
        bytes: include_bytes!("../static/dashboard.js"),
    },
    Asset {
        path: "dashboard.css",
        content_type: CSS,
        bytes: include_bytes!("../static/dashboard.css"),
    },
    Asset {
        path: "img/favicon.svg",
        content_type: SVG,
        bytes: include_bytes!("../static/img/favicon.svg"),
    },
    Asset {
        path: "vendor/socket.io.min.js",
        content_type: JAVASCRIPT,
        bytes: include_bytes!("../static/vendor/socket.io.min.js"),
    },
    Asset {
        path: "vendor/socket.io-client.LICENSE",
        content_type: TEXT,
        bytes: include_bytes!("../static/vendor/socket.io-client.LICENSE"),
    },
    Asset {
        path: "vendor/chart.umd.min.js",
        content_type: JAVASCRIPT,
        bytes: include_bytes!("../static/vendor/chart.umd.min.js"),
    },
    Asset {
        path: "vendor/chart.js.LICENSE.md",
        content_type: TEXT,
        bytes: include_bytes!("../static/vendor/chart.js.LICENSE.md"),
    },
];

/// The embedded file at `path`, if there is one.
pub fn find(path: &str) -> Option<&'static Asset> {
    edm_web::assets::find(&ASSETS, path)
}
