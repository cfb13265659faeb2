//! The Kafka bytes section: what each event costs on the way to Kafka, by
//! codec and by how many events a record batch holds (`edm-bench
//! kafka-bytes`, run by the relay part); and the curve the capacity model
//! takes from it ([`click_curve`], [`interpolate`]).

use serde::Deserialize;

use super::figures::BenchDir;
use super::numbers::grouped;
use super::prose;

/// The files the relay part writes.
pub const FILE: &str = "kafka-bytes.json";
pub const CODEC_COST_FILE: &str = "relay-codecs.json";

/// The relay's cost of one codec (batches of 100 under wrk).
#[derive(Debug, Clone, Deserialize)]
pub struct CodecCost {
    pub codec: String,
    pub events_per_second: f64,
    pub cpu_ms_per_1k: f64,
}

/// One measurement of `edm-bench kafka-bytes`.
#[derive(Debug, Clone, Deserialize)]
pub struct KafkaBytes {
    pub kind: String,
    pub codec: String,
    pub events_per_batch: u64,
    pub bytes_per_event: f64,
}

/// The recorded measurements, if the bench folder has them.
pub fn load(bench: &BenchDir) -> anyhow::Result<Vec<KafkaBytes>> {
    Ok(bench.load(FILE)?.unwrap_or_default())
}

/// Bytes per click with `codec` at each measured batch size: (events per
/// batch, bytes per event), fewest events first.
pub fn click_curve(rows: &[KafkaBytes], codec: &str) -> Vec<(f64, f64)> {
    let mut points: Vec<(f64, f64)> = rows
        .iter()
        .filter(|r| r.kind == "click" && r.codec == codec)
        .map(|r| (r.events_per_batch as f64, r.bytes_per_event))
        .collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    points
}

/// The bytes per event when batches hold `per_batch` events, from `curve`
/// ([`click_curve`]): interpolated between measured batch sizes on a log
/// scale, the nearest measured one beyond them; `None` for no curve.
pub fn interpolate(curve: &[(f64, f64)], per_batch: f64) -> Option<f64> {
    let x = per_batch.max(1.0).ln();
    let points: Vec<(f64, f64)> = curve.iter().map(|&(n, b)| (n.ln(), b)).collect();
    let first = *points.first()?;
    let last = *points.last()?;
    if x <= first.0 {
        return Some(first.1);
    }
    if x >= last.0 {
        return Some(last.1);
    }
    points.windows(2).find_map(|pair| {
        let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
        (x0 <= x && x <= x1).then(|| y0 + (y1 - y0) * (x - x0) / (x1 - x0))
    })
}

/// The section, its blank line first.
pub fn section(bench: &BenchDir) -> anyhow::Result<Vec<String>> {
    let rows = load(bench)?;
    let mut out = prose(&[
        "",
        "## Kafka bytes per event (issue 28)",
        "",
        "Bytes each event costs on its way to Kafka, as the relay writes it (the store's JSON,",
        "the visitor as the key, an `edm-event-id` header): librdkafka's count of bytes sent to",
        "the broker, every request and its framing included, which is what a Heroku plan's",
        "produce quota counts. By codec (`EDM_KAFKA_COMPRESSION`) and by how many events one",
        "record batch holds: the relay's batches hold the events of one partition that arrive",
        "within `linger.ms` (2 ms), one each on a quiet store and hundreds on a busy one.",
        "Measured by `edm-bench kafka-bytes`; the figures do not depend on the machine's speed.",
        "",
    ]);
    if rows.is_empty() {
        out.push("Not measured in this run.".to_owned());
        return Ok(out);
    }
    let mut codecs: Vec<&str> = Vec::new();
    for row in &rows {
        if !codecs.contains(&row.codec.as_str()) {
            codecs.push(&row.codec);
        }
    }
    out.push(format!(
        "| event | events per batch | {} |",
        codecs.join(" | ")
    ));
    out.push(format!("|---|---|{}", "---|".repeat(codecs.len())));
    let mut keys: Vec<(&str, u64)> = Vec::new();
    for row in &rows {
        if !keys.contains(&(row.kind.as_str(), row.events_per_batch)) {
            keys.push((&row.kind, row.events_per_batch));
        }
    }
    for (kind, per_batch) in keys {
        let of = |codec: &str| {
            rows.iter()
                .find(|r| r.kind == kind && r.events_per_batch == per_batch && r.codec == codec)
                .map(|r| r.bytes_per_event)
        };
        let plain = of("none");
        let cells: Vec<String> = codecs
            .iter()
            .map(|&codec| match (of(codec), plain) {
                (Some(bytes), Some(plain)) if codec != "none" && bytes > 0.0 => {
                    format!("{} ({:.1}×)", grouped(bytes, 0), plain / bytes)
                }
                (Some(bytes), _) => grouped(bytes, 0),
                (None, _) => "—".to_owned(),
            })
            .collect();
        out.push(format!(
            "| {kind} | {} | {} |",
            grouped(per_batch as f64, 0),
            cells.join(" | ")
        ));
    }
    let costs: Vec<CodecCost> = bench.load(CODEC_COST_FILE)?.unwrap_or_default();
    if !costs.is_empty() {
        out.extend(prose(&[
            "",
            "What a codec costs the relay, in the same run: one relay per codec, wrk against",
            "`POST /api/v1/events` (100 events/request, 64 connections, 5 s warm-up, one 15 s run),",
            "and the relay process's CPU time per 1,000 accepted events. The broker decompresses",
            "what it validates; on this machine it shares the two cores, on Heroku that is the",
            "plan's work, not the dyno's.",
            "",
            "| codec | events/s | relay CPU-ms per 1,000 events |",
            "|---|---|---|",
        ]));
        for cost in costs {
            out.push(format!(
                "| {} | {} | {:.1} |",
                cost.codec,
                grouped(cost.events_per_second, 0),
                cost.cpu_ms_per_1k
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(codec: &str, per_batch: u64, bytes: f64) -> KafkaBytes {
        KafkaBytes {
            kind: "click".into(),
            codec: codec.into(),
            events_per_batch: per_batch,
            bytes_per_event: bytes,
        }
    }

    #[test]
    fn the_curve_interpolates_on_a_log_scale_and_holds_beyond() {
        let rows = [
            row("lz4", 100, 100.0),
            row("lz4", 1, 400.0),
            row("none", 1, 500.0),
        ];
        let curve = click_curve(&rows, "lz4");
        assert_eq!(curve, [(1.0, 400.0), (100.0, 100.0)]);
        assert_eq!(interpolate(&curve, 0.3), Some(400.0));
        assert_eq!(interpolate(&curve, 10.0), Some(250.0));
        assert_eq!(interpolate(&curve, 5_000.0), Some(100.0));
        assert_eq!(interpolate(&click_curve(&rows, "zstd"), 10.0), None);
    }
}
