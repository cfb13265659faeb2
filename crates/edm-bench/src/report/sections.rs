//! How `./edm bench` rewrites docs/benchmarks.md without losing what it did
//! not measure: a run replaces only the sections of the parts it ran (each
//! then says which run recorded it), keeps every other section as it was,
//! and keeps the notes written by hand below a section's [`NOTES`] marker.

use std::collections::{HashMap, HashSet};

use super::text;

/// Written by hand below this line, a section's notes survive every rewrite.
pub const NOTES: &str = "<!-- notes: ./edm bench keeps what follows, up to the next section -->";

/// The parts of `./edm bench`.
pub const PARTS: [&str; 6] = ["relay", "stats", "stream", "trending", "stack", "scale"];

/// The part whose run writes a section, by how its heading starts. Sections
/// of no part (the title, the machine and tools) are rewritten by every run.
const OWNERS: [(&str, &str); 9] = [
    ("## edm-relay", "relay"),
    ("## Kafka bytes", "relay"),
    ("## edm-stats", "stats"),
    ("## edm-stream", "stream"),
    ("## edm-trending", "trending"),
    ("## The whole stack", "stack"),
    ("## Memory", "stack"),
    ("## Start-up", "stack"),
    ("## The pipeline at two rates", "scale"),
];

/// The parts a run of `./edm bench <what>` measures; an error for an
/// unknown part.
pub fn parts_of(what: &str) -> anyhow::Result<Vec<&'static str>> {
    if what == "all" {
        return Ok(PARTS.to_vec());
    }
    match PARTS.iter().find(|&&part| part == what) {
        Some(&part) => Ok(vec![part]),
        None => anyhow::bail!("unknown part '{what}': one of {} or all", PARTS.join(", ")),
    }
}

/// The part that writes the section under `heading`, if any.
fn owner(heading: &str) -> Option<&'static str> {
    OWNERS
        .iter()
        .find(|(start, _)| heading.starts_with(start))
        .map(|&(_, part)| part)
}

/// A section: its heading (`""` for the text before the first one) and its
/// lines, the heading line first.
type Section = (String, Vec<String>);

/// The sections of `text`.
fn split(text: &str) -> Vec<Section> {
    let mut sections: Vec<Section> = vec![(String::new(), Vec::new())];
    for line in text::lines(text) {
        if line.starts_with("## ") {
            sections.push((line.to_owned(), Vec::new()));
        }
        if let Some((_, lines)) = sections.last_mut() {
            lines.push(line.to_owned());
        }
    }
    sections
}

/// `lines` without the blank lines that end them.
fn without_trailing_blanks(lines: &[String]) -> &[String] {
    let kept = lines
        .iter()
        .rposition(|l| !text::is_blank(l))
        .map_or(0, |i| i + 1);
    &lines[..kept]
}

/// The section's hand-written notes (the marker on), without the blank
/// lines that end them.
fn notes(lines: &[String]) -> &[String] {
    match lines.iter().position(|l| l == NOTES) {
        Some(at) => without_trailing_blanks(&lines[at..]),
        None => &[],
    }
}

/// A freshly rendered section: its heading, the line saying which run
/// recorded it, its figures, then the notes the old one had.
fn rendered(lines: &[String], recorded: &str, old_lines: &[String]) -> Vec<String> {
    let (heading, body) = lines.split_first().expect("a section has its heading");
    let mut out = vec![heading.clone(), String::new(), recorded.to_owned()];
    out.extend_from_slice(without_trailing_blanks(body));
    let kept = notes(old_lines);
    if !kept.is_empty() {
        out.push(String::new());
        out.extend_from_slice(kept);
    }
    out.push(String::new());
    out
}

