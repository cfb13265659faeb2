# ./edm run: the whole system on this machine, no Docker. Starts Kafka and
# PostgreSQL (reusing them when already up), creates the topics, builds the
# services of topology.json (release), starts them wired to each other as it
# describes, waits until each is ready and prints the store and dashboard
# URLs. On Ctrl-C, or when a service exits, it stops everything it started.
# EDM_RUN_PROFILE=dev runs debug builds instead (quicker to build; the test
# that nothing outlives a run uses the binaries cargo test built).

EDM_RUN_DIR=$EDM_STATE/run
declare -A RUN_PORT=() # service => the port it listens on here
RUN_PIDS=()            # the services' processes, in topology order
RUN_STARTED_KAFKA=
RUN_STARTED_PG=
RUN_PAUSE= # the background `sleep` the watch loop waits on

# run_port_variable NAME: the variable that moves a service's port, e.g.
# EDM_RELAY_PORT for key relay.
run_port_variable() {
  local key=${TOPOLOGY_KEY[$1]^^}
  echo "EDM_${key//-/_}_PORT"
}

# Each service's port: its port in topology.json unless EDM_<KEY>_PORT is set.
set_run_ports() {
  local name variable
  for name in "${TOPOLOGY_SERVICES[@]}"; do
    variable=$(run_port_variable "$name")
    RUN_PORT[$name]=${!variable:-${TOPOLOGY_PORT[$name]}}
  done
}

# The EXIT trap, whatever ends the run (Ctrl-C, SIGTERM, a service that
# exited, an error): stops the services, then Kafka and PostgreSQL if this
# run started them. Best effort, every step even if one fails; Ctrl-C is
# ignored from here on, by this shell and by the commands it runs, so a
# second one cannot leave anything running.
stop_run() {
  local i
  trap '' INT TERM HUP
  set +e
  log "stopping what ./edm run started"
  [ -z "$RUN_PAUSE" ] || kill "$RUN_PAUSE" 2>/dev/null
  for i in "${!RUN_PIDS[@]}"; do kill -TERM "${RUN_PIDS[$i]}" 2>/dev/null; done
  for i in "${!RUN_PIDS[@]}"; do await_exit "${RUN_PIDS[$i]}" "${TOPOLOGY_SERVICES[$i]}"; done
  if [ -n "$RUN_STARTED_KAFKA" ]; then kafka_single_down; fi
  if [ -n "$RUN_STARTED_PG" ]; then postgres_down; fi
  log "stopped"
}

# start_service NAME BIN_DIR: starts the service's binary with the
# environment topology.json gives it (edm-config's wiring), in a process
# group of its own (Ctrl-C reaches only ./edm, which then stops the services
# itself), and waits until it is ready: edm-tool start, the one launcher.
start_service() {
  local name=$1 bin_dir=$2 started
  started=$(KAFKA_URL="kafka://127.0.0.1:$EDM_KAFKA_PORT" KAFKA_PREFIX="${KAFKA_PREFIX:-}" \
    DATABASE_URL="postgres://$EDM_PG_USER:$EDM_PG_PASSWORD@127.0.0.1:$EDM_PG_PORT/$EDM_PG_DB" \
    "$bin_dir/edm-tool" start "$name" "$bin_dir" "$EDM_RUN_DIR/$name.log" --wired RUST_LOG="${RUST_LOG:-info}") \
    || die "$name did not start (log: $EDM_RUN_DIR/$name.log)"
  RUN_PIDS+=("${started%% *}")
}

# all_alive PID...: whether every process still runs.
all_alive() {
  local pid
  for pid in "$@"; do running "$pid" || return 1; done
}

run_system() {
  local name
  command -v curl >/dev/null || apt_install curl
  load_topology
  set_run_ports
  for name in "${TOPOLOGY_SERVICES[@]}"; do
    ! port_open "${RUN_PORT[$name]}" \
      || die "port ${RUN_PORT[$name]} (for $name) is taken; stop what uses it or set $(run_port_variable "$name")"
  done
  pid_alive "$EDM_KAFKA_SINGLE/pid" || RUN_STARTED_KAFKA=1
  as_pg "$(pg_bindir)/pg_ctl" -D "$(pg_dir)/data" status >/dev/null 2>&1 || RUN_STARTED_PG=1
  trap stop_run EXIT
  trap 'exit 0' INT TERM HUP
  infra_up
  create_topology_topics "127.0.0.1:$EDM_KAFKA_PORT" 1 "${KAFKA_PREFIX:-}"
  local profile=${EDM_RUN_PROFILE:-release} profile_dir
  case $profile in
    release) profile_dir=release ;;
    dev) profile_dir=debug ;;
    *) die "EDM_RUN_PROFILE is '$profile'; use release or dev" ;;
  esac
  log "building the services ($profile; the first build takes a few minutes)"
  cargo build --profile "$profile" --locked $(printf -- '-p %s ' "${TOPOLOGY_SERVICES[@]}") -p edm-tool
  mkdir -p "$EDM_RUN_DIR"
  for name in "${TOPOLOGY_SERVICES[@]}"; do
    start_service "$name" "${CARGO_TARGET_DIR:-$EDM_ROOT/target}/$profile_dir"
  done
  printf '%s\n' "" "  EDM is running." \
    "    store:      http://localhost:${RUN_PORT[edm-ui]}" \
    "    dashboard:  http://localhost:${RUN_PORT[edm-dashboard]}" \
    "    stats API:  http://localhost:${RUN_PORT[edm-stats]}/api/clickCount  (OpenAPI: /openapi.json)" \
    "    relay:      http://localhost:${RUN_PORT[edm-relay]}" \
    "  Logs: $EDM_RUN_DIR/<service>.log. Ctrl-C stops everything." "" >&2
  # Until Ctrl-C (the INT trap exits), or until a service dies. Builtins
  # only, and the pause is a background `sleep` the `wait` builtin waits
  # on: `wait` returns as soon as a trapped signal arrives, and no
  # foreground child is running when Ctrl-C comes, so bash's rules for a
  # child that may have handled the SIGINT itself never apply.
  while all_alive "${RUN_PIDS[@]}"; do
    sleep 1 &
    RUN_PAUSE=$!
    wait "$RUN_PAUSE"
  done
  log "a service exited (logs: $EDM_RUN_DIR)"
  return 1
}
