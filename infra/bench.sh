# ./edm bench [relay|stats|stream|trending|stack|all]: measures the services
# on this machine against the local broker and Postgres, and records the
# figures in the part's sections of docs/benchmarks.md (bench/report.py; the
# other sections stay), the latency plot (stack) and docs/scaling.md (all).
# Release builds; a warm-up before every measurement; each measurement run
# three times (start-up five), medians kept.
#   relay   wrk against the relay's single and batch endpoints
#   stats   backlog ingest rate, API under load
#   stream  fan-out: Socket.io clients x events/s
#   trending  processing rate with transactions, changelog restore, delay
#   stack   all five services together: start-up to ready, memory idle and
#           under load, end-to-end latency relay -> Socket.io client at
#           100, 1,000 and 10,000 events/s, and the lag until the stats API
#           counts an event

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

# A fresh KAFKA_PREFIX with the topics of topology.json (4 partitions).
bench_prefix() {
  local prefix="bench-$(date +%s%N | tail -c 9)."
  create_topology_topics "127.0.0.1:$EDM_KAFKA_PORT" 1 "$prefix"
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
  # One load generator is one client: per-client limits stay off.
  # shellcheck disable=SC2086
  bench_start edm-relay 5900 KAFKA_URL="127.0.0.1:$EDM_KAFKA_PORT" KAFKA_PREFIX="$prefix" ${BENCH_TUNING[edm-relay]}
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
  bench_stats_instances 2
  bench_stats_instances 3
}

# bench_trending: edm-trending with transactions on this machine.
# Rate: a backlog of 500,000 clicks (20 products), timed from the start of
# the process until its window task has taken every click (both stages,
# every transaction committed). Restore: 1,000,000 changelog records
# (distinct keys) written by edm-bench, then the time edm-trending takes to
# read them back when the window task is assigned (its own measure, at
# /metrics). Delay: clicks at 1,000 events/s for 60 s, event time running
# 60 times faster than the clock (one window boundary a second), and the
# time from the click that closes each window to its result read
# read_committed (edm-bench trending-delay). The synthetic hour runs
# between edm-trending's clock watermark and its cap, which
# EDM_TRENDING_MAX_CLOCK_SKEW_SECS=3600 puts an hour either side of now.
# Quiet: five clicks and nothing after them, and the time from the end of
# their 1-minute window to its result (edm-bench trending-quiet), with the
# defaults: grace 60 s, skew 5 s.
metric_value() { # URL NAME: the value of an unlabelled metric, or 0
  curl -fsS "$1" 2>/dev/null | awk -v name="$2" '$1 == name { print $2; found = 1 } END { if (!found) print 0 }'
}

