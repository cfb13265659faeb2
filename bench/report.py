"""Turns the JSON figures of ./edm bench (in .edm/bench) into docs/benchmarks.md.

Each wrk measurement ran three times; the table shows the median run (by
throughput) and the spread. Sections whose figures are missing say so.
"""
import json
import os
import platform
import statistics
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

bench_dir, out_path = Path(sys.argv[1]), Path(sys.argv[2])


def load(name):
    path = bench_dir / name
    return json.loads(path.read_text()) if path.exists() and path.stat().st_size else None


def runs(name):
    found = [load(f"{name}.run{i}.json") for i in (1, 2, 3)]
    return [r for r in found if r]


def version(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except Exception:
        return "unknown"


def kafka_version():
    libs = bench_dir.parent / "kafka" / "libs"
    for jar in sorted(libs.glob("kafka-clients-*.jar")) if libs.exists() else []:
        return jar.stem.removeprefix("kafka-clients-")
    return "unknown"


def cpu_model():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def mem_gib():
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            return f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    return "unknown"


def wrk_row(label, name, per_request=1):
    rs = runs(name)
    if not rs:
        return f"| {label} | not measured | | | | |"
    rates = sorted(r["requests"] / r["duration_s"] * per_request for r in rs)
    median = sorted(rs, key=lambda r: r["requests"] / r["duration_s"])[len(rs) // 2]
    failures = sum(r["errors"] + r["non2xx"] for r in rs)
    return (f"| {label} | {statistics.median(rates):,.0f} ({rates[0]:,.0f}–{rates[-1]:,.0f}) | "
            f"{median['p50_ms']:.2f} | {median['p99_ms']:.2f} | {median['max_ms']:.1f} | {failures} |")


lines = [
    "# Benchmarks",
    "",
    f"Recorded by `./edm bench` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC. Every figure comes from",
    "that command on the machine below, with the broker, Postgres, the service and the load",
    "generator all sharing it. Release builds; each wrk measurement is a 5 s warm-up, then three",
    "15 s runs at 64 connections (2 threads); the table shows the median run and the range.",
    "",
    "## Machine and tools",
    "",
    f"- CPU: {cpu_model()}, {os.cpu_count()} cores; memory {mem_gib()}; {platform.system()} {platform.release()}",
    f"- {version(['rustc', '--version'])}; {version(['java', '-version'])}",
    f"- Apache Kafka {kafka_version()} (KRaft, one broker, acks=all); "
    f"{version(['psql', '--version'])}",
    f"- load: {version(['wrk', '--version'])}; node {version(['node', '--version'])} with socket.io-client 4.8.4",
    "",
    "## edm-relay (issue 3)",
    "",
    "Accepted events per second and request latency at 64 concurrent connections. A request",
    "counts only when the broker acknowledged its events (acks=all, idempotent producer).",
    "",
    "| endpoint | events/s, median (range) | p50 ms | p99 ms | max ms | errors / non-2xx |",
    "|---|---|---|---|---|---|",
    wrk_row("`POST /produceClickMessage` (1 event/request)", "relay-single"),
    wrk_row("`POST /api/v1/events` (100 events/request)", "relay-batch", per_request=100),
    "",
    "Targets on this machine: single ≥ 15,000 events/s with p99 ≤ 20 ms; batches ≥ 150,000 events/s.",
]
rss = load("relay-rss.json")
if rss:
    lines += ["", f"Relay RSS after the runs: {rss['rss_kb'] / 1024:.1f} MiB."]

lines += ["", "## edm-stats (issue 4)", ""]
ingest, produce = load("stats-ingest.json"), load("stats-produce.json")
if ingest:
    lines += [
        f"Sustained ingest: a backlog of {ingest['events']:,} click events (produced first at "
        f"{produce['events_per_second']:,.0f} events/s) counted into committed Postgres rows in "
        f"{ingest['seconds']:.1f} s from process start: **{ingest['events'] / ingest['seconds']:,.0f} events/s** "
        "(exactly-once: offsets, dedup of event ids and aggregates in one transaction per batch).",
        "",
        "| API endpoint under load | requests/s, median (range) | p50 ms | p99 ms | max ms | errors / non-2xx |",
        "|---|---|---|---|---|---|",
        wrk_row("`GET /api/clickCount`", "stats-api-clickcount"),
        wrk_row("`GET /api/v1/clicks/series?bucket=minute`", "stats-api-series"),
        wrk_row("`GET /api/clickCount` while 2,000 events/s are ingested", "stats-api-clickcount-ingesting"),
        "",
        "The first two rows were measured after the backlog was counted; the third while a live flow",
        "keeps committing batches (each commit invalidates the API's response cache, which otherwise",
        "serves a URL's answer for at most 1 s). Targets: ≥ 50,000 events/s ingest; API p99 ≤ 10 ms.",
    ]
    rss = load("stats-rss.json")
    if rss:
        lines += ["", f"Stats RSS after the runs: {rss['rss_kb'] / 1024:.1f} MiB."]
else:
    lines += ["not measured"]

lines += ["", "## edm-stream (issue 5)", ""]
stream = load("stream.json")
clients_path = bench_dir / "stream-clients.jsonl"
if stream and clients_path.exists():
    parts = [json.loads(l) for l in clients_path.read_text().splitlines() if l.strip()]
    deliveries = sum(p["deliveries"] for p in parts)
    expected = stream["clients"] * stream["rate"] * stream["seconds"]
    p50 = max(p["p50_ms"] for p in parts)
    p99 = max(p["p99_ms"] for p in parts)
    worst = max(p["max_ms"] for p in parts)
    per_client = (stream["rss_clients_kb"] - stream["rss_idle_kb"]) / stream["clients"]
    lines += [
        f"Fan-out: {stream['clients']} official socket.io-client connections (two node processes) and "
        f"{stream['rate']} events/s for {stream['seconds']} s. Delay from production (the event's "
        "timestamp, set by the producer) to receipt by the client:",
        "",
        "| clients | events/s | deliveries (expected) | p50 ms | p99 ms | max ms | RSS idle | RSS with clients | per client |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {stream['clients']} | {stream['rate']} | {deliveries:,} ({expected:,}) | {p50} | {p99} | {worst} | "
        f"{stream['rss_idle_kb'] / 1024:.1f} MiB | {stream['rss_clients_kb'] / 1024:.1f} MiB | {per_client:.1f} KiB |",
        "",
        "The p50/p99 columns are the worse of the two client processes. Target: p99 ≤ 100 ms.",
    ]
else:
    lines += ["not measured"]

out_path.write_text("\n".join(lines) + "\n")
print(f"wrote {out_path}")
