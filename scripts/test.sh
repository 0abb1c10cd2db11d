#!/usr/bin/env bash
# Runs every test — unit and integration — of every module. Integration tests
# talk to a real ClickHouse and a real Kafka, which this script starts on their
# own ports and data dir (.stack/test, ports 19000/19092...), so it never
# collides with a running `make up` stack. It stops them again unless they were
# already running (then it reuses them deliberately) or LOGPIPE_TEST_KEEP_STACK=1.
#
#   scripts/test.sh               every module
#   scripts/test.sh services/lib  one module (extra args go to go test)
#
# LOGPIPE_TEST_PORT_OFFSET (default 0) shifts every test port, so a second
# checkout can run its tests while this one's test stack is up.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

export LOGPIPE_STACK_DIR=$REPO/.stack/test
off=${LOGPIPE_TEST_PORT_OFFSET:-0}
export LOGPIPE_CH_PORT=$((19000 + off)) LOGPIPE_CH_HTTP_PORT=$((18123 + off)) LOGPIPE_CH_INTERSERVER_PORT=$((19009 + off))
export LOGPIPE_KAFKA_PORT=$((19092 + off)) LOGPIPE_KAFKA_CONTROLLER_PORT=$((19093 + off))
export LOGPIPE_TEST_CLICKHOUSE_ADDR=127.0.0.1:$LOGPIPE_CH_PORT
export LOGPIPE_TEST_KAFKA_BROKERS=127.0.0.1:$LOGPIPE_KAFKA_PORT
export LOGPIPE_TEST_CLICKHOUSE_PORT=$LOGPIPE_CH_PORT

started=0
if ! scripts/stack.sh status >/dev/null 2>&1; then
  started=1
fi
scripts/stack.sh up
if [ "$started" = 1 ] && [ "${LOGPIPE_TEST_KEEP_STACK:-0}" != 1 ]; then
  trap 'scripts/stack.sh down' EXIT
fi

MODULES=(schemas services/lib services/ingest services/consumer services/query scripts/loadgen charts/test scripts/e2e scripts/chaos)
if [ $# -gt 0 ] && [ -d "$1" ]; then
  MODULES=("$1")
  shift
fi

status=0
for m in "${MODULES[@]}"; do
  [ -f "$m/go.mod" ] || continue
  echo "== $m"
  (cd "$m" && go vet ./... && go test -race -count=1 -timeout 30m "$@" ./...) || status=1
done
exit $status
