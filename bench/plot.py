"""Plots the end-to-end latency distributions of ./edm bench stack (the
histograms the Socket.io client recorded, in .edm/bench) into a PNG:
left, the share of events per millisecond of delay; right, the share of
events slower than a delay (log scales, so the tail is visible), with the
25 ms target marked. Runs of the same rate are pooled.

    bench/plot.py BENCH_DIR OUT.png
"""
import json
import sys
from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

bench_dir, out_path = Path(sys.argv[1]), Path(sys.argv[2])
TARGET_MS = 25

by_rate = {}
for path in sorted(bench_dir.glob("e2e-*.run*.clients.json")):
    rate = int(path.name.split("-")[1].split(".")[0])
    histogram = json.loads(path.read_text()).get("histogram_ms", {})
    pooled = by_rate.setdefault(rate, Counter())
    for delay, count in histogram.items():
        pooled[int(delay)] += count
if not by_rate:
    sys.exit("no end-to-end figures to plot (run ./edm bench stack)")

fig, (share, tail) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
for rate in sorted(by_rate):
    counts = by_rate[rate]
    total = sum(counts.values())
    delays = sorted(counts)
    label = f"{rate:,} events/s ({total:,} deliveries)"
    share.plot(delays, [counts[d] / total for d in delays], drawstyle="steps-mid", label=label)
    above, remaining = [], total
    for d in delays:
        remaining -= counts[d]
        above.append(max(remaining, 0.5) / total)
    tail.step([max(d, 0.5) for d in delays], above, where="post", label=label)

share.set_xlim(0, 40)
share.set_xlabel("relay → Socket.io client, ms")
share.set_ylabel("share of events")
share.set_title("Distribution")
tail.set_xscale("log")
tail.set_yscale("log")
tail.set_xlabel("relay → Socket.io client, ms (log)")
tail.set_ylabel("share of events slower (log)")
tail.set_title("Tail")
for axis in (share, tail):
    axis.axvline(TARGET_MS, color="grey", linestyle="--", linewidth=1)
    axis.grid(alpha=0.3)
tail.text(TARGET_MS * 1.05, tail.get_ylim()[1] * 0.5, "p99 target", color="grey", fontsize=8, va="top")
share.legend(fontsize=8)
fig.suptitle("EDM end-to-end latency (./edm bench stack)", fontsize=11)
fig.tight_layout()
fig.savefig(out_path)
print(f"wrote {out_path}")
