//! Reading server-rendered HTML in tests: attribute values, unescaped.

/// The values of `attribute` on every `<tag …>` in `html`, unescaped.
pub fn attribute_values(html: &str, tag: &str, attribute: &str) -> Vec<String> {
    let opening = format!("<{tag} ");
    let needle = format!(" {attribute}=\"");
    html.split(&opening)
        .skip(1)
        .filter_map(|rest| {
            let tag_text = format!(" {}", &rest[..rest.find('>')?]);
            let start = tag_text.find(&needle)? + needle.len();
            let end = start + tag_text[start..].find('"')?;
            Some(unescape(&tag_text[start..end]))
        })
        .collect()
}

/// Decodes the character references askama writes (`&amp;`, `&#34;`, `&#x27;`, …).
pub fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find('&') {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .map(|hex| u32::from_str_radix(hex, 16))
                .or_else(|| entity.strip_prefix('#').map(str::parse::<u32>))
                .and_then(Result::ok)
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}
