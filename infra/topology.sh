# The service topology from topology.json (the one description of EDM's
# services) as bash variables, for ./edm run, ./edm topics and ./edm bench,
# and the environment it gives each service on this machine. Sourced, never
# run; load_topology reads the file (with python3) when a command needs it.
#
#   TOPOLOGY_TOPICS           the logical topic names
#   TOPOLOGY_INTERNAL_TOPICS  topics created ahead with settings of their
#                             own, each "name partitions compact|delete"
#   TOPOLOGY_SERVICES         the services' (binaries') names, in file order
#   TOPOLOGY_KEY[name]        short name: relay, stream, ...
#   TOPOLOGY_PORT[name]       local port
#   TOPOLOGY_KAFKA[name]      1 if it talks to Kafka, else empty
#   TOPOLOGY_DATABASE[name]   1 if it needs DATABASE_URL, else empty
#   TOPOLOGY_PAGES[name]      the services whose pages call it, space-separated
#   TOPOLOGY_CALLS[name]      VARIABLE=service for each URL variable it reads

load_topology() {
  local declarations
  [ -n "${TOPOLOGY_SERVICES+loaded}" ] && return 0
  command -v python3 >/dev/null || apt_install python3
  declarations=$(python3 - "$EDM_ROOT/topology.json" <<'PY'
import json, shlex, sys

topology = json.load(open(sys.argv[1], encoding="utf-8"))
services = topology["services"]

def array(name, values):
    print(f"declare -ga {name}=({' '.join(shlex.quote(str(v)) for v in values)})")

def table(name, value_of):
    pairs = " ".join(f"[{shlex.quote(s['name'])}]={shlex.quote(str(value_of(s)))}" for s in services)
    print(f"declare -gA {name}=({pairs})")

array("TOPOLOGY_TOPICS", topology["topics"])
array("TOPOLOGY_INTERNAL_TOPICS",
      [f"{t['name']} {t['partitions']} {'compact' if t.get('compact') else 'delete'}"
       for t in topology.get("internal_topics", [])])
array("TOPOLOGY_SERVICES", [s["name"] for s in services])
table("TOPOLOGY_KEY", lambda s: s["key"])
table("TOPOLOGY_PORT", lambda s: s["port"])
table("TOPOLOGY_KAFKA", lambda s: "1" if s.get("kafka") else "")
table("TOPOLOGY_DATABASE", lambda s: "1" if s.get("database") else "")
table("TOPOLOGY_PAGES", lambda s: " ".join(s.get("called_by_pages_of", [])))
table("TOPOLOGY_CALLS", lambda s: " ".join(f"{v}={t}" for v, t in s.get("calls", {}).items()))
PY
  ) || die "could not read $EDM_ROOT/topology.json"
  eval "$declarations"
}

# create_topology_topics BOOTSTRAP RF PREFIX: every topic of topology.json
# under PREFIX, if missing: the event topics with EDM_KAFKA_PARTITIONS
# partitions, the internal ones with their own count and cleanup policy.
create_topology_topics() {
  local bootstrap=$1 rf=$2 prefix=$3 entry name partitions policy
  load_topology
  create_topics "$bootstrap" "$rf" "${TOPOLOGY_TOPICS[@]/#/$prefix}"
  for entry in "${TOPOLOGY_INTERNAL_TOPICS[@]}"; do
    read -r name partitions policy <<<"$entry"
    create_topic "$bootstrap" "$rf" "$prefix$name" "$partitions" "cleanup.policy=$policy"
  done
}

# local_service_env NAME PORTS PREFIX DATABASE_URL: the environment
# topology.json gives service NAME on this machine, one VAR=value a line
# (Heroku's names): PORT; KAFKA_URL and KAFKA_PREFIX if it talks to Kafka;
# DATABASE_URL if it needs the database; EDM_ALLOWED_ORIGINS, the origins of
# the pages that call it; and each URL variable it reads. PORTS names an
# associative array of every service's port here.
local_service_env() {
  local name=$1 prefix=$3 database_url=$4 page call origins=()
  local -n port_of=$2
  echo "PORT=${port_of[$name]}"
  if [ -n "${TOPOLOGY_KAFKA[$name]}" ]; then
    printf '%s\n' "KAFKA_URL=kafka://127.0.0.1:$EDM_KAFKA_PORT" "KAFKA_PREFIX=$prefix"
  fi
  if [ -n "${TOPOLOGY_DATABASE[$name]}" ]; then echo "DATABASE_URL=$database_url"; fi
  for page in ${TOPOLOGY_PAGES[$name]}; do
    origins+=("http://localhost:${port_of[$page]}" "http://127.0.0.1:${port_of[$page]}")
  done
  if [ ${#origins[@]} -gt 0 ]; then (IFS=,; echo "EDM_ALLOWED_ORIGINS=${origins[*]}"); fi
  for call in ${TOPOLOGY_CALLS[$name]}; do
    echo "${call%%=*}=http://localhost:${port_of[${call#*=}]}"
  done
}
