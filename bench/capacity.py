"""Capacity model for docs/scaling.md: how many dynos of each service, which
Kafka and Postgres plans and how many partitions EDM needs at 1k, 10k, 100k
and 1M events/s, from the per-instance figures ./edm bench measured.

    bench/capacity.py [BENCH_DIR] [--write docs/scaling.md]

Figures come from BENCH_DIR (default .edm/bench) when a run left them there,
else from RECORDED below (the run docs/benchmarks.md shows). With --write the
table replaces the block between the capacity markers in the file; without
it the table is printed.

The model is deliberately simple, and every assumption is a named constant:
CPU per event (or per Socket.io delivery) measured on the benchmark machine,
a dyno worth DYNO_CORES of its cores, run at most at UTILISATION; Kafka sized
by bytes per event against Heroku's published plan limits; Postgres sized by
the measured single-database ingest rate.
"""
import json
import math
import statistics
import sys
from pathlib import Path

# Figures of the recorded run (docs/benchmarks.md); replaced by a newer run's
# JSON when BENCH_DIR has it.
RECORDED = {
    # CPU-milliseconds per 1,000 events, end to end at 10,000 events/s.
    "relay_cpu_ms_per_1k": 36.7,
    "stream_cpu_ms_per_1k_in": 9.8,
    # CPU-milliseconds per 1,000 Socket.io deliveries (largest fan-out cell).
    "stream_cpu_ms_per_1k_deliveries": 4.3,
    # Backlog counted exactly once by one edm-stats and one Postgres.
    "stats_ingest_per_s": 91_979,
}

# Assumptions (see docs/scaling.md).
DYNO = "performance-m"     # 2.5 GB, dedicated (Heroku dyno types)
DYNO_CORES = 1.0           # benchmark-machine cores one such dyno is worth
UTILISATION = 0.6          # run dynos at most this busy: headroom for bursts
MIN_DYNOS = 2              # two of everything, for restarts and deploys
EVENT_BYTES = 300          # ~150 B of JSON + key, event-id header, record overhead
READERS_PER_EVENT = 1      # edm-stats' group reads each event once ...
DASHBOARDS = 50            # ... and each edm-stream dyno reads every event
BROWSER_MAX_EVENTS = 1_000 # events/s one dashboard tab can sensibly receive

# Apache Kafka on Heroku, as published (multi-tenant plans: produce / consume
# quota in kB/s, max partitions; dedicated plans: up to 256 partitions per
# topic, 12,000 per standard and 32,000 per extended cluster).
BASIC_PLANS = [("basic-0", 64, 256, 240), ("basic-1", 512, 2048, 480), ("basic-2", 4096, 16384, 960)]
PARTITIONS_PER_TOPIC_MAX = 256
# Throughput one partition comfortably takes (a common rule of thumb).
PARTITION_MB_S = 5.0

RATES = [1_000, 10_000, 100_000, 1_000_000]


def load(bench_dir, name):
    path = bench_dir / name
    return json.loads(path.read_text()) if path.exists() and path.stat().st_size else None


def measured(bench_dir):
    """The per-instance figures, newest run first, recorded ones otherwise."""
    figures, source = dict(RECORDED), "recorded figures (docs/benchmarks.md)"
    cpus = [load(bench_dir, f"e2e-10000.run{r}.cpu.json") for r in (1, 2, 3)]
    cpus = [c for c in cpus if c]
    if cpus:
        events = 10_000 * cpus[0]["seconds"]
        figures["relay_cpu_ms_per_1k"] = statistics.median(c["edm-relay"] for c in cpus) * 1e6 / events
        # One client: the stream's CPU is one delivery per event on top of reading it.
        stream = statistics.median(c["edm-stream"] for c in cpus) * 1e6 / events
        figures["stream_cpu_ms_per_1k_in"] = stream
        source = f"the run in `{display(bench_dir)}`"
    cells = [json.loads(p.read_text()) for p in bench_dir.glob("stream-*x*.json")]
    cells = [c for c in cells if c.get("cpu_seconds")]
    # The light client's cells, where the clients leave the machine to edm-stream.
    cells = [c for c in cells if c.get("client") == "light"] or cells
    if cells:
        big = max(cells, key=lambda c: c["clients"] * c["rate"])
        deliveries = big["clients"] * big["rate"] * big["seconds"]
        reading = figures["stream_cpu_ms_per_1k_in"] * big["rate"] * big["seconds"] / 1e6
        figures["stream_cpu_ms_per_1k_deliveries"] = max(big["cpu_seconds"] - reading, 0.0) * 1e6 / deliveries
    ingest = load(bench_dir, "stats-ingest.json")
    if ingest:
        figures["stats_ingest_per_s"] = ingest["events"] / ingest["seconds"]
    return figures, source


def display(path):
    """`path` relative to the repository when it is inside it."""
    root = Path(__file__).resolve().parent.parent
    try:
        return str(path.resolve().relative_to(root))
    except ValueError:
        return str(path)


def dynos(cpu_ms_per_1k, events_per_s):
    cores = cpu_ms_per_1k * events_per_s / 1e6
    return max(MIN_DYNOS, math.ceil(cores / (DYNO_CORES * UTILISATION)))


