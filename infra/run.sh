# ./edm run: the whole system on this machine, no Docker. Starts Kafka and
# PostgreSQL (reusing them when already up), creates the topics, builds the
# five services (release), starts them wired to each other, waits until each
# is ready, prints the store and dashboard URLs, and on Ctrl-C stops
# everything it started.

EDM_RUN_DIR=$EDM_STATE/run
EDM_SERVICES=(edm-relay edm-stream edm-stats edm-ui edm-dashboard)

service_port() {
  case "$1" in
    edm-relay) echo "${EDM_RELAY_PORT:-5000}" ;;
    edm-stream) echo "${EDM_STREAM_PORT:-5001}" ;;
    edm-stats) echo "${EDM_STATS_PORT:-5002}" ;;
    edm-ui) echo "${EDM_UI_PORT:-3000}" ;;
    edm-dashboard) echo "${EDM_DASHBOARD_PORT:-3001}" ;;
  esac
}

# The environment each service gets: Heroku's variable names, local values.
service_env() {
  local name=$1 ui dashboard
  ui="http://localhost:$(service_port edm-ui)"
  dashboard="http://localhost:$(service_port edm-dashboard)"
  printf '%s\n' "PORT=$(service_port "$name")" "RUST_LOG=${RUST_LOG:-info}"
  case "$name" in
    edm-relay | edm-stream | edm-stats)
      printf '%s\n' "KAFKA_URL=kafka://127.0.0.1:$EDM_KAFKA_PORT" "KAFKA_PREFIX=${KAFKA_PREFIX:-}"
      ;;
  esac
  case "$name" in
    edm-relay) echo "EDM_ALLOWED_ORIGINS=$ui,http://127.0.0.1:$(service_port edm-ui)" ;;
    edm-stream) echo "EDM_ALLOWED_ORIGINS=$dashboard,http://127.0.0.1:$(service_port edm-dashboard)" ;;
    edm-stats)
      echo "EDM_ALLOWED_ORIGINS=$dashboard,http://127.0.0.1:$(service_port edm-dashboard)"
      echo "DATABASE_URL=postgres://$EDM_PG_USER:$EDM_PG_PASSWORD@127.0.0.1:$EDM_PG_PORT/$EDM_PG_DB"
      ;;
    edm-ui) echo "EDM_RELAY_URL=http://localhost:$(service_port edm-relay)" ;;
    edm-dashboard)
      echo "EDM_STREAM_URL=http://localhost:$(service_port edm-stream)"
      echo "EDM_STATS_URL=http://localhost:$(service_port edm-stats)"
      ;;
  esac
}

# wait_ready NAME PID: polls /ready until 200 (60 s at most).
wait_ready() {
  local name=$1 pid=$2 port i
  port=$(service_port "$name")
  for ((i = 0; i < 600; i++)); do
    kill -0 "$pid" 2>/dev/null || { tail -n 20 "$EDM_RUN_DIR/$name.log" >&2; die "$name exited during start-up"; }
    if curl -fsS -o /dev/null "http://127.0.0.1:$port/ready" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  tail -n 20 "$EDM_RUN_DIR/$name.log" >&2
  die "$name was not ready within 60 s (log: $EDM_RUN_DIR/$name.log)"
}

RUN_PIDS=()
RUN_STARTED_KAFKA=
RUN_STARTED_PG=

stop_run() {
  local pid
  trap - INT TERM EXIT
  log "stopping the services"
  for pid in "${RUN_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${RUN_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$RUN_STARTED_KAFKA" ]; then kafka_single_down; fi
  if [ -n "$RUN_STARTED_PG" ]; then postgres_down; fi
  log "stopped"
}

run_system() {
  local name port pid
  command -v curl >/dev/null || apt_install curl
  for name in "${EDM_SERVICES[@]}"; do
    port=$(service_port "$name")
    ! port_open "$port" || die "port $port (for $name) is taken; stop what uses it or set EDM_${name#edm-}_PORT"
  done
  pid_alive "$EDM_KAFKA_SINGLE/pid" || RUN_STARTED_KAFKA=1
  as_pg "$(pg_bindir)/pg_ctl" -D "$(pg_dir)/data" status >/dev/null 2>&1 || RUN_STARTED_PG=1
  trap 'stop_run; exit 0' INT TERM
  trap stop_run EXIT
  infra_up
  create_topics "127.0.0.1:$EDM_KAFKA_PORT" 1 "${KAFKA_PREFIX:-}edm-ui-click" "${KAFKA_PREFIX:-}edm-ui-pageload"
  log "building the services (release; the first build takes a few minutes)"
  cargo build --release --locked $(printf -- '-p %s ' "${EDM_SERVICES[@]}")
  local bin_dir=${CARGO_TARGET_DIR:-$EDM_ROOT/target}/release
  mkdir -p "$EDM_RUN_DIR"
  for name in "${EDM_SERVICES[@]}"; do
    # Sensitive values never reach the log: the environment goes by file.
    service_env "$name" >"$EDM_RUN_DIR/$name.env"
    env -i PATH="$PATH" $(cat "$EDM_RUN_DIR/$name.env") "$bin_dir/$name" >"$EDM_RUN_DIR/$name.log" 2>&1 &
    RUN_PIDS+=($!)
  done
  for i in "${!EDM_SERVICES[@]}"; do wait_ready "${EDM_SERVICES[$i]}" "${RUN_PIDS[$i]}"; done
  cat >&2 <<MSG

  EDM is running.
    store:      http://localhost:$(service_port edm-ui)
    dashboard:  http://localhost:$(service_port edm-dashboard)
    stats API:  http://localhost:$(service_port edm-stats)/api/clickCount  (OpenAPI: /openapi.json)
    relay:      http://localhost:$(service_port edm-relay)
  Logs: $EDM_RUN_DIR/<service>.log. Ctrl-C stops everything.

MSG
  # Wait until Ctrl-C, or until a service dies (then stop the rest).
  wait -n "${RUN_PIDS[@]}" || true
  log "a service exited; stopping the others (logs: $EDM_RUN_DIR)"
  return 1
}
