//! A page load's device type, derived from its user agent string. Coarse on
//! purpose: enough to tell desktop from phone in a chart. One rule for
//! every reader: edm-stats' `pageload_counts` and edm-trending's page loads
//! per minute classify alike.

/// Device types, as edm-stats stores them (`pageload_counts.device_type`)
/// and edm-trending counts them.
pub const DEVICE_TYPES: [&str; 5] = ["desktop", "mobile", "tablet", "bot", "other"];

/// Classifies a user agent as desktop, mobile, tablet, bot or other.
pub fn device_type(user_agent: &str) -> &'static str {
    let ua = user_agent.to_ascii_lowercase();
    let has = |needle: &str| ua.contains(needle);
    if ua.trim().is_empty() {
        "other"
    } else if has("bot")
        || has("crawler")
        || has("spider")
        || has("headlesschrome") && has("lighthouse")
    {
        "bot"
    } else if has("ipad") || has("tablet") || (has("android") && !has("mobile")) {
        "tablet"
    } else if has("mobi") || has("iphone") || has("android") {
        "mobile"
    } else if has("windows") || has("macintosh") || has("x11") || has("linux") || has("cros") {
        "desktop"
    } else {
        "other"
    }
}

#[cfg(test)]
mod tests {
    use super::device_type;

    #[test]
    fn classifies_common_user_agents() {
        let cases = [
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36", "desktop"),
            ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 Version/17.1 Safari/605.1.15", "desktop"),
            ("Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0", "desktop"),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148", "mobile"),
            ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36", "mobile"),
            ("Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15", "tablet"),
            ("Mozilla/5.0 (Linux; Android 13; SM-X200) AppleWebKit/537.36 Chrome/120.0 Safari/537.36", "tablet"),
            ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "bot"),
            ("curl/8.4.0", "other"),
            ("", "other"),
        ];
        for (ua, want) in cases {
            assert_eq!(device_type(ua), want, "{ua}");
        }
    }
}
