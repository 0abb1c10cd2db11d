#!/usr/bin/env bash
# Runs every benchmark in scripts/bench/*.sh against a real stack started on
# the test ports (like scripts/test.sh), printing each result as a ratio
# against the performance targets in the README. Benchmarks are bounded in size and
# time; BENCH=name runs only scripts/bench/name.sh.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
export LOGPIPE_STACK_DIR=$REPO/.stack/test
export LOGPIPE_CH_PORT=19000 LOGPIPE_CH_HTTP_PORT=18123 LOGPIPE_CH_INTERSERVER_PORT=19009
export LOGPIPE_KAFKA_PORT=19092 LOGPIPE_KAFKA_CONTROLLER_PORT=19093
export LOGPIPE_TEST_CLICKHOUSE_ADDR=127.0.0.1:19000 LOGPIPE_TEST_KAFKA_BROKERS=127.0.0.1:19092
started=0
scripts/stack.sh status >/dev/null 2>&1 || started=1
scripts/stack.sh up
if [ "$started" = 1 ] && [ "${LOGPIPE_TEST_KEEP_STACK:-0}" != 1 ]; then
  trap 'scripts/stack.sh down' EXIT
fi
make build
status=0
for b in scripts/bench/*.sh; do
  name=$(basename "$b" .sh)
  if [ -n "${BENCH:-}" ] && [ "$BENCH" != "$name" ]; then continue; fi
  echo "== bench $name"
  bash "$b" || { echo "bench $name failed"; status=1; }
done
exit $status
