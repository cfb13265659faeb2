//! Static files embedded in a web crate's binary, so a deployed service
//! needs nothing beside it: each file's path, content type and bytes.
//! [`embed_assets!`](crate::embed_assets) embeds files from the crate's
//! `static/` folder, each with the content type its extension says.

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

/// `Content-Type` of scripts.
pub const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
/// `Content-Type` of style sheets.
pub const CSS: &str = "text/css; charset=utf-8";
/// `Content-Type` of SVG pictures.
pub const SVG: &str = "image/svg+xml";
/// `Content-Type` of plain text (licences).
pub const TEXT: &str = "text/plain; charset=utf-8";

/// The `Content-Type` a file is served with, from its extension: scripts,
/// style sheets, SVG pictures, and plain text for anything else (licences).
pub const fn content_type_of(path: &str) -> &'static str {
    if ends_with(path, ".js") {
        JAVASCRIPT
    } else if ends_with(path, ".css") {
        CSS
    } else if ends_with(path, ".svg") {
        SVG
    } else {
        TEXT
    }
}

/// `str::ends_with`, usable in constants.
const fn ends_with(text: &str, suffix: &str) -> bool {
    let (text, suffix) = (text.as_bytes(), suffix.as_bytes());
    if suffix.len() > text.len() {
        return false;
    }
    let start = text.len() - suffix.len();
    let mut i = 0;
    while i < suffix.len() {
        if text[start + i] != suffix[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// An array of [`Asset`]s embedded from the calling crate's `static/`
/// folder: `embed_assets!["store.js", "img/favicon.svg"]`.
#[macro_export]
macro_rules! embed_assets {
    [$($path:literal),+ $(,)?] => {
        [$($crate::assets::Asset {
            path: $path,
            content_type: $crate::assets::content_type_of($path),
            bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/static/", $path)),
        }),+]
    };
}

/// The file at `path` among `assets`, if there is one.
pub fn find(assets: &'static [Asset], path: &str) -> Option<&'static Asset> {
    assets.iter().find(|asset| asset.path == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_found_by_exact_path() {
        static FILES: [Asset; 1] = [Asset {
            path: "a.js",
            content_type: JAVASCRIPT,
            bytes: b"x",
        }];
        assert_eq!(find(&FILES, "a.js").map(|a| a.bytes), Some(&b"x"[..]));
        assert!(find(&FILES, "../a.js").is_none());
    }

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(content_type_of("vendor/socket.io.min.js"), JAVASCRIPT);
        assert_eq!(content_type_of("store.css"), CSS);
        assert_eq!(content_type_of("img/favicon.svg"), SVG);
        assert_eq!(content_type_of("vendor/chart.js.LICENSE.md"), TEXT);
        assert_eq!(content_type_of("js"), TEXT);
    }
}
