# The service topology from topology.json (the one description of EDM's
# services) as bash variables, for ./edm run, ./edm topics and ./edm bench.
# The environment it gives each service is edm-config's (wiring.rs), printed
# by `edm-tool env NAME`. Sourced, never run; load_topology reads the file
# (with python3) when a command needs it.
#
#   TOPOLOGY_TOPICS           the logical topic names
#   TOPOLOGY_INTERNAL_TOPICS  topics created ahead with settings of their
#                             own, each "name partitions compact|delete"
#   TOPOLOGY_SERVICES         the services' (binaries') names, in file order
#   TOPOLOGY_KEY[name]        short name: relay, stream, ...
#   TOPOLOGY_PORT[name]       local port

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
