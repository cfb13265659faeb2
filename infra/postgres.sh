# A throwaway PostgreSQL cluster from the machine's postgresql-15, with TLS
# on (Heroku Postgres requires it, so the services use it here too).
# Postgres refuses to run as root, so as root it runs as the postgres user
# from a data directory that user owns.

pg_bindir() {
  local dir
  for dir in "$(pg_config --bindir 2>/dev/null)" /usr/lib/postgresql/15/bin; do
    [ -x "$dir/pg_ctl" ] && [ -x "$dir/initdb" ] && { echo "$dir"; return; }
  done
  die "PostgreSQL 15 server binaries not found (apt-get install postgresql-15)"
}

pg_dir() {
  if is_root; then
    echo "${TMPDIR:-/tmp}/edm-postgres-$(printf '%s' "$EDM_STATE" | sha256sum | cut -c1-10)"
  else
    echo "$EDM_STATE/postgres"
  fi
}

as_pg() {
  if is_root; then runuser -u postgres -- "$@"; else "$@"; fi
}

postgres_up() {
  local bin dir
  bin=$(pg_bindir)
  dir=$(pg_dir)
  if as_pg "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then return 0; fi
  if port_open "$EDM_PG_PORT"; then
    die "port $EDM_PG_PORT is taken by something else; set EDM_PG_PORT to a free port"
  fi
  mkdir -p "$dir"
  if is_root; then chown postgres: "$dir"; fi
  chmod 700 "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    log "initialising PostgreSQL in $dir"
    printf '%s\n' "$EDM_PG_PASSWORD" >"$dir/pwfile"
    if is_root; then chown postgres: "$dir/pwfile"; fi
    as_pg "$bin/initdb" -D "$dir/data" -U "$EDM_PG_USER" --pwfile="$dir/pwfile" \
      --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  fi
  # Certificates and settings are refreshed on every start.
  install -m 600 "$EDM_CERTS/postgres.pem" "$dir/data/server.crt"
  install -m 600 "$EDM_CERTS/postgres.key" "$dir/data/server.key"
  cat >"$dir/data/postgresql.auto.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $EDM_PG_PORT
unix_socket_directories = '$dir'
ssl = on
max_connections = 300
fsync = off
full_page_writes = off
synchronous_commit = off
log_min_messages = warning
CONF
  if is_root; then chown -R postgres: "$dir/data"; fi
  log "starting PostgreSQL on 127.0.0.1:$EDM_PG_PORT"
  as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start >/dev/null \
    || { tail -n 30 "$dir/postgres.log" >&2; die "PostgreSQL did not start"; }
  PGPASSWORD=$EDM_PG_PASSWORD psql -h 127.0.0.1 -p "$EDM_PG_PORT" -U "$EDM_PG_USER" -d postgres -qtAc \
    "SELECT 1 FROM pg_database WHERE datname = '$EDM_PG_DB'" | grep -q 1 \
    || PGPASSWORD=$EDM_PG_PASSWORD psql -h 127.0.0.1 -p "$EDM_PG_PORT" -U "$EDM_PG_USER" \
      -d postgres -qc "CREATE DATABASE $EDM_PG_DB" >/dev/null
}

postgres_down() {
  local bin dir
  bin=$(pg_bindir)
  dir=$(pg_dir)
  [ -f "$dir/data/PG_VERSION" ] || return 0
  as_pg "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1 || return 0
  log "stopping PostgreSQL"
  as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 \
    || log "PostgreSQL did not stop (log: $dir/postgres.log)"
}

# Kills the postmaster with SIGKILL, like a crashed database host.
postgres_kill() {
  local dir pid
  dir=$(pg_dir)
  [ -f "$dir/data/postmaster.pid" ] || return 0
  pid=$(head -n 1 "$dir/data/postmaster.pid")
  kill -KILL "$pid" 2>/dev/null || true
  while running "$pid"; do sleep 0.1; done
}

postgres_wipe() { postgres_down; rm -rf "$(pg_dir)"; }
