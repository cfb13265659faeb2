//! The dashboard's static files, embedded in the binary so that a deployed
//! dashboard needs nothing beside it and works without internet access:
//! its own script, styles and icon, and the vendored Socket.io client and
//! Chart.js from `static/vendor/` (byte-identical to the packages locked in
//! `web/package-lock.json`; `web/check-vendor.mjs` proves it).

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
const TEXT: &str = "text/plain; charset=utf-8";

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
    ASSETS.iter().find(|asset| asset.path == path)
}