bench_trending() {
  local prefix n=500000 restore=1000000 started t counted
  prefix=$(bench_prefix)
  log "trending: producing a backlog of $n clicks"
  env KAFKA_URL="127.0.0.1:$EDM_KAFKA_PORT" KAFKA_PREFIX="$prefix" "$BENCH_BIN/edm-bench" produce click "$n" \
    >"$EDM_BENCH_DIR/trending-produce.json"
  log "trending: processing it with transactions"
  started=$(date +%s.%N)
  bench_start edm-trending 5903 KAFKA_URL="127.0.0.1:$EDM_KAFKA_PORT" KAFKA_PREFIX="$prefix"
  counted=0
  until [ "${counted%.*}" -ge "$n" ]; do
    sleep 0.05
    counted=$(metric_value http://127.0.0.1:5903/metrics edm_trending_clicks_counted_total)
  done
  t=$(python3 -c "import time; print(f'{time.time() - $started:.3f}')")
  echo "{\"events\": $n, \"seconds\": $t, \"aborted_cycles\": $(metric_value http://127.0.0.1:5903/metrics edm_trending_aborted_cycles_total)}" \
    >"$EDM_BENCH_DIR/trending-rate.json"
  bench_stop_services

  prefix=$(bench_prefix)
  log "trending: writing $restore changelog records"
  env KAFKA_URL="127.0.0.1:$EDM_KAFKA_PORT" KAFKA_PREFIX="$prefix" "$BENCH_BIN/edm-bench" changelog "$restore" \
    >"$EDM_BENCH_DIR/trending-changelog.json"
  log "trending: restoring them"
  bench_start edm-trending 5904 KAFKA_URL="127.0.0.1:$EDM_KAFKA_PORT" KAFKA_PREFIX="$prefix" \
    EDM_TRENDING_KAFKA_TIMEOUT_SECS=300
  until [ "$(metric_value http://127.0.0.1:5904/metrics edm_trending_restores_total)" != 0 ]; do sleep 0.1; done
  echo "{\"records\": $(metric_value http://127.0.0.1:5904/metrics edm_trending_last_restore_records), \"milliseconds\": $(metric_value http://127.0.0.1:5904/metrics edm_trending_last_restore_milliseconds), \"rss_kb\": $(rss_kb "$BENCH_LAST_PID")}" \
    >"$EDM_BENCH_DIR/trending-restore.json"
  bench_stop_services

  prefix=$(bench_prefix)
  log "trending: delay from a window's closing click to its result, at 1,000 events/s"
  bench_start edm-trending 5905 KAFKA_URL="127.0.0.1:$EDM_KAFKA_PORT" KAFKA_PREFIX="$prefix" \
    EDM_TRENDING_MAX_CLOCK_SKEW_SECS=3600
  env KAFKA_URL="127.0.0.1:$EDM_KAFKA_PORT" KAFKA_PREFIX="$prefix" EDM_TRENDING_MAX_CLOCK_SKEW_SECS=3600 \
    "$BENCH_BIN/edm-bench" trending-delay 1000 60 60 60 >"$EDM_BENCH_DIR/trending-delay.json"
  bench_stop_services

  prefix=$(bench_prefix)
  log "trending: a quiet store, five clicks and nothing after them (up to 2.5 minutes)"
  bench_start edm-trending 5906 KAFKA_URL="127.0.0.1:$EDM_KAFKA_PORT" KAFKA_PREFIX="$prefix"
  env KAFKA_URL="127.0.0.1:$EDM_KAFKA_PORT" KAFKA_PREFIX="$prefix" \
    "$BENCH_BIN/edm-bench" trending-quiet 5 60 5 >"$EDM_BENCH_DIR/trending-quiet.json"
  bench_stop_services
}

# bench_stats_instances K: a backlog of 200,000 clicks on 20 buttons (the
# same few hot rows) counted by K instances sharing the group; records the
# time until the total is exact, and that it stays exact.
bench_stats_instances() {
  local k=$1 prefix db n=200000 started t i total
  prefix=$(bench_prefix)
  db="bench_$(date +%s)_$k"
  PGPASSWORD=$EDM_PG_PASSWORD psql -h 127.0.0.1 -p "$EDM_PG_PORT" -U "$EDM_PG_USER" -d postgres -qc "CREATE DATABASE $db" >/dev/null
  log "stats: $n clicks counted by $k instances"
  env KAFKA_URL="127.0.0.1:$EDM_KAFKA_PORT" KAFKA_PREFIX="$prefix" "$BENCH_BIN/edm-bench" produce click "$n" >/dev/null
  started=$(date +%s.%N)
  for ((i = 0; i < k; i++)); do
    bench_start edm-stats $((5910 + i)) KAFKA_URL="127.0.0.1:$EDM_KAFKA_PORT" KAFKA_PREFIX="$prefix" \
      DATABASE_URL="postgres://$EDM_PG_USER:$EDM_PG_PASSWORD@127.0.0.1:$EDM_PG_PORT/$db"
  done
  total() { curl -fsS http://127.0.0.1:5910/api/v1/totals | python3 -c 'import json,sys; print(json.load(sys.stdin)["clicks"])'; }
  until [ "$(total)" -ge "$n" ]; do sleep 0.05; done
  t=$(python3 -c "import time; print(f'{time.time() - $started:.3f}')")
  sleep 3
  total=$(total)
  echo "{\"instances\": $k, \"events\": $n, \"seconds\": $t, \"counted\": $total}" >"$EDM_BENCH_DIR/stats-ingest-$k.json"
  bench_stop_services
  PGPASSWORD=$EDM_PG_PASSWORD psql -h 127.0.0.1 -p "$EDM_PG_PORT" -U "$EDM_PG_USER" -d postgres -qc "DROP DATABASE $db" >/dev/null
}

# Fan-out cells: CLIENTSxRATE, each one 20 s run (two client processes),
# with each kind of client: official (socket.io-client in node) and light
# (edm-bench fanout, the same protocol at a fraction of the cost).
BENCH_FANOUT_CELLS=${EDM_BENCH_FANOUT_CELLS:-"100x100 100x1000 500x200 1000x100 1000x200"}
BENCH_FANOUT_CLIENTS=${EDM_BENCH_FANOUT_CLIENTS:-"official light"}

bench_stream() {
  local prefix idle cell client
  setup_socketio_client
  rm -f "$EDM_BENCH_DIR"/stream-*x*.json "$EDM_BENCH_DIR"/stream-*x*-clients.jsonl
  for client in $BENCH_FANOUT_CLIENTS; do
    # Fresh topics and a fresh instance for each kind of client, so that
    # its memory per client is not the other kind's, nor the events the
    # instance reads back at start.
    prefix=$(bench_prefix)
    # Every fan-out client connects from 127.0.0.1: lift the per-address cap.
    # EDM_BENCH_STREAM_ENV adds settings to compare (e.g. EDM_STREAM_WAKE_INTERVAL_MS=0), here and in the stack.
    # shellcheck disable=SC2086
    bench_start edm-stream 5901 KAFKA_URL="127.0.0.1:$EDM_KAFKA_PORT" KAFKA_PREFIX="$prefix" EDM_STREAM_RECENT_EVENTS=0 \
      EDM_HTTP_MAX_CONNECTIONS_PER_ADDRESS=0 ${EDM_BENCH_STREAM_ENV:-}
    idle=$(rss_kb "$BENCH_LAST_PID")
    for cell in $BENCH_FANOUT_CELLS; do
      bench_fanout_cell "$prefix" "${cell%x*}" "${cell#*x}" 20 "$idle" "$client"
    done
    bench_stop_services
  done
}

# bench_fanout_cell PREFIX CLIENTS RATE SECONDS IDLE_RSS_KB CLIENT: CLIENTS
# clients of kind CLIENT (official or light; two processes, so one event
# loop is not the bottleneck) receive RATE events/s for SECONDS.
bench_fanout_cell() {
  local prefix=$1 clients=$2 rate=$3 seconds=$4 idle=$5 client=$6 half loaded cpu0 cpu1 clients0 clients1 machine0 machine1 line_a line_b a_out b_out a_pid b_pid name
  local receiver=(node "$EDM_ROOT/bench/fanout.mjs")
  [ "$client" = light ] && receiver=("$BENCH_BIN/edm-bench" fanout)
  half=$((clients / 2))
  name="stream-$client-${clients}x${rate}"
  log "stream: $clients $client clients, $rate events/s for ${seconds}s"
  # Two readers at once: process substitutions (bash warns about a second
  # coproc while one runs).
  exec {a_out}< <(exec "${receiver[@]}" http://127.0.0.1:5901 "$half" $((seconds + 5)))
  a_pid=$!
  exec {b_out}< <(exec "${receiver[@]}" http://127.0.0.1:5901 "$((clients - half))" $((seconds + 5)))
  b_pid=$!
  read -r _ <&"$a_out"
  read -r _ <&"$b_out"
  loaded=$(rss_kb "$BENCH_LAST_PID")
  cpu0=$(cpu_ticks "$BENCH_LAST_PID")
  clients0=$(($(cpu_ticks "$a_pid") + $(cpu_ticks "$b_pid")))
  machine0=$(machine_ticks)
  env KAFKA_URL="127.0.0.1:$EDM_KAFKA_PORT" KAFKA_PREFIX="$prefix" "$BENCH_BIN/edm-bench" produce click $((rate * seconds)) "$rate" >/dev/null
  cpu1=$(cpu_ticks "$BENCH_LAST_PID")
  clients1=$(($(cpu_ticks "$a_pid") + $(cpu_ticks "$b_pid")))
  machine1=$(machine_ticks)
  read -r line_a <&"$a_out"
  read -r line_b <&"$b_out"
  exec {a_out}<&- {b_out}<&-
  printf '%s\n%s\n' "$line_a" "$line_b" >"$EDM_BENCH_DIR/$name-clients.jsonl"
  echo "{\"client\": \"$client\", \"clients\": $clients, \"rate\": $rate, \"seconds\": $seconds, \"rss_idle_kb\": $idle, \"rss_clients_kb\": $loaded, \"cpu_seconds\": $(ticks_to_s $((cpu1 - cpu0))), \"clients_cpu_seconds\": $(ticks_to_s $((clients1 - clients0))), $(machine_share "$machine0" "$machine1")}" \
    >"$EDM_BENCH_DIR/$name.json"
}

# --- the whole stack -------------------------------------------------------

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# machine_ticks: the machine's CPU time so far, "busy steal total" (ticks of
# all cores; busy counts everything but idle and I/O wait, steal is time the
# hypervisor gave to other guests).
machine_ticks() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9, $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat; }
# machine_share "BEFORE" "AFTER": the JSON fields saying how busy the whole
# machine was in between (all processes, one core is 100 %) and how much of
# it the hypervisor took: what tells a slow day from a slow service.
machine_share() {
  awk -v cores="$(nproc)" -v before="$1" -v after="$2" 'BEGIN {
    split(before, a, " "); split(after, b, " "); total = b[3] - a[3]; if (total <= 0) total = 1
    printf "\"machine_busy_percent\": %.0f, \"steal_percent\": %.1f", 100 * cores * (b[1] - a[1]) / total, 100 * cores * (b[2] - a[2]) / total}'
}
ticks_to_s() { awk -v t="$1" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", t / hz}'; }
hwm_kb() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }

# ready_now PORT: whether GET /ready answers 200 (bash's /dev/tcp, so that
# polling every few ms costs no process start).
ready_now() {
  local line=
  { exec {BENCH_FD}<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
  printf 'GET /ready HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&"$BENCH_FD"
  IFS= read -r -t 2 line <&"$BENCH_FD" || true
  exec {BENCH_FD}>&-
  [[ $line == *" 200 "* ]]
}

# The stack: the services of topology.json on ports 5910, 5911, ... (clear
# of ./edm run's), wired as the topology says (BENCH_ENV, one VAR=value a
# line), with the load generators' limits lifted.
declare -A BENCH_PORT=() BENCH_ENV=()
# The load generators all connect from 127.0.0.1: no per-address caps.
declare -A BENCH_TUNING=(
  [edm-relay]="EDM_RELAY_RATE_LIMIT_PER_SECOND=0 EDM_HTTP_MAX_CONNECTIONS_PER_ADDRESS=0 EDM_RELAY_MAX_IN_FLIGHT_PER_CLIENT=1024"
  [edm-stream]="EDM_STREAM_RECENT_EVENTS=0 EDM_HTTP_MAX_CONNECTIONS_PER_ADDRESS=0 ${EDM_BENCH_STREAM_ENV:-}"
)

bench_stack_env() {
  local prefix=$1 db=$2 i name ports=()
  for i in "${!TOPOLOGY_SERVICES[@]}"; do
    name=${TOPOLOGY_SERVICES[$i]}
    BENCH_PORT[$name]=$((5910 + i))
    ports+=("$(run_port_variable "$name")=${BENCH_PORT[$name]}")
  done
  for name in "${TOPOLOGY_SERVICES[@]}"; do
    BENCH_ENV[$name]="$(env "${ports[@]}" KAFKA_URL="kafka://127.0.0.1:$EDM_KAFKA_PORT" KAFKA_PREFIX="$prefix" \
      DATABASE_URL="postgres://$EDM_PG_USER:$EDM_PG_PASSWORD@127.0.0.1:$EDM_PG_PORT/$db" \
      "$BENCH_BIN/edm-tool" env "$name" | tr '\n' ' ') ${BENCH_TUNING[$name]:-}"
  done
}

# bench_launch NAME: starts a service of the stack and waits until /ready
# says 200; BENCH_READY_MS is the time from the launch to that answer.
bench_launch() {
  local name=$1 port=${BENCH_PORT[$1]} started i
  started=$(date +%s%N)
  env -i PATH="$PATH" RUST_LOG=warn ${BENCH_ENV[$name]} "$BENCH_BIN/$name" >>"$EDM_BENCH_DIR/$name.log" 2>&1 &
  BENCH_PIDS+=($!)
  BENCH_LAST_PID=$!
  for ((i = 0; i < 20000; i++)); do
    if ready_now "$port"; then
      BENCH_READY_MS=$((($(date +%s%N) - started) / 1000000))
      return 0
    fi
    sleep 0.002
  done
  die "$name did not become ready (log: $EDM_BENCH_DIR/$name.log)"
}

# Start-up to ready, five times per service (after one unmeasured start
# that applies edm-stats' migrations), with the broker and Postgres up.
bench_startup() {
  local name run times pid
  for name in "${TOPOLOGY_SERVICES[@]}"; do
    times=()
    for run in 0 1 2 3 4 5; do
      bench_launch "$name"
      pid=$BENCH_LAST_PID
      [ "$run" -gt 0 ] && times+=("$BENCH_READY_MS")
      kill -TERM "$pid"
      wait "$pid" 2>/dev/null || true
      BENCH_PIDS=()
    done
    log "start-up of $name: ${times[*]} ms"
    echo "{\"service\": \"$name\", \"ready_ms\": [$(IFS=,; echo "${times[*]}")]}" >"$EDM_BENCH_DIR/startup-$name.json"
  done
}

# bench_e2e_run RATE RUN: one client on edm-stream, the relay posted to at
# RATE events/s (3 s warm-up, 10 s measured), stats-lag probes alongside.
bench_e2e_run() {
  local rate=$1 run=$2 warm=3 seconds=10 fan_out prober line name drops0
  local -A cpu0
  local out="$EDM_BENCH_DIR/e2e-$rate.run$run"
  coproc FAN { node "$EDM_ROOT/bench/fanout.mjs" "http://127.0.0.1:${BENCH_PORT[edm-stream]}" 1 $((warm + seconds + 4)) --histogram; }
  exec {fan_out}<&"${FAN[0]}"
  read -r _ <&"$fan_out"
  for name in edm-relay edm-stream edm-stats; do cpu0[$name]=$(cpu_ticks "${BENCH_STACK_PID[$name]}"); done
  drops0=$(stream_drops)
  (sleep "$warm" && "$BENCH_BIN/edm-bench" stats-lag "http://127.0.0.1:${BENCH_PORT[edm-relay]}" \
    "http://127.0.0.1:${BENCH_PORT[edm-stats]}" $((seconds * 2 - 2)) 500 >"$out.stats-lag.json") &
  prober=$!
  "$BENCH_BIN/edm-bench" post "http://127.0.0.1:${BENCH_PORT[edm-relay]}" "$rate" "$seconds" "$warm" >"$out.post.json"
  wait "$prober"
  {
    printf '{'
    for name in edm-relay edm-stream edm-stats; do
      printf '"%s": %s, ' "$name" "$(ticks_to_s $(($(cpu_ticks "${BENCH_STACK_PID[$name]}") - cpu0[$name])))"
    done
    printf '"stream_client_drops": %s, ' $(($(stream_drops) - drops0))
    printf '"seconds": %s}\n' $((warm + seconds))
  } >"$out.cpu.json"
  read -r line <&"$fan_out"
  exec {fan_out}<&-
  echo "$line" >"$out.clients.json"
  log "e2e at $rate/s, run $run: $(python3 -c 'import json, sys
d = json.loads(sys.argv[1])
print("p50 {p50_ms} ms, p99 {p99_ms} ms, max {max_ms} ms, {deliveries} deliveries".format(**d))' "$line")"
}

declare -A BENCH_STACK_PID

# Events edm-stream dropped from slow clients' queues so far (its /metrics).
stream_drops() {
  curl -fsS "http://127.0.0.1:${BENCH_PORT[edm-stream]}/metrics" | awk '$1 == "edm_stream_client_drops_total" {print $2; found = 1} END {if (!found) print 0}'
}

bench_stack() {
  local prefix db name rate run rss
  prefix=$(bench_prefix)
  db="bench_stack_$(date +%s)"
  PGPASSWORD=$EDM_PG_PASSWORD psql -h 127.0.0.1 -p "$EDM_PG_PORT" -U "$EDM_PG_USER" -d postgres -qc "CREATE DATABASE $db" >/dev/null
  bench_stack_env "$prefix" "$db"
  setup_socketio_client

  log "stack: start-up to ready (broker and Postgres up)"
  bench_startup

  log "stack: all services, idle"
  for name in "${TOPOLOGY_SERVICES[@]}"; do
    bench_launch "$name"
    BENCH_STACK_PID[$name]=$BENCH_LAST_PID
  done
  sleep 10
  rss="{"
  for name in "${TOPOLOGY_SERVICES[@]}"; do rss+="\"$name\": $(rss_kb "${BENCH_STACK_PID[$name]}"), "; done
  echo "${rss%, }}" >"$EDM_BENCH_DIR/memory-idle.json"

  for rate in ${EDM_BENCH_E2E_RATES:-100 1000 10000}; do
    for run in 1 2 3; do bench_e2e_run "$rate" "$run"; done
  done

  log "stack: store and dashboard pages under wrk"
  wrk_runs ui-page "http://127.0.0.1:${BENCH_PORT[edm-ui]}/" bench/get.lua
  wrk_runs dashboard-page "http://127.0.0.1:${BENCH_PORT[edm-dashboard]}/" bench/get.lua

  rss="{"
  for name in "${TOPOLOGY_SERVICES[@]}"; do rss+="\"$name\": $(hwm_kb "${BENCH_STACK_PID[$name]}"), "; done
  echo "${rss%, }}" >"$EDM_BENCH_DIR/memory-peak.json"
  bench_stop_services
  PGPASSWORD=$EDM_PG_PASSWORD psql -h 127.0.0.1 -p "$EDM_PG_PORT" -U "$EDM_PG_USER" -d postgres -qc "DROP DATABASE $db" >/dev/null
}

# matplotlib (from PyPI, pinned) in a venv under .edm/, for the plot.
bench_plot_tools() {
  local venv=$EDM_STATE/bench-venv
  if ! "$venv/bin/python" -c 'import matplotlib' 2>/dev/null; then
    python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv && python3 -m venv "$venv"; }
    "$venv/bin/pip" install -q 'matplotlib==3.10.*'
  fi
}

run_bench() {
  local what=${1:-all}
  command -v wrk >/dev/null || apt_install wrk
  command -v curl >/dev/null || apt_install curl
  load_topology
  infra_up
  log "building release binaries"
  cargo build --release --locked $(printf -- '-p %s ' "${TOPOLOGY_SERVICES[@]}") -p edm-bench -p edm-tool
  BENCH_BIN=${CARGO_TARGET_DIR:-$EDM_ROOT/target}/release
  mkdir -p "$EDM_BENCH_DIR"
  echo "{\"loadavg\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"started\": \"$(date -u +%FT%TZ)\"}" >"$EDM_BENCH_DIR/machine.json"
  trap bench_stop_services EXIT
  case "$what" in
    relay) bench_relay ;;
    stats) bench_stats ;;
    stream) bench_stream ;;
    stack) bench_stack ;;
    trending) bench_trending ;;
    all) bench_relay; bench_stats; bench_stream; bench_trending; bench_stack ;;
    *) die "usage: ./edm bench [relay|stats|stream|trending|stack|all]" ;;
  esac
  # Only this run's sections are rewritten: .edm/bench may still hold other
  # parts' figures from older runs.
  python3 "$EDM_ROOT/bench/report.py" "$EDM_BENCH_DIR" "$EDM_ROOT/docs/benchmarks.md" "$what"
  if [ "$what" = stack ] || [ "$what" = all ]; then
    bench_plot_tools
    "$EDM_STATE/bench-venv/bin/python" "$EDM_ROOT/bench/plot.py" "$EDM_BENCH_DIR" "$EDM_ROOT/docs/benchmarks-latency.png"
    log "the latency plot is in docs/benchmarks-latency.png"
  fi
  if [ "$what" = all ]; then
    python3 "$EDM_ROOT/bench/capacity.py" "$EDM_BENCH_DIR" --write "$EDM_ROOT/docs/scaling.md"
    log "the capacity model is in docs/scaling.md"
  else
    log "docs/scaling.md combines every part's figures: ./edm bench all rewrites it"
  fi
}
