//! `edm-bench report` and `edm-bench capacity` on the small bench folder in
//! `tests/fixtures/bench`: relay, end-to-end, memory and start-up figures
//! (some targets missed), no stats, fan-out or trending figures.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The fixture bench folder.
fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bench")
}

/// An empty folder of this test's own, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("edm-bench-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn edm_bench(args: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edm-bench"))
        .args(args)
        .output()
        .expect("running edm-bench")
}

/// `edm-bench report <fixture> <out> <what>`, which must succeed; the file.
fn report(out: &Path, what: &str) -> String {
    let ran = edm_bench(&[Path::new("report"), &fixture(), out, Path::new(what)]);
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    std::fs::read_to_string(out).unwrap()
}

/// The section under `heading`, up to the next one.
fn section<'a>(doc: &'a str, heading: &str) -> &'a str {
    let start = doc.find(heading).unwrap_or_else(|| panic!("no {heading}"));
    let rest = &doc[start..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |at| at + 3);
    &rest[..end]
}

const RECORDED: &str = "Recorded by `./edm bench all` started 2026-12-06 04:25:09 UTC \
                        (load average 0.50 0.40 0.30 at the start).";

#[test]
fn figures_appear_in_their_tables() {
    let scratch = Scratch::new("tables");
    let doc = report(&scratch.file("benchmarks.md"), "all");
    let relay = section(&doc, "## edm-relay");
    assert!(relay.contains(RECORDED));
    assert!(relay.contains(
        "| `POST /produceClickMessage` (1 event/request) | 20,000 (19,400–20,400) | 3.10 | 5.72 | 20.6 | 3 |"
    ));
    assert!(relay.contains("Relay RSS after the runs: 20.6 MiB."));
    let e2e = section(&doc, "## The whole stack: end-to-end latency");
    assert!(e2e.contains("| 1,000 | 1,000 | 10,018 of 10,000 | 0 | 5 | 40 | 90 | 3.5 | 2 |"));
    assert!(e2e.contains("| 1,000 | 4 % | 3 % | 2 % | 40.0 | 30.0 | 20.0 |"));
    let lag = section(&doc, "## The whole stack: stats lag");
    assert!(lag.contains("| 1,000 | 18 (0 lost) | 120 | 300 | 300 |"));
}

#[test]
fn missing_figures_say_not_measured() {
    let scratch = Scratch::new("missing");
    let doc = report(&scratch.file("benchmarks.md"), "all");
    assert!(doc.contains("| `POST /api/v1/events` (100 events/request) | not measured | | | | |"));
    for heading in ["## edm-stats", "## edm-stream", "## edm-trending"] {
        assert!(
            section(&doc, heading).ends_with(&format!("{RECORDED}\n\nnot measured\n")),
            "{heading}"
        );
    }
    // No page was measured under wrk: no table of pages.
    assert!(!doc.contains("page under wrk"));
}

#[test]
fn targets_are_reported_met_or_missed() {
    let scratch = Scratch::new("targets");
    let doc = report(&scratch.file("benchmarks.md"), "all");
    assert!(doc.contains("Target: p99 ≤ 25 ms at 1,000 events/s — **missed** (median p99 40 ms)."));
    assert!(doc.contains("| edm-relay | 9.6 MiB | 20.6 MiB | **met** |"));
    assert!(doc.contains("| edm-stats | 40.0 MiB | 50.0 MiB | **missed** |"));
    assert!(doc.contains("| edm-relay | 70 | 60–80 | **met** |"));
    assert!(doc.contains("| edm-trending | 1250 | 1100–1400 | **missed** |"));
}

