# ./edm bench [relay|stats|stream|trending|stack|scale|all]: measures the services
# on this machine against the local broker and Postgres, and records the
# figures in the part's sections of docs/benchmarks.md (`edm-bench report`;
# the other sections stay), the latency plot (stack) and docs/scaling.md
# (all, `edm-bench capacity`).
# The parts themselves (what each starts, drives and measures) are Rust:
# `edm-bench run` (crates/edm-bench/src/parts/), which writes the figures as
# JSON into .edm/bench. This file installs what they need, builds the
# release binaries and renders the report. Sourced, never run.

EDM_BENCH_DIR=$EDM_STATE/bench

# matplotlib (from PyPI, pinned) in a venv under .edm/, for the plot.
bench_plot_tools() {
  local venv=$EDM_STATE/bench-venv
  if ! "$venv/bin/python" -c 'import matplotlib' 2>/dev/null; then
    python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv && python3 -m venv "$venv"; }
    "$venv/bin/pip" install -q 'matplotlib==3.10.*'
  fi
}

# setup_kafka_streams: Kafka Streams' jars (bench/kafka-streams/pom.xml,
# resolved once) and TrendingStreams compiled, in $EDM_STATE/kafka-streams.
setup_kafka_streams() {
  local dir=$EDM_STATE/kafka-streams want
  want=$(sha256sum <"$EDM_ROOT/bench/kafka-streams/pom.xml" | cut -d' ' -f1)
  if [ "$(cat "$dir/libs/.pom-sha" 2>/dev/null)" != "$want" ]; then
    log "resolving Kafka Streams from Maven Central"
    rm -rf "$dir/libs"
    mvn -q -B -Dstyle.color=never -f "$EDM_ROOT/bench/kafka-streams/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$dir/libs" >&2 \
      || die "could not resolve Kafka Streams with Maven"
    echo "$want" >"$dir/libs/.pom-sha"
  fi
  rm -rf "$dir/classes"
  javac -cp "$dir/libs/*" -d "$dir/classes" "$EDM_ROOT/bench/kafka-streams/TrendingStreams.java" \
    || die "could not compile bench/kafka-streams/TrendingStreams.java"
  export EDM_KAFKA_STREAMS_DIR=$dir
}

run_bench() {
  local what=${1:-all} bin
  case "$what" in
    relay | stats | stream | trending | stack | scale | all) ;;
    *) die "usage: ./edm bench [relay|stats|stream|trending|stack|scale|all]" ;;
  esac
  command -v wrk >/dev/null || apt_install wrk
  command -v psql >/dev/null || PATH=$(pg_bindir):$PATH
  case "$what" in stream | stack | all) setup_socketio_client ;; esac
  case "$what" in trending | all) setup_kafka_streams ;; esac
  load_topology
  infra_up
  log "building release binaries"
  cargo build --release --locked $(printf -- '-p %s ' "${TOPOLOGY_SERVICES[@]}") -p edm-bench
  bin=${CARGO_TARGET_DIR:-$EDM_ROOT/target}/release
  EDM_ROOT=$EDM_ROOT EDM_KAFKA_PORT=$EDM_KAFKA_PORT EDM_PG_PORT=$EDM_PG_PORT EDM_PG_USER=$EDM_PG_USER \
    EDM_PG_PASSWORD=$EDM_PG_PASSWORD "$bin/edm-bench" run "$what" "$EDM_BENCH_DIR" \
    || die "the bench's $what part failed (service logs: $EDM_BENCH_DIR)"
  # Only this run's sections are rewritten: .edm/bench may still hold other
  # parts' figures from older runs.
  "$bin/edm-bench" report "$EDM_BENCH_DIR" "$EDM_ROOT/docs/benchmarks.md" "$what"
  if [ "$what" = stack ] || [ "$what" = all ]; then
    bench_plot_tools
    "$EDM_STATE/bench-venv/bin/python" "$EDM_ROOT/bench/plot.py" "$EDM_BENCH_DIR" "$EDM_ROOT/docs/benchmarks-latency.png"
    log "the latency plot is in docs/benchmarks-latency.png"
  fi
  if [ "$what" = all ]; then
    "$bin/edm-bench" capacity "$EDM_BENCH_DIR" --write "$EDM_ROOT/docs/scaling.md"
    log "the capacity model is in docs/scaling.md"
  else
    log "docs/scaling.md combines every part's figures: ./edm bench all rewrites it"
  fi
}
