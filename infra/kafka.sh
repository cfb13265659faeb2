# Real Apache Kafka brokers in KRaft mode (no ZooKeeper), run from the
# official jars: one broker for everyday work, or a three-broker cluster
# (replication factor 3, min.insync.replicas 2) for failure tests. Each
# broker has a plaintext listener and a TLS listener that requires a client
# certificate. Topics are never auto-created, as on Heroku.

EDM_KAFKA_SINGLE=$EDM_STATE/kafka/single
EDM_KAFKA_CLUSTER=$EDM_STATE/kafka/cluster

kafka_java() {
  local heap=${EDM_KAFKA_HEAP:-512m}
  java -Xms128m "-Xmx$heap" -XX:+UseG1GC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
    "-Dlog4j2.configurationFile=$EDM_ROOT/infra/kafka/log4j2.properties" \
    "-Dlog4j.configuration=file:$EDM_ROOT/infra/kafka/log4j.properties" \
    -cp "$EDM_KAFKA_LIBS/*" "$@"
}

# write_broker_config DIR NODE PLAIN_PORT TLS_PORT CONTROLLER_PORT VOTERS RF MIN_ISR
write_broker_config() {
  local dir=$1 node=$2 plain=$3 tls=$4 ctrl=$5 voters=$6 rf=$7 min_isr=$8
  mkdir -p "$dir/data"
  cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=$node
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$plain,SSL://127.0.0.1:$tls,CONTROLLER://127.0.0.1:$ctrl
advertised.listeners=PLAINTEXT://127.0.0.1:$plain,SSL://127.0.0.1:$tls
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SSL:SSL,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
auto.create.topics.enable=false
delete.topic.enable=true
num.partitions=${EDM_KAFKA_PARTITIONS:-4}
default.replication.factor=$rf
min.insync.replicas=$min_isr
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$min_isr
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$min_isr
group.initial.rebalance.delay.ms=0
log.retention.hours=168
# Small test brokers: a 16 MiB cleaner buffer instead of 128 MiB fits a small heap.
log.cleaner.dedupe.buffer.size=16777216
ssl.keystore.type=PKCS12
ssl.keystore.location=$EDM_CERTS/broker.p12
ssl.keystore.password=$EDM_KEYSTORE_PASSWORD
ssl.key.password=$EDM_KEYSTORE_PASSWORD
ssl.truststore.type=PEM
ssl.truststore.location=$EDM_CERTS/ca.pem
ssl.client.auth=required
PROPS
}

# start_broker DIR CLUSTER_ID PLAIN_PORT: formats storage once, then starts.
start_broker() {
  local dir=$1 cluster_id=$2 plain=$3
  if pid_alive "$dir/pid"; then return 0; fi
  if port_open "$plain"; then
    die "port $plain is taken by something else; set EDM_KAFKA_PORT (and friends) to free ports"
  fi
  if [ ! -f "$dir/data/meta.properties" ]; then
    kafka_java kafka.tools.StorageTool format -t "$cluster_id" \
      -c "$dir/server.properties" >"$dir/format.log" 2>&1 \
      || { cat "$dir/format.log" >&2; die "formatting $dir failed"; }
  fi
  local heap=${EDM_KAFKA_HEAP:-512m}
  # setsid: the broker outlives the shell that started it (./edm infra up).
  setsid nohup java -Xms128m "-Xmx$heap" -XX:+UseG1GC -Djava.awt.headless=true \
    "-Dlog4j2.configurationFile=$EDM_ROOT/infra/kafka/log4j2.properties" \
    "-Dlog4j.configuration=file:$EDM_ROOT/infra/kafka/log4j.properties" \
    -cp "$EDM_KAFKA_LIBS/*" kafka.Kafka "$dir/server.properties" \
    >"$dir/broker.log" 2>&1 </dev/null &
  echo $! >"$dir/pid"
}

cluster_id_for() {
  local file=$1/cluster-id
  mkdir -p "$1"
  [ -s "$file" ] || kafka_java kafka.tools.StorageTool random-uuid >"$file"
  cat "$file"
}