/// docs/benchmarks.md after `./edm bench <what>`: `new` is every section
/// rendered from the figures at hand (stale ones included), `old` the file
/// as it was (`None` when there was none), `recorded` the line that says
/// which run recorded a rewritten section.
pub fn merge(old: Option<&str>, new: &str, what: &str, recorded: &str) -> anyhow::Result<String> {
    let parts = parts_of(what)?;
    let after = split(new);
    let fresh: HashMap<&str, &Vec<String>> =
        after.iter().map(|(h, lines)| (h.as_str(), lines)).collect();
    let before = old.map(split).unwrap_or_default();
    let known: HashSet<&str> = before.iter().map(|(h, _)| h.as_str()).collect();
    // The file's own order, each section new or kept; then sections it lacks.
    let lacking = after.iter().filter(|(h, _)| !known.contains(h.as_str()));
    let mut out: Vec<String> = Vec::new();
    for (heading, lines) in before.iter().chain(lacking) {
        let part = owner(heading);
        match fresh.get(heading.as_str()) {
            Some(new_lines) if part.is_none() => out.extend_from_slice(new_lines),
            Some(new_lines) if part.is_some_and(|p| parts.contains(&p)) => {
                let old_lines: &[String] = if known.contains(heading.as_str()) {
                    lines
                } else {
                    &[]
                };
                out.extend(rendered(new_lines, recorded, old_lines));
            }
            _ => out.extend_from_slice(lines),
        }
    }
    Ok(format!("{}\n", out.join("\n").trim_end_matches('\n')))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "# Benchmarks

Old preamble.

## Machine and tools

- old machine

## edm-relay (issue 3)

Recorded by `./edm bench all` started 2026-11-22.

| relay | 22,000 |

## edm-stream: fan-out

Recorded by `./edm bench all` started 2026-11-22.

| stream | old |

<!-- notes: ./edm bench keeps what follows, up to the next section -->

Why the stream figures are what they are.

## Start-up

| start | 4 ms |
";

    /// What the report renders from .edm/bench: every section, stale ones
    /// included.
    const NEW: &str = "# Benchmarks

New preamble.

## Machine and tools

- new machine

## edm-relay (issue 3)

| relay | stale |

## edm-stream: fan-out

| stream | new |

## edm-trending: windows with transactions (issue 18)

| trending | new |
";

    const RECORDED: &str = "Recorded by `./edm bench stream` started 2026-12-02 07:00 UTC.";

    fn partial_run() -> String {
        merge(Some(OLD), NEW, "stream", RECORDED).unwrap()
    }

    #[test]
    fn other_parts_keep_their_figures() {
        let doc = partial_run();
        assert!(doc.contains("| relay | 22,000 |"));
        assert!(!doc.contains("| relay | stale |"));
        assert!(doc.contains("| start | 4 ms |"));
    }

    #[test]
    fn the_measured_part_gets_new_figures_and_says_which_run() {
        let doc = partial_run();
        let section = doc.split("## edm-stream: fan-out").nth(1).unwrap();
        let section = section.split("\n## ").next().unwrap();
        assert!(section.contains("| stream | new |"));
        assert!(!section.contains("| stream | old |"));
        assert!(section.contains(RECORDED));
        assert_eq!(section.matches("Recorded by").count(), 1);
    }

    #[test]
    fn hand_written_notes_survive_after_the_new_figures() {
        let doc = partial_run();
        assert!(doc.find("| stream | new |").unwrap() < doc.find(NOTES).unwrap());
        assert!(doc.contains("Why the stream figures are what they are."));
    }

    #[test]
    fn the_machine_and_tools_are_the_latest_run() {
        let doc = partial_run();
        assert!(doc.contains("- new machine"));
        assert!(!doc.contains("- old machine"));
    }

    #[test]
    fn sections_keep_their_order_and_new_ones_come_last() {
        let doc = partial_run();
        let headings: Vec<&str> = doc
            .lines()
            .filter(|l| l.starts_with("## "))
            .map(|l| l.split_whitespace().nth(1).unwrap())
            .collect();
        assert_eq!(
            headings,
            [
                "Machine",
                "edm-relay",
                "edm-stream:",
                "Start-up",
                "edm-trending:"
            ]
        );
    }

    #[test]
    fn a_second_run_changes_nothing_more() {
        let doc = partial_run();
        assert_eq!(merge(Some(&doc), NEW, "stream", RECORDED).unwrap(), doc);
    }

    #[test]
    fn every_part_is_rewritten_and_notes_kept() {
        let recorded = "Recorded by `./edm bench all` started 2026-12-02.";
        let doc = merge(Some(OLD), NEW, "all", recorded).unwrap();
        assert!(doc.contains("| relay | stale |"));
        assert!(doc.contains("Why the stream figures are what they are."));
        assert!(!doc.contains("2026-11-22"));
    }

    #[test]
    fn an_unknown_part_is_refused() {
        let refused = merge(Some(OLD), NEW, "relays", RECORDED).unwrap_err();
        assert!(refused.to_string().contains("unknown part 'relays'"));
    }

    #[test]
    fn without_an_old_file_every_section_is_new() {
        let doc = merge(None, NEW, "stream", RECORDED).unwrap();
        assert!(doc.starts_with("# Benchmarks\n\nNew preamble."));
        assert!(doc.contains("| relay | stale |"));
        assert_eq!(doc.matches("Recorded by").count(), 1);
    }
}
