# ./edm setup: installs what the project needs on a fresh machine (Debian
# packages, the Apache Kafka jars from Maven Central, npm packages).
# Idempotent and quick when everything is already there.

apt_ready=
apt_install() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  is_root || die "missing Debian packages: ${missing[*]} (run as root, or apt-get install them)"
  if [ -z "$apt_ready" ]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    apt_ready=1
  fi
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

setup_system() {
  # nginx: the round-robin proxy of the multi-instance stream test.
  apt_install openssl openjdk-17-jre-headless maven postgresql-15 nginx-light \
    build-essential cmake pkg-config libssl-dev zlib1g-dev python3 ca-certificates
  command -v cargo >/dev/null || die "cargo is not installed (install Rust with rustup)"
}

# setup_kafka_jars [VERSION DIR]: the broker jars of VERSION (the pom's by
# default) in DIR (EDM_KAFKA_LIBS by default), resolved once.
setup_kafka_jars() {
  local version=${1:-} dir=${2:-$EDM_KAFKA_LIBS}
  local stamp=$dir/.pom-sha
  local want
  want=$( (cat "$EDM_ROOT/infra/kafka/pom.xml"; echo "$version") | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  log "resolving Apache Kafka ${version:-broker} jars from Maven Central"
  rm -rf "$dir"
  mkdir -p "$dir"
  mvn -q -B -Dstyle.color=never -f "$EDM_ROOT/infra/kafka/pom.xml" dependency:copy-dependencies \
    ${version:+"-Dkafka.version=$version"} -DincludeScope=runtime -DoutputDirectory="$dir" >&2 \
    || die "could not resolve the Kafka ${version:-broker} jars with Maven"
  echo "$want" >"$stamp"
}

setup_heroku_kafka_jars() { setup_kafka_jars "$EDM_HEROKU_KAFKA_VERSION" "$EDM_HEROKU_KAFKA_LIBS"; }

# The official socket.io-client that the stream, reliability and benchmark
# clients share (locked in crates/edm-stream/tests/client).
setup_socketio_client() {
  local dir=$EDM_ROOT/crates/edm-stream/tests/client
  # npm writes node_modules/.package-lock.json: newer than the lock file
  # means installed as locked.
  [ "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ] && return 0
  log "installing the Socket.io test client (npm ci)"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2) || die "npm ci failed in $dir"
}

setup_all() {
  setup_system
  setup_kafka_jars
  setup_heroku_kafka_jars
  make_certs
  setup_socketio_client
}