#[test]
fn a_part_rewrites_only_its_sections_and_keeps_their_notes() {
    let scratch = Scratch::new("partial");
    let out = scratch.file("benchmarks.md");
    let notes = "<!-- notes: ./edm bench keeps what follows, up to the next section -->";
    std::fs::write(
        &out,
        format!(
            "# Benchmarks\n\nOld preamble.\n\n## edm-relay (issue 3)\n\n| relay | old |\n\n\
             {notes}\n\nWhy the relay is fast.\n\n\n## edm-stats (issue 4)\n\n| stats | kept |\n"
        ),
    )
    .unwrap();
    let doc = report(&out, "relay");
    let relay = section(&doc, "## edm-relay");
    assert!(relay.contains("20,000 (19,400–20,400)"));
    assert!(!relay.contains("| relay | old |"));
    assert!(relay.ends_with(&format!("{notes}\n\nWhy the relay is fast.\n")));
    assert!(doc.contains("## edm-stats (issue 4)\n\n| stats | kept |\n"));
    assert!(!doc.contains("Old preamble."));
    // The relay part's two sections: the relay, and Kafka bytes per event.
    assert_eq!(doc.matches("Recorded by").count(), 2);
    // Sections the file lacked come after its own.
    assert!(doc.find("## edm-stats").unwrap() < doc.find("## Start-up").unwrap());
}

#[test]
fn an_unknown_part_is_refused_before_anything_is_written() {
    let scratch = Scratch::new("unknown");
    let absent = scratch.file("absent.md");
    let ran = edm_bench(&[
        Path::new("report"),
        &fixture(),
        &absent,
        Path::new("relays"),
    ]);
    assert!(!ran.status.success());
    assert!(String::from_utf8_lossy(&ran.stderr).contains("unknown part 'relays'"));
    assert!(!absent.exists());
    let present = scratch.file("present.md");
    std::fs::write(&present, "# Benchmarks\n").unwrap();
    let ran = edm_bench(&[
        Path::new("report"),
        &fixture(),
        &present,
        Path::new("relays"),
    ]);
    assert!(!ran.status.success());
    assert_eq!(std::fs::read_to_string(&present).unwrap(), "# Benchmarks\n");
}

#[test]
fn the_capacity_model_falls_back_on_the_recorded_figures() {
    let ran = edm_bench(&[Path::new("capacity"), &fixture()]);
    assert!(ran.status.success());
    let table = String::from_utf8(ran.stdout).unwrap();
    assert!(table.starts_with(
        "Per-instance figures from recorded figures (docs/benchmarks.md): relay 37 CPU-ms per 1,000 events; \
         edm-stream 10 CPU-ms per 1,000 events read and 4.3 per 1,000 deliveries up to its \
         threshold (1,000 events/s), 0.34 CPU-ms per second per dashboard above it; \
         edm-stats 3.40 and its Postgres 0.20 CPU-ms per 1,000 events (full batches: Postgres \
         writes follow batches, products and minutes); edm-trending 2.6 CPU-ms per 1,000 clicks, \
         every event taken for a click."
    ));
    assert!(table.contains(
        "| 100,000 | 7 | 2 | 2 | 2 (4) | 4 | 105 | standard-* (10.5 / 21.1) | \
         standard-0 (0.02 of 2 vCPU) |"
    ));
}

#[test]
fn the_capacity_table_replaces_only_its_block() {
    let scratch = Scratch::new("capacity");
    let doc = scratch.file("scaling.md");
    std::fs::write(
        &doc,
        "# Scaling\n\n<!-- capacity:begin -->\nold table\n<!-- capacity:end -->\n\nAfter.\n",
    )
    .unwrap();
    let ran = edm_bench(&[
        Path::new("capacity"),
        &fixture(),
        Path::new("--write"),
        &doc,
    ]);
    assert!(ran.status.success());
    let written = std::fs::read_to_string(&doc).unwrap();
    assert!(written.starts_with("# Scaling\n\n<!-- capacity:begin -->\nPer-instance figures from"));
    assert!(written.ends_with(
        "| Kafka basic-2 quotas |\n| 10,000 | 2 | 2 | 2 | 2 (4) | 4 | 214 | basic-2 (2.1 / 4.4) | \
         standard-0 (< 0.01 of 2 vCPU) | Kafka basic-2 quotas |\n\
         | 100,000 | 7 | 2 | 2 | 2 (4) | 4 | 105 | standard-* (10.5 / 21.1) | standard-0 (0.02 of 2 vCPU) \
         | the relay's CPU (one HTTP request per event) |\n\
         | 1,000,000 | 62 | 2 | 6 | 5 (5) | 32 | 91 | extended-* (91.1 / 182.7) | standard-0 (0.20 of 2 vCPU) \
         | the relay's CPU (one HTTP request per event) |\n\
         <!-- capacity:end -->\n\nAfter.\n"
    ));
    assert!(!written.contains("old table"));
}

