//! What a dead letter keeps of a record: at most
//! `EDM_STATS_DEAD_LETTER_EXCERPT_BYTES` of its payload and of the reason
//! it was not counted, and the payload's full size. Any producer with
//! access to the topics can write records as large as the topic allows
//! (1 MB by default); kept whole, a page of 1,000 dead letters was up to
//! 1 GB. The whole record stays in Kafka, at the topic, partition and
//! offset the dead letter names, for as long as the topic's retention.

/// The first bytes of a payload, and how large the whole payload was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Excerpt {
    /// At most the excerpt size; a payload is bytes, cut anywhere.
    pub bytes: Vec<u8>,
    /// The whole payload's size in bytes.
    pub full_bytes: usize,
}

impl Excerpt {
    /// The first `limit` bytes of `payload` (only they are copied).
    pub fn of(payload: &[u8], limit: usize) -> Self {
        Self {
            bytes: payload[..payload.len().min(limit)].to_vec(),
            full_bytes: payload.len(),
        }
    }

    /// Whether part of the payload was left out.
    pub fn truncated(&self) -> bool {
        self.full_bytes > self.bytes.len()
    }
}

/// Marks a reason that was cut.
const ELLIPSIS: &str = "…";

/// `text` in at most `limit` bytes: cut at a character boundary, ending in
/// "…" when it was cut.
pub fn cut_text(mut text: String, limit: usize) -> String {
    if text.len() <= limit {
        return text;
    }
    let mut end = limit.saturating_sub(ELLIPSIS.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    if ELLIPSIS.len() <= limit {
        text.push_str(ELLIPSIS);
    }
    text
}

/// A stored payload excerpt as text: invalid UTF-8 replaced, except a
/// character that the cut split at the end of a `truncated` excerpt, which
/// is left out rather than shown as a replacement character.
pub fn as_text(bytes: &[u8], truncated: bool) -> String {
    let bytes = if truncated {
        without_split_char(bytes)
    } else {
        bytes
    };
    String::from_utf8_lossy(bytes).into_owned()
}

/// `bytes` without an incomplete UTF-8 sequence at its end (at most the
/// first three bytes of a four-byte character).
fn without_split_char(bytes: &[u8]) -> &[u8] {
    let tail = bytes.len().saturating_sub(3);
    // The last byte that is not a continuation byte starts the last
    // character, if any does within three bytes of the end.
    match (tail..bytes.len()).rev().find(|&i| bytes[i] & 0xC0 != 0x80) {
        Some(start) => match std::str::from_utf8(&bytes[start..]) {
            // `error_len() == None`: valid so far, but the input ended.
            Err(e) if e.error_len().is_none() => &bytes[..start],
            _ => bytes,
        },
        None => bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_payload_keeps_its_first_bytes_and_its_size() {
        let payload = vec![b'{'; 1_000_000];
        let excerpt = Excerpt::of(&payload, 1024);
        assert_eq!(excerpt.bytes.len(), 1024);
        assert_eq!(excerpt.full_bytes, 1_000_000);
        assert!(excerpt.truncated());
        let small = Excerpt::of(b"{not json", 1024);
        assert_eq!(small.bytes, b"{not json");
        assert!(!small.truncated(), "a small payload is kept whole");
    }

    #[test]
    fn a_long_reason_is_cut_at_a_character_boundary_and_says_so() {
        let reason = "é".repeat(1000); // 2,000 bytes
        let cut = cut_text(reason, 64);
        assert!(cut.len() <= 64, "{} bytes", cut.len());
        assert!(cut.ends_with('…'), "{cut}");
        assert!(cut.starts_with("éé"));
        assert_eq!(cut_text("short".into(), 64), "short", "kept whole");
    }

    #[test]
    fn an_excerpt_reads_as_text_without_a_character_the_cut_split() {
        // "€" is three bytes; the cut kept two of them.
        let bytes = "ab€".as_bytes();
        assert_eq!(as_text(&bytes[..4], true), "ab");
        assert_eq!(as_text(bytes, true), "ab€");
        assert_eq!(
            as_text(b"\xff\xfe binary", false),
            "\u{fffd}\u{fffd} binary",
            "invalid UTF-8 is replaced, as before"
        );
        assert_eq!(as_text(&bytes[..4], false), "ab\u{fffd}");
    }
}
