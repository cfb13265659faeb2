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

setup_kafka_jars() {
  local stamp=$EDM_KAFKA_LIBS/.pom-sha
  local want
  want=$(sha256sum "$EDM_ROOT/infra/kafka/pom.xml" | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  log "resolving Apache Kafka jars from Maven Central"
  rm -rf "$EDM_KAFKA_LIBS"
  mkdir -p "$EDM_KAFKA_LIBS"
  mvn -q -B -Dstyle.color=never -f "$EDM_ROOT/infra/kafka/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$EDM_KAFKA_LIBS" >&2 \
    || die "could not resolve the Kafka jars with Maven"
  echo "$want" >"$stamp"
}

# The official socket.io-client that the stream, reliability and benchmark
# clients share (locked in crates/edm-stream/tests/client).
setup_socketio_client() {
  local dir=$EDM_ROOT/crates/edm-stream/tests/client
  [ -d "$dir/node_modules/socket.io-client" ] && return 0
  log "installing the Socket.io test client (npm ci)"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2) || die "npm ci failed in $dir"
}

setup_all() {
  setup_system
  setup_kafka_jars
  make_certs
  setup_socketio_client
}
