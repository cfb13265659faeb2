//! Just enough of the Dockerfile language for the checks: global `ARG`
//! defaults, stages (`FROM image AS name`, with the stage each is built
//! from), their instructions with continuation lines joined and comments
//! left out, and the parts of a `COPY`.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;

/// One `FROM` and the instructions after it.
#[derive(Debug)]
pub struct Stage {
    /// Its position among the stages, from 0.
    pub index: usize,
    /// Its image, global `ARG`s substituted.
    pub image: String,
    /// Its `AS` name.
    pub name: Option<String>,
    /// The earlier stage it is built `FROM`.
    pub parent: Option<usize>,
    /// `(INSTRUCTION, arguments)`, the instruction upper-cased.
    pub steps: Vec<(String, String)>,
}

impl Stage {
    /// How the checks name it: its `AS` name, else its index.
    pub fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.index.to_string())
    }
}

/// A parsed Dockerfile.
#[derive(Debug)]
pub struct Dockerfile {
    pub stages: Vec<Stage>,
}

impl Dockerfile {
    /// `stage` and the stages it is built from, oldest first.
    pub fn chain(&self, stage: &Stage) -> Vec<&Stage> {
        let mut chain = vec![&self.stages[stage.index]];
        while let Some(parent) = chain.last().and_then(|s| s.parent) {
            chain.push(&self.stages[parent]);
        }
        chain.reverse();
        chain
    }

    /// The steps of `stage`'s chain, oldest first.
    pub fn chain_steps(&self, stage: &Stage) -> Vec<&(String, String)> {
        self.chain(stage)
            .into_iter()
            .flat_map(|s| s.steps.iter())
            .collect()
    }

    /// The arguments of every `instruction` in `stage`'s chain, a line each.
    pub fn chain_arguments(&self, stage: &Stage, instruction: &str) -> String {
        self.chain_steps(stage)
            .into_iter()
            .filter(|(i, _)| i == instruction)
            .map(|(_, a)| a.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The parts of a `COPY` or `ADD`.
#[derive(Debug)]
pub struct Copy {
    /// `--key=value` flags (`from`, `chown`, …).
    pub flags: BTreeMap<String, String>,
    /// What it copies.
    pub sources: Vec<String>,
}

impl Copy {
    /// Parses the arguments of a `COPY` or `ADD`.
    pub fn parse(arguments: &str) -> Copy {
        let mut words: Vec<&str> = arguments.split_whitespace().collect();
        let mut flags = BTreeMap::new();
        while let Some(flag) = words.first().and_then(|w| w.strip_prefix("--")) {
            let (key, value) = flag.split_once('=').unwrap_or((flag, ""));
            flags.insert(key.to_owned(), value.to_owned());
            words.remove(0);
        }
        words.pop(); // the destination
        Copy {
            flags,
            sources: words.into_iter().map(str::to_owned).collect(),
        }
    }

    /// Whether it copies from another stage or image rather than the
    /// build context.
    pub fn from_elsewhere(&self) -> bool {
        self.flags.contains_key("from")
    }
}

static ARG_REFERENCE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\$\{?(\w+)\}?").expect("a valid regex"));

/// Parses a Dockerfile's text.
pub fn parse(text: &str) -> Dockerfile {
    let mut args = BTreeMap::<String, String>::new();
    let mut stages: Vec<Stage> = Vec::new();
    for line in logical_lines(text) {
        let (keyword, rest) = line.split_once(' ').unwrap_or((&line, ""));
        let (keyword, rest) = (keyword.to_uppercase(), rest.trim());
        if keyword == "FROM" {
            let words: Vec<&str> = rest
                .split_whitespace()
                .filter(|w| !w.starts_with("--"))
                .collect();
            let image = ARG_REFERENCE
                .replace_all(
                    words.first().copied().unwrap_or_default(),
                    |c: &regex::Captures| {
                        args.get(&c[1]).cloned().unwrap_or_else(|| c[0].to_owned())
                    },
                )
                .into_owned();
            let name = match words[..] {
                [_, as_, name, ..] if as_.eq_ignore_ascii_case("AS") => Some(name.to_owned()),
                _ => None,
            };
            let parent = stages
                .iter()
                .find(|s| s.name.as_deref() == Some(image.as_str()))
                .map(|s| s.index);
            stages.push(Stage {
                index: stages.len(),
                image,
                name,
                parent,
                steps: Vec::new(),
            });
        } else if let Some(stage) = stages.last_mut() {
            stage.steps.push((keyword, rest.to_owned()));
        } else if keyword == "ARG" {
            let (key, default) = rest.split_once('=').unwrap_or((rest, ""));
            args.insert(
                key.trim().to_owned(),
                default.trim().trim_matches('"').to_owned(),
            );
        }
    }
    Dockerfile { stages }
}

/// The instructions, continuation lines joined, comments and blank lines
/// left out.
fn logical_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let stripped = line.trim();
        if stripped.starts_with('#') || (pending.is_empty() && stripped.is_empty()) {
            continue;
        }
        if let Some(continued) = stripped.strip_suffix('\\') {
            pending.push_str(continued);
            pending.push(' ');
            continue;
        }
        lines.push(std::mem::take(&mut pending) + stripped);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_know_their_parents_and_steps() {
        let dockerfile = parse(
            "ARG V=1.2\n# comment\nFROM rust:${V} AS chef\nRUN apt-get install \\\n  # note\n  cmake\n\
             FROM chef AS builder\nCOPY --from=chef a b ./\nFROM debian\n",
        );
        let [chef, builder, runtime] = &dockerfile.stages[..] else {
            panic!("three stages: {dockerfile:?}");
        };
        assert_eq!(chef.image, "rust:1.2");
        assert_eq!(
            chef.steps,
            [("RUN".to_owned(), "apt-get install  cmake".to_owned())]
        );
        assert_eq!(builder.parent, Some(0));
        assert_eq!(dockerfile.chain(builder).len(), 2);
        assert_eq!(runtime.label(), "2");
        let copy = Copy::parse(&builder.steps[0].1);
        assert!(copy.from_elsewhere());
        assert_eq!(copy.sources, ["a", "b"]);
    }
}
