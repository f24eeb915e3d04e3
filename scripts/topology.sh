#!/usr/bin/env bash
# The production topology of compose.yaml on one machine, without Docker:
#   - the EventStoreDB protocol server (scripts/esdbserver; in memory, so the events live
#     as long as it runs; point BENEFITS_EVENT_STORE at a real EventStoreDB instead),
#   - NATS with JetStream as a process of its own (scripts/natsserver: the server the
#     ledger embeds, file storage under the state directory),
#   - a throwaway PostgreSQL cluster (initdb under the state directory; or set PG_DSN),
#   - the ledger as four processes of one binary: api, forwarder, two projectors.
#
#   scripts/topology.sh up       build, start everything, wait until every role is ready
#   scripts/topology.sh status   probe every role's /readyz
#   scripts/topology.sh down     SIGTERM the roles, then the servers; keeps the state dir
#   scripts/topology.sh clean    down, then remove the state dir
#
# Settings (environment): STATE_DIR (default ./.topology), API_PORT (8080; the forwarder
# and projectors take the next three), ESDB_PORT (2113), NATS_PORT (4222), PG_PORT (55432),
# PG_DSN (use this PostgreSQL instead of a throwaway one), BENEFITS_JWT_SECRET.
# The end-to-end test (cmd/benefits/topology_test.go) starts the same processes itself.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE=${STATE_DIR:-$ROOT/.topology}
BIN=$STATE/bin
API_PORT=${API_PORT:-8080}
ESDB_PORT=${ESDB_PORT:-2113}
NATS_PORT=${NATS_PORT:-4222}
PG_PORT=${PG_PORT:-55432}
export BENEFITS_JWT_SECRET=${BENEFITS_JWT_SECRET:-topology-secret-change-me-0123456789}

# name:role:port of each ledger process, started in this order (projectors first: they
# create the read models' tables).
ROLES=("projector-a:projector:$((API_PORT + 2))" "projector-b:projector:$((API_PORT + 3))"
  "forwarder:forwarder:$((API_PORT + 1))" "api:api:$API_PORT")

log() { printf 'topology: %s\n' "$*" >&2; }

# as_postgres runs a PostgreSQL tool as the postgres user when we are root (the server
# refuses to run as root).
as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -n "$d" ] || { log "PostgreSQL server binaries not found: apt-get install postgresql (or set PG_DSN)"; exit 1; }
  echo "$d"
}

start_bg() { # name, command...
  local name=$1; shift
  "$@" >"$STATE/logs/$name.log" 2>&1 &
  echo $! >"$STATE/pids/$name"
}

wait_ready_line() { # name: waits for "ready URL" and prints the URL
  for _ in $(seq 1 300); do
    if grep -q '^ready ' "$STATE/logs/$1.log" 2>/dev/null; then
      sed -n 's/^ready //p' "$STATE/logs/$1.log" | head -1
      return
    fi
    sleep 0.1
  done
  log "$1 did not start; see $STATE/logs/$1.log"; exit 1
}

start_postgres() {
  if [ -n "${PG_DSN:-}" ]; then echo "$PG_DSN"; return; fi
  local bin; bin=$(pg_bin)
  if [ ! -d "$STATE/pg/data" ]; then
    mkdir -p "$STATE/pg"
    [ "$(id -u)" = 0 ] && chown postgres "$STATE/pg"
    as_postgres "$bin/initdb" -D "$STATE/pg/data" -U postgres --auth=trust >"$STATE/logs/initdb.log" 2>&1
  fi
  as_postgres "$bin/pg_ctl" -D "$STATE/pg/data" -l "$STATE/pg/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k /tmp" start >/dev/null
  as_postgres "$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -qtc \
    "SELECT 1 FROM pg_database WHERE datname = 'ledger'" | grep -q 1 ||
    as_postgres "$bin/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres ledger
  echo "postgres://postgres@127.0.0.1:$PG_PORT/ledger?sslmode=disable"
}

up() {
  mkdir -p "$BIN" "$STATE/logs" "$STATE/pids" "$STATE/nats"
  chmod 755 "$STATE"
  log "building into $BIN"
  (cd "$ROOT" && go build -o "$BIN/" ./cmd/benefits ./scripts/natsserver ./scripts/esdbserver)
  start_bg esdbserver "$BIN/esdbserver" --addr "127.0.0.1:$ESDB_PORT"
  start_bg natsserver "$BIN/natsserver" --port "$NATS_PORT" --store-dir "$STATE/nats"
  export BENEFITS_EVENT_STORE BENEFITS_NATS_URL BENEFITS_READ_DB
  BENEFITS_EVENT_STORE=$(wait_ready_line esdbserver)
  BENEFITS_NATS_URL=$(wait_ready_line natsserver)
  BENEFITS_READ_DB=$(start_postgres)
  export BENEFITS_LOG_FORMAT=json
  for entry in "${ROLES[@]}"; do
    IFS=: read -r name role port <<<"$entry"
    mkdir -p "$STATE/data/$name"
    BENEFITS_DATA_DIR="$STATE/data/$name" start_bg "$name" \
      "$BIN/benefits" serve --role "$role" --addr "127.0.0.1:$port"
    wait_role "$name" "$port"
  done
  log "up: API on http://127.0.0.1:$API_PORT (OpenAPI at /openapi.json, metrics at /metrics on every role)"
  log "a token: BENEFITS_JWT_SECRET=... $BIN/benefits token --sub partner-center --roles platform"
}

wait_role() { # name, port
  for _ in $(seq 1 600); do
    if "$BIN/benefits" probe --url "http://127.0.0.1:$2/readyz" >/dev/null 2>&1; then
      log "$1 ready on 127.0.0.1:$2"; return
    fi
    if ! kill -0 "$(cat "$STATE/pids/$1")" 2>/dev/null; then
      log "$1 exited; see $STATE/logs/$1.log"; tail -5 "$STATE/logs/$1.log" >&2; exit 1
    fi
    sleep 0.1
  done
  log "$1 not ready; see $STATE/logs/$1.log"; exit 1
}

status() {
  for entry in "${ROLES[@]}"; do
    IFS=: read -r name _ port <<<"$entry"
    "$BIN/benefits" probe --url "http://127.0.0.1:$port/readyz" || log "$name is not ready"
  done
}

stop_pid() { # name: SIGTERM, then wait up to 30 s for a clean exit
  local f=$STATE/pids/$1 pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -TERM "$pid" 2>/dev/null; then
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { log "$1 ignored SIGTERM for 30 s; killing"; kill -KILL "$pid"; }
  fi
  rm -f "$f"
}

down() {
  for entry in api forwarder projector-b projector-a; do stop_pid "$entry"; done
  stop_pid natsserver
  stop_pid esdbserver
  if [ -z "${PG_DSN:-}" ] && [ -f "$STATE/pg/data/postmaster.pid" ]; then
    as_postgres "$(pg_bin)/pg_ctl" -D "$STATE/pg/data" -m fast -w stop >/dev/null
  fi
  log "down (state kept in $STATE)"
}

case "${1:-}" in
  up) up ;;
  status) status ;;
  down) down ;;
  clean) down; rm -rf "$STATE" ;;
  *) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
