//! Static files embedded in a web crate's binary, so a deployed service
//! needs nothing beside it: each file's path, content type and bytes.

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

/// The file at `path` among `assets`, if there is one.
pub fn find(assets: &'static [Asset], path: &str) -> Option<&'static Asset> {
    assets.iter().find(|asset| asset.path == path)
}

/// `scheme://host[:port]` of a URL: what a Content-Security-Policy source
/// should name, since a source with a path matches only that path.
pub fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let end = url[after_scheme..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| after_scheme + i);
    &url[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_origin_drops_path_query_and_fragment() {
        assert_eq!(
            origin_of("https://relay.example/api?x=1"),
            "https://relay.example"
        );
        assert_eq!(origin_of("http://localhost:5000"), "http://localhost:5000");
        assert_eq!(origin_of("http://h:1#f"), "http://h:1");
    }

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
}
