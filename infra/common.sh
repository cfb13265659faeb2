# Shared helpers for ./edm: paths, ports, logging, process control.
# Sourced, never run. Every port and directory can be overridden by the
# environment so a developer's own stack and CI can live side by side.

EDM_STATE=${EDM_STATE_DIR:-$EDM_ROOT/.edm}
EDM_CERTS=${EDM_CERTS:-$EDM_STATE/certs}
EDM_KAFKA_LIBS=${EDM_KAFKA_LIBS:-$EDM_STATE/kafka/libs}
# The version Apache Kafka on Heroku runs by default, for the deploy rehearsal.
EDM_HEROKU_KAFKA_VERSION=3.7.1
EDM_HEROKU_KAFKA_LIBS=${EDM_HEROKU_KAFKA_LIBS:-$EDM_STATE/kafka/libs-$EDM_HEROKU_KAFKA_VERSION}

# Single broker (everyday tests and the native run).
EDM_KAFKA_PORT=${EDM_KAFKA_PORT:-19092}         # plaintext
EDM_KAFKA_TLS_PORT=${EDM_KAFKA_TLS_PORT:-19093} # TLS with client certificates
EDM_KAFKA_CONTROLLER_PORT=${EDM_KAFKA_CONTROLLER_PORT:-19094}
# Three-broker cluster (failure tests): broker N uses base+N.
EDM_CLUSTER_PORT_BASE=${EDM_CLUSTER_PORT_BASE:-29090}
EDM_CLUSTER_TLS_PORT_BASE=${EDM_CLUSTER_TLS_PORT_BASE:-29190}
EDM_CLUSTER_CONTROLLER_PORT_BASE=${EDM_CLUSTER_CONTROLLER_PORT_BASE:-29290}

EDM_PG_PORT=${EDM_PG_PORT:-15432}
EDM_PG_USER=edm
EDM_PG_PASSWORD=edm
EDM_PG_DB=edm

# Passwords of throwaway test keystores; nothing real is protected by them.
EDM_KEYSTORE_PASSWORD=edm-test-keystore

log() { printf 'edm: %s\n' "$*" >&2; }
die() { printf 'edm: error: %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" = 0 ]; }

# Whether something accepts TCP connections on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_for_port PORT SECONDS WHAT LOGFILE
wait_for_port() {
  local port=$1 seconds=$2 what=$3 logfile=$4 i
  for ((i = 0; i < seconds * 10; i++)); do
    port_open "$port" && return 0
    sleep 0.1
  done
  [ -f "$logfile" ] && tail -n 40 "$logfile" >&2
  die "$what did not open port $port within ${seconds}s (log: $logfile)"
}

# running PID: whether PID runs (a zombie has exited: a process that is not
# our child, like a service edm-tool started, is reaped by whoever adopted it).
running() {
  local stat
  kill -0 "$1" 2>/dev/null || return 1
  read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
  stat=${stat##*) } # "pid (comm) state ...": comm may hold spaces
  [ "${stat%% *}" != Z ]
}

# Whether the process in pid file $1 is alive.
pid_alive() { [ -f "$1" ] && running "$(cat "$1")"; }

# stop_pid PIDFILE WHAT: SIGTERM, wait up to 30 s, then SIGKILL.
stop_pid() {
  local pidfile=$1 what=$2 pid
  pid_alive "$pidfile" || { rm -f "$pidfile"; return 0; }
  pid=$(cat "$pidfile")
  kill -TERM "$pid" 2>/dev/null || true
  await_exit "$pid" "$what"
  rm -f "$pidfile"
}

# await_exit PID WHAT: waits up to 30 s for PID to exit, then SIGKILLs it.
await_exit() {
  local pid=$1 what=$2 i
  for ((i = 0; i < 300; i++)); do
    running "$pid" || return 0
    sleep 0.1
  done
  log "$what did not stop in 30 s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
}
