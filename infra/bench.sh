# ./edm bench [relay|stats|stream|all]: measures the services on this
# machine against the local broker and Postgres, and records the figures in
# docs/benchmarks.md (through bench/report.py). Release builds; a warm-up
# before every measurement; each measurement run three times, medians kept.

EDM_BENCH_DIR=$EDM_STATE/bench
BENCH_PIDS=()

bench_stop_services() {
  local pid
  for pid in "${BENCH_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${BENCH_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  BENCH_PIDS=()
}

# bench_start NAME PORT ENV...: starts a release binary with ENV, waits for /ready.
bench_start() {
  local name=$1 port=$2 i
  shift 2
  env -i PATH="$PATH" PORT="$port" RUST_LOG=warn "$@" "$BENCH_BIN/$name" >"$EDM_BENCH_DIR/$name.log" 2>&1 &
  BENCH_PIDS+=($!)
  BENCH_LAST_PID=$!
  for ((i = 0; i < 600; i++)); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/ready" 2>/dev/null && return 0
    sleep 0.1
  done
  die "$name did not become ready (log: $EDM_BENCH_DIR/$name.log)"
}

# A fresh KAFKA_PREFIX with both topics (4 partitions).
bench_prefix() {
  local prefix="bench-$(date +%s%N | tail -c 9)."
  create_topics "127.0.0.1:$EDM_KAFKA_PORT" 1 "${prefix}edm-ui-click" "${prefix}edm-ui-pageload"
  echo "$prefix"
}

# wrk_runs NAME URL SCRIPT: warm-up, then three 15 s runs at 64 connections.
wrk_runs() {
  local name=$1 url=$2 script=$3 run
  (cd "$EDM_ROOT" && wrk -t2 -c64 -d5s -s "$script" "$url" >/dev/null)
  for run in 1 2 3; do
    (cd "$EDM_ROOT" && wrk -t2 -c64 -d15s --latency -s "$script" "$url") \
      | sed -n 's/^BENCH //p' >"$EDM_BENCH_DIR/$name.run$run.json"
  done
}

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

bench_relay() {
  local prefix
  prefix=$(bench_prefix)
  # One load generator is one client: per-client rate limiting stays off.
  bench_start edm-relay 5900 KAFKA_URL="127.0.0.1:$EDM_KAFKA_PORT" KAFKA_PREFIX="$prefix" EDM_RELAY_RATE_LIMIT_PER_SECOND=0
  log "relay: single events"
  wrk_runs relay-single http://127.0.0.1:5900 bench/relay-single.lua
  log "relay: batches of 100"
  wrk_runs relay-batch http://127.0.0.1:5900 bench/relay-batch.lua
  echo "{\"rss_kb\": $(rss_kb "$BENCH_LAST_PID")}" >"$EDM_BENCH_DIR/relay-rss.json"
  bench_stop_services
}

bench_stats() {
  local prefix db n=500000 started t
  prefix=$(bench_prefix)
  db="bench_$(date +%s)"
  PGPASSWORD=$EDM_PG_PASSWORD psql -h 127.0.0.1 -p "$EDM_PG_PORT" -U "$EDM_PG_USER" -d postgres -qc "CREATE DATABASE $db" >/dev/null
  log "stats: producing a backlog of $n clicks"
  env KAFKA_URL="127.0.0.1:$EDM_KAFKA_PORT" KAFKA_PREFIX="$prefix" "$BENCH_BIN/edm-bench" produce click "$n" \
    >"$EDM_BENCH_DIR/stats-produce.json"
  log "stats: ingesting it"
  started=$(date +%s.%N)
  bench_start edm-stats 5902 KAFKA_URL="127.0.0.1:$EDM_KAFKA_PORT" KAFKA_PREFIX="$prefix" \
    DATABASE_URL="postgres://$EDM_PG_USER:$EDM_PG_PASSWORD@127.0.0.1:$EDM_PG_PORT/$db"
  until [ "$(curl -fsS http://127.0.0.1:5902/api/v1/totals | python3 -c 'import json,sys; print(json.load(sys.stdin)["clicks"])')" = "$n" ]; do
    sleep 0.05
  done
  t=$(python3 -c "import time; print(f'{time.time() - $started:.3f}')")
  echo "{\"events\": $n, \"seconds\": $t}" >"$EDM_BENCH_DIR/stats-ingest.json"
  log "stats: API under load"
  wrk_runs stats-api-clickcount http://127.0.0.1:5902/api/clickCount bench/get.lua
  wrk_runs stats-api-series "http://127.0.0.1:5902/api/v1/clicks/series?bucket=minute" bench/get.lua
  log "stats: API under load while 2,000 events/s are being ingested"
  env KAFKA_URL="127.0.0.1:$EDM_KAFKA_PORT" KAFKA_PREFIX="$prefix" "$BENCH_BIN/edm-bench" produce click 110000 2000 >/dev/null &
  local producer=$!
  wrk_runs stats-api-clickcount-ingesting http://127.0.0.1:5902/api/clickCount bench/get.lua
  wait "$producer"
  echo "{\"rss_kb\": $(rss_kb "$BENCH_LAST_PID")}" >"$EDM_BENCH_DIR/stats-rss.json"
  bench_stop_services
  PGPASSWORD=$EDM_PG_PASSWORD psql -h 127.0.0.1 -p "$EDM_PG_PORT" -U "$EDM_PG_USER" -d postgres -qc "DROP DATABASE $db" >/dev/null
}

