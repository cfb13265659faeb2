//! `edm-bench report <bench-dir> <benchmarks.md> [part]`: turns the JSON
//! figures of `./edm bench` (in `.edm/bench`, written by `edm-bench run`)
//! into docs/benchmarks.md.
//!
//! `part` is the part the run measured (relay, stats, stream, trending,
//! stack; all by default): only its sections are rewritten, each saying
//! which run recorded it, and notes written by hand below a section's
//! marker stay ([`sections`]). An unknown part is refused before anything
//! is read or written.
//!
//! Each wrk measurement ran three times; the table shows the median run (by
//! throughput) and the spread. The end-to-end runs (three per rate) show
//! the median of each run's percentiles; start-up shows the median of five
//! starts. Sections whose figures are missing say so, and every target is
//! reported as met or missed.

mod figures;
pub mod kafka;
pub mod machine;
mod memory;
pub mod numbers;
pub mod records;
mod relay;
pub mod scale;
mod sections;
mod stack;
mod startup;
mod stats;
mod stream;
pub mod text;
mod trending;
mod wrk;

use std::path::Path;

use anyhow::Context;

pub use figures::{read as read_figures, BenchDir};
pub use machine::repository;
pub use records::WrkRun;

/// The usage of `edm-bench report`.
const USAGE: &str =
    "usage: edm-bench report <bench-dir> <benchmarks.md> [relay|stats|stream|trending|stack|scale|all]";

/// What every rendering of docs/benchmarks.md starts with.
const PREAMBLE: &[&str] = &[
    "# Benchmarks",
    "",
    "Every figure comes from `./edm bench` on the machine below (as the latest run found it),",
    "with the broker, Postgres, the service and the load generator all sharing it; each section",
    "says which run recorded it (`./edm bench PART` rewrites only PART's sections). Release",
    "builds; each wrk measurement is a 5 s warm-up, then three 15 s runs at 64 connections (2",
    "threads); the table shows the median run and the range. Other work on the machine shows up",
    "as noise, mostly in the tails.",
];

/// `edm-bench report`: see the module documentation.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let (Some(bench_dir), Some(out)) = (args.get(2), args.get(3)) else {
        anyhow::bail!(USAGE);
    };
    let what = args.get(4).map_or("all", String::as_str);
    sections::parts_of(what)?;
    let bench = BenchDir::new(bench_dir);
    let out = Path::new(out);
    let new = render(&bench)?;
    let recorded = machine::recorded(&bench, what)?;
    let old = if out.exists() {
        Some(text::read(out).with_context(|| format!("reading {}", out.display()))?)
    } else {
        None
    };
    let merged = sections::merge(old.as_deref(), &new, what, &recorded)?;
    std::fs::write(out, merged).with_context(|| format!("writing {}", out.display()))?;
    println!("wrote {}", text::shown(out));
    Ok(())
}

/// Every section of docs/benchmarks.md, from the figures in `bench` (those
/// of parts the run did not measure included).
pub fn render(bench: &BenchDir) -> anyhow::Result<String> {
    let mut lines = prose(PREAMBLE);
    lines.extend(machine::section(bench));
    lines.extend(relay::section(bench)?);
    lines.extend(kafka::section(bench)?);
    lines.extend(stats::section(bench)?);
    lines.extend(stream::section(bench)?);
    lines.extend(trending::section(bench)?);
    lines.extend(stack::sections(bench)?);
    lines.extend(scale::section(bench)?);
    Ok(lines.join("\n") + "\n")
}

/// Lines of text as owned lines.
fn prose(lines: &[&str]) -> Vec<String> {
    lines.iter().map(|&line| line.to_owned()).collect()
}
