//! Lines and blanks as the report has always told them apart: a line ends
//! at `\n`, `\r\n`, `\r` or any other line boundary of Unicode, and a blank
//! line holds nothing but white space. Files are read with their line ends
//! made `\n`.

use std::path::{Component, Path, PathBuf};

/// The characters that end a line (`\r\n` counts as one end).
fn ends_line(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r'
            | '\u{0b}'
            | '\u{0c}'
            | '\u{1c}'
            | '\u{1d}'
            | '\u{1e}'
            | '\u{85}'
            | '\u{2028}'
            | '\u{2029}'
    )
}

/// The lines of `text`, without their ends; no empty last line for a
/// final line end.
pub fn lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let Some(end) = rest.find(ends_line) else {
            lines.push(rest);
            break;
        };
        lines.push(&rest[..end]);
        let width = if rest[end..].starts_with("\r\n") {
            2
        } else {
            rest[end..].chars().next().map_or(1, char::len_utf8)
        };
        rest = &rest[end + width..];
    }
    lines
}

/// White space, as trimmed from a line or a command's output.
fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `text` without the white space around it.
pub fn trim(text: &str) -> &str {
    text.trim_matches(is_space)
}

/// Whether `line` is blank.
pub fn is_blank(line: &str) -> bool {
    trim(line).is_empty()
}

/// The file at `path` with its line ends made `\n`.
pub fn read(path: &Path) -> std::io::Result<String> {
    let text = std::fs::read_to_string(path)?;
    Ok(text.replace("\r\n", "\n").replace('\r', "\n"))
}

/// `path` as messages show it: without `.` parts, doubled or final slashes.
pub fn shown(path: &Path) -> String {
    let parts: PathBuf = path
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect();
    if parts.as_os_str().is_empty() {
        ".".into()
    } else {
        parts.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_end_at_any_line_end() {
        assert_eq!(lines("a\nb\r\nc\rd\n"), ["a", "b", "c", "d"]);
        assert_eq!(lines("a\n\nb"), ["a", "", "b"]);
        assert!(lines("").is_empty());
    }

    #[test]
    fn paths_are_shown_without_dot_parts() {
        assert_eq!(shown(Path::new("./bench//x/")), "bench/x");
        assert_eq!(shown(Path::new("")), ".");
        assert_eq!(shown(Path::new("/tmp/./a")), "/tmp/a");
    }
}
