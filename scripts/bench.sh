#!/usr/bin/env bash
# Runs every benchmark in scripts/bench/*.sh against a real stack started on
# the test ports (like scripts/test.sh), printing each result as a ratio
# against the performance targets in the README. Benchmarks are bounded in size and
# time; BENCH=name runs only scripts/bench/name.sh.
#
# The ClickHouse-facing benchmarks (consumer, query, export, tenants,
# freshness) run once per engine of LOGPIPE_BENCH_ENGINES (default "26 18":
# ClickHouse 26.9 and 18.16, see scripts/clickhouse/engine.bash); ingest runs
# once, on the first.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
source scripts/clickhouse/test-stacks.bash
ENGINES=(${LOGPIPE_BENCH_ENGINES:-26 18})
CH_BENCHES=" consumer query export tenants freshness "

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
make build
status=0
first=1
for engine in "${ENGINES[@]}"; do
  d=$(test_stack_up clickhouse "$engine") || exit 1
  [ -z "$d" ] || started+=("$d")
  test_engine_env "$engine"
  for b in scripts/bench/*.sh; do
    name=$(basename "$b" .sh)
    if [ -n "${BENCH:-}" ] && [ "$BENCH" != "$name" ]; then continue; fi
    if [ "$first" != 1 ] && [[ $CH_BENCHES != *" $name "* ]]; then continue; fi
    echo "== bench $name (ClickHouse $engine)"
    bash "$b" || { echo "bench $name failed on ClickHouse $engine"; status=1; }
  done
  first=0
done
exit $status
