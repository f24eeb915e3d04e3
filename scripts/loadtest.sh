#!/usr/bin/env bash
# `make loadtest`: start a fresh `benefits serve` (the embedded default) on a temporary
# data directory and a free loopback port, run `benefits loadtest` against it with the
# arguments given (default: every scenario briefly), then stop the server and remove
# the directory. To size a system that is already running, call the harness yourself:
#   bin/benefits loadtest --api-url http://127.0.0.1:8080 --data-dir ./data --scenario commands
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/bin/benefits}
DIR=$(mktemp -d "${TMPDIR:-/tmp}/benefits-loadtest.XXXXXX")
"$BIN" serve --addr 127.0.0.1:0 --data-dir "$DIR/data" --log-format text --log-level info >"$DIR/serve.log" 2>&1 &
PID=$!
stop() {
  kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
  rm -rf "$DIR"
}
trap stop EXIT
trap 'exit 130' INT TERM

ADDR=
for _ in $(seq 300); do # port 0: the server logs the port it got
  ADDR=$(sed -n 's/.*msg=listening addr=\([^ ]*\).*/\1/p' "$DIR/serve.log")
  [ -n "$ADDR" ] && break
  kill -0 "$PID" 2>/dev/null || { cat "$DIR/serve.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$ADDR" ] || { echo "loadtest: the server did not start" >&2; cat "$DIR/serve.log" >&2; exit 1; }
URL=http://$ADDR
until "$BIN" probe --url "$URL/readyz" >/dev/null 2>&1; do sleep 0.1; done

if [ $# -gt 0 ]; then
  "$BIN" loadtest --api-url "$URL" --data-dir "$DIR/data" "$@"
  exit
fi
for scenario in commands queries visibility; do
  "$BIN" loadtest --api-url "$URL" --data-dir "$DIR/data" --scenario "$scenario" --partners 50 --duration 10s
  echo
done
"$BIN" loadtest --api-url "$URL" --data-dir "$DIR/data" --scenario history --history-sizes 5,1000 --samples 50 --duration 5m
