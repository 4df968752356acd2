#!/usr/bin/env bash
# Starts the services the grader needs, on loopback, idempotently, without systemd:
#   scripts/start-services.sh             Redis
#   scripts/start-services.sh postgres    Redis and PostgreSQL (initdb into a folder, a db and a user)
# Prints the URLs to export as GRADER_REDIS_URL / GRADER_DATABASE_URL. Running it again while the
# services are up changes nothing. Ports and folders can be moved with the variables below, which is
# how the tests run their own instances beside a developer's.
set -euo pipefail

STATE_DIR="${GRADER_SERVICES_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/grader-services}"
REDIS_PORT="${REDIS_PORT:-6379}"
PG_PORT="${PG_PORT:-5432}"
PG_DB="${PG_DB:-grader}"
PG_USER="${PG_USER:-grader}"
PG_PASSWORD="${PG_PASSWORD:-grader}"
mkdir -p "$STATE_DIR"

log() { echo "[services] $*" >&2; }

install_if_missing() {  # command, package
  if ! command -v "$1" >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/"$1" >/dev/null 2>&1; then
    log "installing $2"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq "$2" >/dev/null
  fi
}

start_redis() {
  install_if_missing redis-server redis-server
  local dir="$STATE_DIR/redis-$REDIS_PORT"
  mkdir -p "$dir"
  if redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    log "redis already answering on 127.0.0.1:$REDIS_PORT"
  else
    log "starting redis on 127.0.0.1:$REDIS_PORT (data in $dir)"
    # appendonly: queued jobs survive a Redis restart; the reconciler covers what does not.
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$dir" --daemonize yes \
      --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --appendonly yes --protected-mode yes
    for _ in $(seq 1 50); do
      redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
      sleep 0.1
    done
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null || { log "redis did not start"; tail "$dir/redis.log" >&2; exit 1; }
  fi
  echo "GRADER_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
}

pg_bin() {
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$found" ] || { install_if_missing initdb postgresql; found=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1); }
  echo "$found"
}

# PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` user.
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

start_postgres() {
  local bin dir
  bin=$(pg_bin)
  dir="$STATE_DIR/postgres-$PG_PORT"
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/sh postgres
    mkdir -p "$dir" && chown postgres "$dir" && chmod 700 "$dir"
    # postgres must be able to reach its folder through every parent
    local parent="$dir"
    while parent=$(dirname "$parent") && [ "$parent" != / ]; do chmod o+x "$parent" 2>/dev/null || true; done
  else
    mkdir -p "$dir" && chmod 700 "$dir"
  fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    log "initdb into $dir/data"
    as_pg "$bin/initdb" -D "$dir/data" --auth-local=trust --auth-host=scram-sha-256 -U postgres -E UTF8 --no-locale >/dev/null
  fi
  if as_pg "$bin/pg_isready" -h 127.0.0.1 -p "$PG_PORT" -q 2>/dev/null; then
    log "postgres already answering on 127.0.0.1:$PG_PORT"
  else
    log "starting postgres on 127.0.0.1:$PG_PORT"
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $dir" start >/dev/null
  fi
  # The superuser speaks over the unix socket (trust); the service logs in over TCP with a password.
  local psql=("$bin/psql" -h "$dir" -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -qAt)
  if [ "$(as_pg "${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname='$PG_USER'")" != 1 ]; then
    as_pg "${psql[@]}" -c "CREATE ROLE \"$PG_USER\" LOGIN PASSWORD '$PG_PASSWORD'"
  fi
  if [ "$(as_pg "${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname='$PG_DB'")" != 1 ]; then
    as_pg "${psql[@]}" -c "CREATE DATABASE \"$PG_DB\" OWNER \"$PG_USER\""
  fi
  echo "GRADER_DATABASE_URL=postgresql+psycopg://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB"
}

stop_all() {
  local dir
  local pid
  for dir in "$STATE_DIR"/redis-*; do
    [ -f "$dir/redis.pid" ] || continue
    pid=$(cat "$dir/redis.pid")
    kill "$pid" 2>/dev/null || continue
    # Wait until it has written its data and exited, so the folder can be removed right after.
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    log "stopped redis in $dir"
  done
  for dir in "$STATE_DIR"/postgres-*; do
    [ -f "$dir/data/postmaster.pid" ] && as_pg "$(pg_bin)/pg_ctl" -D "$dir/data" -m fast stop >/dev/null && log "stopped postgres in $dir"
  done
  return 0
}

case "${1:-}" in
  "") start_redis ;;
  postgres|postgresql|all) start_redis; start_postgres ;;
  stop) stop_all ;;
  *) echo "usage: $0 [postgres|stop]" >&2; exit 2 ;;
esac
