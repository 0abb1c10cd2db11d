#!/usr/bin/env bash
# Runs every test — unit and integration — of every module. Integration tests
# talk to a real ClickHouse and a real Kafka, which this script starts on their
# own ports and data dirs (.stack/test: Kafka 19092 and ClickHouse 18.16 19000;
# .stack/test26: ClickHouse 26.9 19100), so it never collides with a running
# `make up` stack. It stops them again unless they were already running (then it
# reuses them deliberately) or LOGPIPE_TEST_KEEP_STACK=1.
#
# Both ClickHouse engines are tested: the first of LOGPIPE_TEST_ENGINES runs
# every module, the others the modules that talk to ClickHouse (CH_MODULES).
#
#   scripts/test.sh               every module
#   scripts/test.sh services/lib  one module (extra args go to go test)
#   LOGPIPE_TEST_ENGINES=26 scripts/test.sh services/query -run Analytics   one engine
#
# LOGPIPE_TEST_PORT_OFFSET (default 0) shifts every test port, so a second
# checkout can run its tests while this one's test stack is up.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
source scripts/clickhouse/test-stacks.bash

ENGINES=(${LOGPIPE_TEST_ENGINES:-26 18})
MODULES=(schemas services/lib services/ingest services/consumer services/query scripts/loadgen charts/test scripts/e2e scripts/chaos)
# The modules whose tests run queries on ClickHouse (directly or through the services).
CH_MODULES=" services/lib services/ingest services/consumer services/query scripts/e2e "
if [ $# -gt 0 ] && [ -d "$1" ]; then
  MODULES=("$1")
  shift
fi

started=()
stop_started() {
  local d
  for d in "${started[@]}"; do LOGPIPE_STACK_DIR=$d scripts/stack.sh down || true; done
}
if [ "${LOGPIPE_TEST_KEEP_STACK:-0}" != 1 ]; then
  trap stop_started EXIT
fi
d=$(test_stack_up kafka) || exit 1
[ -z "$d" ] || started+=("$d")

status=0
first=1
for engine in "${ENGINES[@]}"; do
  mods=()
  for m in "${MODULES[@]}"; do
    if [ "$first" = 1 ] || [[ $CH_MODULES == *" $m "* ]]; then mods+=("$m"); fi
  done
  first=0
  ((${#mods[@]})) || continue
  d=$(test_stack_up clickhouse "$engine") || exit 1
  [ -z "$d" ] || started+=("$d")
  test_engine_env "$engine"
  t0=$SECONDS
  for m in "${mods[@]}"; do
    [ -f "$m/go.mod" ] || continue
    echo "== $m (ClickHouse $engine)"
    (cd "$m" && go vet ./... && go test -race -count=1 -timeout 30m "$@" ./...) || status=1
  done
  echo "== ClickHouse $engine: ${mods[*]} in $((SECONDS - t0)) s"
done
exit $status