bench_stream() {
  local prefix idle loaded clients=500 rate=200 seconds=30 half
  prefix=$(bench_prefix)
  bench_start edm-stream 5901 KAFKA_URL="127.0.0.1:$EDM_KAFKA_PORT" KAFKA_PREFIX="$prefix" EDM_STREAM_RECENT_EVENTS=0
  idle=$(rss_kb "$BENCH_LAST_PID")
  (cd "$EDM_ROOT/crates/edm-stream/tests/client" && [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error)
  half=$((clients / 2))
  log "stream: $clients clients (two node processes), $rate events/s for ${seconds}s"
  # Two client processes, so one node event loop is not the bottleneck.
  coproc A { node "$EDM_ROOT/bench/fanout.mjs" http://127.0.0.1:5901 "$half" $((seconds + 5)); }
  exec {a_out}<&"${A[0]}"
  coproc B { node "$EDM_ROOT/bench/fanout.mjs" http://127.0.0.1:5901 "$((clients - half))" $((seconds + 5)); }
  exec {b_out}<&"${B[0]}"
  read -r _ <&"$a_out"
  read -r _ <&"$b_out"
  loaded=$(rss_kb "$BENCH_LAST_PID")
  env KAFKA_URL="127.0.0.1:$EDM_KAFKA_PORT" KAFKA_PREFIX="$prefix" "$BENCH_BIN/edm-bench" produce click $((rate * seconds)) "$rate" >/dev/null
  read -r line_a <&"$a_out"
  read -r line_b <&"$b_out"
  printf '%s\n%s\n' "$line_a" "$line_b" >"$EDM_BENCH_DIR/stream-clients.jsonl"
  echo "{\"clients\": $clients, \"rate\": $rate, \"seconds\": $seconds, \"rss_idle_kb\": $idle, \"rss_clients_kb\": $loaded}" \
    >"$EDM_BENCH_DIR/stream.json"
  bench_stop_services
}

run_bench() {
  local what=${1:-all}
  command -v wrk >/dev/null || apt_install wrk
  command -v curl >/dev/null || apt_install curl
  infra_up
  log "building release binaries"
  cargo build --release --locked -p edm-relay -p edm-stats -p edm-stream -p edm-bench
  BENCH_BIN=${CARGO_TARGET_DIR:-$EDM_ROOT/target}/release
  mkdir -p "$EDM_BENCH_DIR"
  trap bench_stop_services EXIT
  case "$what" in
    relay) bench_relay ;;
    stats) bench_stats ;;
    stream) bench_stream ;;
    all) bench_relay; bench_stats; bench_stream ;;
    *) die "usage: ./edm bench [relay|stats|stream|all]" ;;
  esac
  python3 "$EDM_ROOT/bench/report.py" "$EDM_BENCH_DIR" "$EDM_ROOT/docs/benchmarks.md"
  log "figures written to docs/benchmarks.md"
}