# create_topics BOOTSTRAP RF TOPIC...: creates each topic if it is missing,
# with EDM_KAFKA_PARTITIONS (4) partitions.
create_topics() {
  local bootstrap=$1 rf=$2 topic
  shift 2
  for topic in "$@"; do
    create_topic "$bootstrap" "$rf" "$topic" "${EDM_KAFKA_PARTITIONS:-4}"
  done
}

# create_topic BOOTSTRAP RF TOPIC PARTITIONS [CONFIG...]: creates the topic
# if it is missing; each CONFIG is a key=value topic setting.
create_topic() {
  local bootstrap=$1 rf=$2 topic=$3 partitions=$4 config args=()
  shift 4
  for config in "$@"; do args+=(--config "$config"); done
  kafka_java org.apache.kafka.tools.TopicCommand --bootstrap-server "$bootstrap" \
    --create --if-not-exists --topic "$topic" \
    --partitions "$partitions" --replication-factor "$rf" "${args[@]}" >/dev/null \
    || die "could not create topic $topic on $bootstrap"
}

kafka_single_up() {
  local dir=$EDM_KAFKA_SINGLE id
  if pid_alive "$dir/pid"; then return 0; fi
  id=$(cluster_id_for "$dir")
  write_broker_config "$dir" 1 "$EDM_KAFKA_PORT" "$EDM_KAFKA_TLS_PORT" \
    "$EDM_KAFKA_CONTROLLER_PORT" "1@127.0.0.1:$EDM_KAFKA_CONTROLLER_PORT" 1 1
  log "starting Kafka broker on 127.0.0.1:$EDM_KAFKA_PORT (TLS :$EDM_KAFKA_TLS_PORT)"
  start_broker "$dir" "$id" "$EDM_KAFKA_PORT"
  wait_for_port "$EDM_KAFKA_PORT" 90 "Kafka" "$dir/broker.log"
  wait_for_port "$EDM_KAFKA_TLS_PORT" 30 "Kafka (TLS)" "$dir/broker.log"
}

kafka_single_down() { stop_pid "$EDM_KAFKA_SINGLE/pid" "Kafka"; }

# A broker shaped like a basic Apache Kafka on Heroku plan, for the deploy
# rehearsal: the version Heroku runs by default (EDM_HEROKU_KAFKA_VERSION),
# clients on TLS with a client certificate whose names do not match, topics
# never auto-created, and KRaft's StandardAuthorizer: the client
# certificate's principal may use only the topics, consumer groups and
# transactional ids that `provision` grants it by prefix, so any other name
# fails with "Topic authorization failed" as on Heroku. The plaintext
# listener (admin tools, the controller) is the super user. Same ports and
# state variables as `./edm kafka`.
EDM_HEROKU_KAFKA=$EDM_STATE/kafka/heroku
# The test client certificate's principal, as Kafka names it.
EDM_HEROKU_KAFKA_PRINCIPAL="User:CN=edm-test-client"

heroku_kafka_up() {
  local dir=$EDM_HEROKU_KAFKA id
  if pid_alive "$dir/pid"; then return 0; fi
  id=$(EDM_KAFKA_LIBS=$EDM_HEROKU_KAFKA_LIBS cluster_id_for "$dir")
  write_broker_config "$dir" 1 "$EDM_KAFKA_PORT" "$EDM_KAFKA_TLS_PORT" \
    "$EDM_KAFKA_CONTROLLER_PORT" "1@127.0.0.1:$EDM_KAFKA_CONTROLLER_PORT" 1 1
  cat >>"$dir/server.properties" <<PROPS
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:ANONYMOUS
PROPS
  log "starting a Heroku-shaped Kafka $EDM_HEROKU_KAFKA_VERSION on 127.0.0.1:$EDM_KAFKA_TLS_PORT (TLS; admin :$EDM_KAFKA_PORT)"
  EDM_KAFKA_LIBS=$EDM_HEROKU_KAFKA_LIBS start_broker "$dir" "$id" "$EDM_KAFKA_PORT"
  wait_for_port "$EDM_KAFKA_PORT" 90 "Kafka" "$dir/broker.log"
  wait_for_port "$EDM_KAFKA_TLS_PORT" 30 "Kafka (TLS)" "$dir/broker.log"
}