#[test]
fn the_capacity_model_takes_a_runs_figures_and_the_light_clients_cells() {
    let scratch = Scratch::new("capacity-run");
    let files = [
        (
            "e2e-10000.run1.cpu.json",
            r#"{"edm-relay":4.68,"edm-stats":2.9,"edm-stream":1.3,"seconds":13}"#,
        ),
        (
            "stats-ingest-1.json",
            r#"{"instances":1,"events":1000000,"seconds":8.0,"counted":1000000,"steady_stats_cpu_seconds":3.0,"steady_postgres_cpu_seconds":0.6}"#,
        ),
        (
            "trending-rate.json",
            r#"{"events":2000000,"seconds":10.0,"aborted_cycles":0,"cpu_seconds":12.0}"#,
        ),
        (
            "stream-official-500x200.json",
            r#"{"client":"official","clients":500,"rate":200,"seconds":20,"rss_idle_kb":1,"rss_clients_kb":2,"cpu_seconds":20.0}"#,
        ),
        (
            "stream-light-100x200.json",
            r#"{"client":"light","clients":100,"rate":200,"seconds":20,"rss_idle_kb":1,"rss_clients_kb":2,"cpu_seconds":2.5}"#,
        ),
        (
            "scale-50000.json",
            r#"{"rate":50000,"window_seconds":20,"window_events":1000000,"cpu_seconds":{"edm-stream":30.0,"edm-stats":4.8,"edm-trending":4.0},"summary_mode":[true,true],"clients":50,"clients_exact":50,"clicks_in_kafka":1500004,"counted_min":1500004,"counted_max":1500004,"machine_busy_percent":170.0,"steal_percent":0.1}"#,
        ),
    ];
    for (name, json) in files {
        std::fs::write(scratch.file(name), json).unwrap();
    }
    let ran = edm_bench(&[Path::new("capacity"), &scratch.0]);
    assert!(ran.status.success());
    let table = String::from_utf8(ran.stdout).unwrap();
    // The light client's cell (2.5 CPU-s for 400,000 deliveries, less the
    // reading), not the official client's larger one.
    assert!(table.contains(
        "relay 36 CPU-ms per 1,000 events; edm-stream 10 CPU-ms per 1,000 events read and \
         6.2 per 1,000 deliveries up to its threshold (1,000 events/s), 30.00 CPU-ms per second \
         per dashboard above it; edm-stats 5.00 and its Postgres 1.00 CPU-ms per 1,000 events \
         (full batches: Postgres writes follow batches, products and minutes); \
         edm-trending 6.0 CPU-ms per 1,000 clicks"
    ));
    // edm-trending: 6 cores at 1,000,000 clicks/s, each dyno 60 % of one:
    // 10 dynos, a task each; the scale run's edm-stream, 1.5 cores for 50
    // dashboards: 3 dynos at any rate above the threshold; edm-stats 5
    // cores: 9 dynos, so 32 partitions; Postgres 1 core: within 60 % of
    // standard-0's 2 vCPU.
    assert!(table.contains("| 100,000 | 6 | 3 | 2 |"));
    assert!(table.contains("| 1,000,000 | 60 | 3 | 9 | 10 (10) | 32 |"));
    assert!(table.contains("| standard-0 (1.00 of 2 vCPU) |"));
}
