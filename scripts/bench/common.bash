# Sourced by the benchmarks that run the query service against the test
# ClickHouse (query.sh, export.sh, tenants.sh, freshness.sh); not a benchmark
# itself (scripts/bench.sh runs only *.sh). Before sourcing, set NAME (the
# benchmark's name) and BINS (the binaries it needs from .cache/bin). It sets
# REPO, BIN, CH_ADDR/HOST/PORT, a private database DB, workspace WS and work
# dir WORK, the ch() client, start_query (the query service on a free port)
# and a cleanup on exit that stops the query service started as QPID and
# drops DB.
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
BIN=$REPO/.cache/bin
CH_ADDR=${LOGPIPE_TEST_CLICKHOUSE_ADDR:-127.0.0.1:19000}
CH_HOST=${CH_ADDR%:*}
CH_PORT=${CH_ADDR##*:}
DB=bench_${NAME}_$$
WS=ws-bench
WORK=$(mktemp -d "${TMPDIR:-/tmp}/logpipe-bench-$NAME.XXXXXX")
QPID=
ch() { clickhouse-client --host "$CH_HOST" --port "$CH_PORT" "$@"; }
cleanup() {
  if [ -n "$QPID" ] && kill -0 "$QPID" 2>/dev/null; then kill "$QPID"; wait "$QPID" 2>/dev/null || true; fi
  ch -q "DROP DATABASE IF EXISTS $DB" || true
  rm -rf "$WORK"
}
trap cleanup EXIT
for b in $BINS; do
  [ -x "$BIN/$b" ] || { echo "missing $BIN/$b: run make build"; exit 1; }
done

# start_query [VAR=value ...]: starts the query service on a free port against
# DB (it creates and migrates the database) with the key registry
# $WORK/keys.json and any extra settings given, waits until it is ready, and
# sets PORT, URL and QPID (stopped by cleanup).
start_query() {
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  URL=http://127.0.0.1:$PORT
  env LOGPIPE_QUERY_ADDR=127.0.0.1:$PORT LOGPIPE_KEYS_FILE=$WORK/keys.json LOGPIPE_PUBLIC_URL=$URL \
    LOGPIPE_SIGNING_KEYS=bench:bench-signing-key-0123456789 LOGPIPE_EXPORT_DIR=$WORK/exports \
    LOGPIPE_CLICKHOUSE_ADDR=$CH_ADDR LOGPIPE_CLICKHOUSE_DATABASE=$DB LOGPIPE_LOG_LEVEL=warn "$@" \
    "$BIN/query" 2>"$WORK/query.log" &
  QPID=$!
  for _ in $(seq 100); do curl -fs "$URL/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
  curl -fs "$URL/readyz" >/dev/null || { echo "query service did not start:"; cat "$WORK/query.log"; exit 1; }
}
