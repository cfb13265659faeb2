# The service topology from topology.json (the one description of EDM's
# services) as bash variables, for ./edm run, ./edm topics and ./edm bench.
# The environment it gives each service is edm-config's (wiring.rs), printed
# by `edm-tool env NAME`. Sourced, never run; load_topology reads the file
# (through `cargo xtask topology-bash`, crates/edm-tool) when a command needs
# it.
#
#   TOPOLOGY_TOPICS           the logical topic names
#   TOPOLOGY_COMPACTED_TOPICS those of them compacted
#   TOPOLOGY_INTERNAL_TOPICS  topics created ahead with settings of their
#                             own, each "name partitions compact|delete"
#   TOPOLOGY_SERVICES         the services' (binaries') names, in file order
#   TOPOLOGY_KEY[name]        short name: relay, stream, ...
#   TOPOLOGY_PORT[name]       local port

load_topology() {
  local declarations
  [ -n "${TOPOLOGY_SERVICES+loaded}" ] && return 0
  declarations=$(cd "$EDM_ROOT" && cargo xtask topology-bash) \
    || die "could not read $EDM_ROOT/topology.json (cargo xtask topology-bash)"
  eval "$declarations"
}

# create_topology_topics BOOTSTRAP RF PREFIX: every topic of topology.json
# under PREFIX, if missing: the public topics with EDM_KAFKA_PARTITIONS
# partitions (compacted where topology.json says), the internal ones with their own count and cleanup policy.
create_topology_topics() {
  local bootstrap=$1 rf=$2 prefix=$3 entry name partitions policy
  load_topology
  for name in "${TOPOLOGY_TOPICS[@]}"; do
    policy=delete
    [[ " ${TOPOLOGY_COMPACTED_TOPICS[*]} " == *" $name "* ]] && policy=compact
    create_topic "$bootstrap" "$rf" "$prefix$name" "${EDM_KAFKA_PARTITIONS:-4}" \
      "cleanup.policy=$policy"
  done
  for entry in "${TOPOLOGY_INTERNAL_TOPICS[@]}"; do
    read -r name partitions policy <<<"$entry"
    create_topic "$bootstrap" "$rf" "$prefix$name" "$partitions" "cleanup.policy=$policy"
  done
}
