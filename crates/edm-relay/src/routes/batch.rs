//! A batch body's items, read no further than the batch limit: the JSON
//! array is walked item by item, each kept as its raw text, and reading
//! stops at the first item past `EDM_RELAY_MAX_BATCH_EVENTS`. An 8 MiB body
//! of `[0,0,…]` (about four million items) is refused after 5,001 of them,
//! without a list of four million entries.

use std::cell::Cell;

use serde::de::{self, DeserializeSeed, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::error::ApiError;

/// The items of `body`, a JSON array of at most `max` items; otherwise
/// [`ApiError::BatchTooLarge`], or [`ApiError::InvalidBatch`] saying what
/// is wrong with the JSON.
pub fn batch_items(body: &[u8], max: usize) -> Result<Vec<&RawValue>, ApiError> {
    let over = Cell::new(false);
    let mut json = serde_json::Deserializer::from_slice(body);
    let items = BoundedItems { max, over: &over }
        .deserialize(&mut json)
        .and_then(|items| json.end().map(|()| items));
    match items {
        Ok(items) => Ok(items),
        Err(_) if over.get() => Err(ApiError::BatchTooLarge { max }),
        Err(e) => Err(ApiError::InvalidBatch(
            e.to_string()
                .split(" at line ")
                .next()
                .unwrap_or_default()
                .to_owned(),
        )),
    }
}

/// Reads an array of raw items, failing (and setting `over`) at item
/// `max + 1`.
struct BoundedItems<'a> {
    max: usize,
    over: &'a Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for BoundedItems<'_> {
    type Value = Vec<&'de RawValue>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for BoundedItems<'_> {
    type Value = Vec<&'de RawValue>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON array of events")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(self.max));
        while let Some(item) = seq.next_element::<&'de RawValue>()? {
            if items.len() == self.max {
                self.over.set(true);
                return Err(de::Error::custom("too many items"));
            }
            items.push(item);
        }
        Ok(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_the_raw_text_of_each_element() {
        let items = batch_items(br#" [{"a":1}, [2], "x"] "#, 3).unwrap();
        let raw: Vec<&str> = items.iter().map(|i| i.get()).collect();
        assert_eq!(raw, [r#"{"a":1}"#, "[2]", r#""x""#]);
    }

    #[test]
    fn a_batch_of_tiny_items_past_the_limit_is_refused_before_it_is_read_whole() {
        let mut huge = String::from("[0");
        huge.push_str(&",0".repeat(4_000_000));
        huge.push(']');
        assert!(matches!(
            batch_items(huge.as_bytes(), 5_000),
            Err(ApiError::BatchTooLarge { max: 5_000 })
        ));
        // Exactly at the limit it passes.
        let full = format!("[{}]", vec!["0"; 5_000].join(","));
        assert_eq!(batch_items(full.as_bytes(), 5_000).unwrap().len(), 5_000);
    }

    #[test]
    fn what_is_not_an_array_says_why() {
        for body in [&b"{}"[..], b"[1,", b"[1] 2", b""] {
            assert!(
                matches!(batch_items(body, 10), Err(ApiError::InvalidBatch(_))),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
