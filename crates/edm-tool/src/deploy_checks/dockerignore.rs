//! `.dockerignore`: its rules, and whether they keep a path out of the
//! Docker build context (the last matching rule wins; `!` lets a path
//! back in; `*` and `?` stay within a folder, `**` crosses folders; a rule
//! that matches a folder covers what is in it).

use std::path::Path;

use regex::Regex;

use super::workspace::normalize;

/// The rules of one `.dockerignore`, in order.
#[derive(Debug, Default)]
pub struct Rules(Vec<Rule>);

#[derive(Debug)]
struct Rule {
    /// A `!` rule: lets the paths it matches back in.
    negated: bool,
    pattern: Regex,
}

impl Rules {
    /// The rules of `root/.dockerignore`; none when there is no such file.
    pub fn read(root: &Path) -> Rules {
        let text = std::fs::read_to_string(root.join(".dockerignore")).unwrap_or_default();
        Rules::parse(&text)
    }

    /// The rules in a `.dockerignore`'s text.
    pub fn parse(text: &str) -> Rules {
        let rules = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .filter_map(|line| {
                let negated = line.starts_with('!');
                let pattern = line.trim_start_matches('!').trim_start_matches('/');
                let pattern = normalize(Path::new(pattern));
                Some(Rule {
                    negated,
                    pattern: glob_regex(&pattern.to_string_lossy())?,
                })
            })
            .collect();
        Rules(rules)
    }

    /// Whether the rules keep `path` (relative to the context) out.
    pub fn ignores(&self, path: &str) -> bool {
        let path = normalize(Path::new(path));
        let parts: Vec<String> = path
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let prefixes: Vec<String> = (1..=parts.len()).map(|n| parts[..n].join("/")).collect();
        let mut ignored = false;
        for rule in &self.0 {
            if prefixes.iter().any(|p| rule.pattern.is_match(p)) {
                ignored = !rule.negated;
            }
        }
        ignored
    }
}

/// A regex matching the whole of what a `.dockerignore` pattern matches.
fn glob_regex(pattern: &str) -> Option<Regex> {
    let mut regex = String::from("^(?:");
    let mut rest = pattern;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("**") {
            regex.push_str(".*");
            rest = after;
            continue;
        }
        match c {
            '*' => regex.push_str("[^/]*"),
            '?' => regex.push_str("[^/]"),
            other => regex.push_str(&regex::escape(&other.to_string())),
        }
        rest = &rest[c.len_utf8()..];
    }
    regex.push_str(r")\z");
    Regex::new(&regex).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_matching_rule_wins_and_folders_cover_their_contents() {
        let rules = Rules::parse("# c\ntarget\n**/node_modules\ndocs\n!docs/keep.md\n");
        assert!(rules.ignores("target"));
        assert!(rules.ignores("target/release/x"));
        assert!(rules.ignores("crates/a/node_modules/b"));
        assert!(rules.ignores("docs/other.md"));
        assert!(!rules.ignores("docs/keep.md"));
        assert!(!rules.ignores("crates"));
        assert!(!rules.ignores("targets"));
    }
}