def kafka_plan(rate, stream_dynos):
    produce_kb = rate * EVENT_BYTES / 1000
    consume_kb = produce_kb * (READERS_PER_EVENT + stream_dynos)
    for name, produce_quota, consume_quota, _ in BASIC_PLANS:
        if produce_kb <= produce_quota * UTILISATION and consume_kb <= consume_quota * UTILISATION:
            return name, produce_kb, consume_kb
    plan = "standard-*" if produce_kb * 3 / 1000 < 150 else "extended-*"
    return plan, produce_kb, consume_kb


def model(figures):
    rows = []
    for rate in RATES:
        relay = dynos(figures["relay_cpu_ms_per_1k"], rate)
        per_tab = min(rate, BROWSER_MAX_EVENTS)
        # Every stream dyno reads every event; clients spread over the dynos.
        read_cores = figures["stream_cpu_ms_per_1k_in"] * rate / 1e6
        deliver_cores = figures["stream_cpu_ms_per_1k_deliveries"] * per_tab * DASHBOARDS / 1e6
        budget = DYNO_CORES * UTILISATION
        if read_cores >= budget:
            stream = None  # one dyno cannot read the whole stream: the design must change
        else:
            stream = max(MIN_DYNOS, math.ceil(deliver_cores / (budget - read_cores)))
        postgres_share = rate / (figures["stats_ingest_per_s"] * UTILISATION)
        stats = max(MIN_DYNOS, math.ceil(postgres_share))
        plan, produce_kb, consume_kb = kafka_plan(rate, stream or MIN_DYNOS)
        partitions = max(stats * 2, math.ceil(produce_kb / 1000 / PARTITION_MB_S), 4)
        partitions = min(2 ** math.ceil(math.log2(partitions)), PARTITIONS_PER_TOPIC_MAX)
        rows.append({
            "rate": rate, "relay": relay, "stream": stream, "stats": stats, "plan": plan,
            "produce_mb": produce_kb / 1000, "consume_mb": consume_kb / 1000,
            "partitions": partitions, "postgres_share": postgres_share, "per_tab": per_tab,
        })
    return rows


def postgres_plan(share):
    if share <= 0.1:
        return "essential or standard-0"
    if share <= 0.5:
        return "standard/premium, larger"
    if share <= 1.0:
        return "premium, largest sizes"
    return f"more than one ({share:.0f}× one database)"


def first_bottleneck(row):
    found = []
    if row["stream"] is None:
        found.append("edm-stream: one dyno cannot read every event")
    if row["postgres_share"] > 1:
        found.append("Postgres: dedup inserts and hot aggregate rows")
    if found:
        return "; ".join(found)
    if row["plan"].startswith("basic"):
        return f"Kafka {row['plan']} quotas"
    return "the relay's CPU (one HTTP request per event)"


def table(figures, source):
    lines = [
        f"Per-instance figures from {source}: relay {figures['relay_cpu_ms_per_1k']:.0f} CPU-ms per 1,000 events; "
        f"edm-stream {figures['stream_cpu_ms_per_1k_in']:.0f} CPU-ms per 1,000 events read and "
        f"{figures['stream_cpu_ms_per_1k_deliveries']:.1f} per 1,000 deliveries; edm-stats with one Postgres "
        f"{figures['stats_ingest_per_s']:,.0f} events/s. Assumptions: a {DYNO} dyno ≈ {DYNO_CORES:g} benchmark core, "
        f"run at ≤ {UTILISATION:.0%}; at least {MIN_DYNOS} dynos of each; {EVENT_BYTES} B per event in Kafka; "
        f"{DASHBOARDS} dashboards open, each sent at most {BROWSER_MAX_EVENTS:,} events/s.",
        "",
        "| events/s | edm-relay dynos | edm-stream dynos | edm-stats dynos | partitions per topic | Kafka plan (produce / consume MB/s) | Postgres | first bottleneck |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in model(figures):
        stream = str(r["stream"]) if r["stream"] is not None else "— (redesign)"
        lines.append(
            f"| {r['rate']:,} | {r['relay']} | {stream} | {r['stats']} | {r['partitions']} | "
            f"{r['plan']} ({r['produce_mb']:.1f} / {r['consume_mb']:.1f}) | {postgres_plan(r['postgres_share'])} "
            f"({r['postgres_share']:.0%} of one) | {first_bottleneck(r)} |")
    return "\n".join(lines)


def main(argv):
    write_to = None
    if "--write" in argv:
        at = argv.index("--write")
        write_to = Path(argv[at + 1])
        argv = argv[:at] + argv[at + 2:]
    bench_dir = Path(argv[0]) if argv else Path(__file__).resolve().parent.parent / ".edm" / "bench"
    figures, source = measured(bench_dir)
    text = table(figures, source)
    if write_to:
        target = write_to
        doc = target.read_text()
        begin, end = "<!-- capacity:begin -->", "<!-- capacity:end -->"
        head, rest = doc.split(begin, 1)
        _, tail = rest.split(end, 1)
        target.write_text(f"{head}{begin}\n{text}\n{end}{tail}")
        print(f"wrote the capacity table into {target}")
    else:
        print(text)


if __name__ == "__main__":
    main(sys.argv[1:])