heroku_kafka_down() { stop_pid "$EDM_HEROKU_KAFKA/pid" "Kafka (Heroku-shaped)"; }

# heroku_kafka_provision PREFIX [no-transactional-ids]: what a basic plan
# gives an app: the topology's topics under PREFIX, and the client
# certificate's rights on topics, consumer groups and transactional ids that
# start with PREFIX. Heroku documents transactional-id rights for dedicated
# plans only; `no-transactional-ids` provisions a plan without them.
heroku_kafka_provision() {
  local prefix=$1 transactions=(--transactional-id "$1")
  [ "${2:-}" = no-transactional-ids ] && transactions=()
  load_topology
  EDM_KAFKA_LIBS=$EDM_HEROKU_KAFKA_LIBS create_topology_topics "127.0.0.1:$EDM_KAFKA_PORT" 1 "$prefix"
  EDM_KAFKA_LIBS=$EDM_HEROKU_KAFKA_LIBS kafka_java kafka.admin.AclCommand \
    --bootstrap-server "127.0.0.1:$EDM_KAFKA_PORT" --add \
    --allow-principal "$EDM_HEROKU_KAFKA_PRINCIPAL" --operation All \
    --resource-pattern-type prefixed \
    --topic "$prefix" --group "$prefix" "${transactions[@]}" >/dev/null \
    || die "could not grant $EDM_HEROKU_KAFKA_PRINCIPAL the names under $prefix"
}

cluster_voters() {
  local n voters=
  for n in 1 2 3; do
    voters+="${voters:+,}$n@127.0.0.1:$((EDM_CLUSTER_CONTROLLER_PORT_BASE + n))"
  done
  echo "$voters"
}

cluster_bootstrap() {
  local n out=
  for n in 1 2 3; do out+="${out:+,}127.0.0.1:$((EDM_CLUSTER_PORT_BASE + n))"; done
  echo "$out"
}

# cluster_broker_up N: starts (or restarts) broker N of the cluster.
cluster_broker_up() {
  local n=$1 dir=$EDM_KAFKA_CLUSTER/broker-$1 id
  id=$(cluster_id_for "$EDM_KAFKA_CLUSTER")
  write_broker_config "$dir" "$n" "$((EDM_CLUSTER_PORT_BASE + n))" \
    "$((EDM_CLUSTER_TLS_PORT_BASE + n))" "$((EDM_CLUSTER_CONTROLLER_PORT_BASE + n))" \
    "$(cluster_voters)" 3 2
  EDM_KAFKA_HEAP=${EDM_KAFKA_HEAP:-384m} start_broker "$dir" "$id" "$((EDM_CLUSTER_PORT_BASE + n))"
}

cluster_up() {
  local n
  for n in 1 2 3; do cluster_broker_up "$n"; done
  for n in 1 2 3; do
    wait_for_port "$((EDM_CLUSTER_PORT_BASE + n))" 90 "Kafka broker $n" \
      "$EDM_KAFKA_CLUSTER/broker-$n/broker.log"
  done
  log "three-broker cluster up: $(cluster_bootstrap)"
}

# cluster_broker_signal N SIGNAL: e.g. KILL to simulate a node failure.
cluster_broker_signal() {
  local pidfile=$EDM_KAFKA_CLUSTER/broker-$1/pid
  pid_alive "$pidfile" || die "cluster broker $1 is not running"
  kill "-$2" "$(cat "$pidfile")"
}

cluster_down() {
  local n
  for n in 1 2 3; do stop_pid "$EDM_KAFKA_CLUSTER/broker-$n/pid" "Kafka broker $n"; done
}
