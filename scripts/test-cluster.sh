#!/usr/bin/env bash
# `make test-cluster`: the tests that prove the cluster profile, against a cluster of
# their own (scripts/cluster.sh in .stack/cluster-test, ports 41500-41599, so it never
# collides with `make up PROFILE=cluster` on 41000-41099):
#   - every end-to-end test and the SDK check (scripts/e2e), unchanged;
#   - the fault tests (scripts/e2e TestClusterFaults): a Kafka node SIGKILLed during
#     ingest, a ClickHouse replica SIGKILLed, ZooKeeper stopped;
#   - the migrations (fresh, and the upgrade of a 0005 database with rows), the retention
#     job's and the quota's integration tests on the cluster schema, and with
#     LOGPIPE_TEST_CLUSTER_QUERY=1 the query service's (listings, detail, analytics,
#     feedback, exports; 5-6 minutes more).
# The cluster is stopped at the end unless it was already running (then it is reused)
# or LOGPIPE_TEST_KEEP_STACK=1.
#
#   scripts/test-cluster.sh                 all of the above
#   scripts/test-cluster.sh scripts/e2e -run TestClusterFaults    one module (extra args go to go test)
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

export LOGPIPE_STACK_DIR=${LOGPIPE_CLUSTER_TEST_DIR:-$REPO/.stack/cluster-test}
export LOGPIPE_CLUSTER_PORT_BASE=${LOGPIPE_CLUSTER_TEST_PORT_BASE:-41500}

scripts/cluster.sh install
started=0
if ! scripts/cluster.sh status >/dev/null 2>&1; then
  started=1
fi
scripts/cluster.sh up
if [ "$started" = 1 ] && [ "${LOGPIPE_TEST_KEEP_STACK:-0}" != 1 ]; then
  trap 'scripts/cluster.sh down' EXIT
fi

while IFS='=' read -r k v; do
  case $k in
    LOGPIPE_KAFKA_BROKERS) export LOGPIPE_TEST_KAFKA_BROKERS=$v ;;
    LOGPIPE_CLICKHOUSE_ADDR) export LOGPIPE_TEST_CLICKHOUSE_ADDR=$v ;;
    LOGPIPE_SCHEMA_VARIANT) export LOGPIPE_SCHEMA_VARIANT=$v ;;
  esac
done < <(scripts/cluster.sh env)
export LOGPIPE_TEST_KAFKA_REPLICATION=3 LOGPIPE_TEST_CLUSTER=1

status=0
run() { # MODULE [go test args]
  local m=$1
  shift
  echo "== $m (cluster) $*"
  (cd "$m" && go test -count=1 -timeout 20m "$@" ./...) || status=1
}
start=$SECONDS
if [ $# -gt 0 ] && [ -d "$1" ]; then
  run "$@"
else
  run scripts/e2e
  run services/lib -run 'TestUpgradeToTenantKeysKeepsRows|TestMigratedLogsTableMatchesColumnTable'
  run services/consumer -run TestDropsExpiredPartitionsOnly
  run services/ingest -run 'TestQuotaSurvivesRestart|TestReplicasShareCounts'
  # The query service's own integration tests take another 5-6 minutes here, so they
  # run on request (LOGPIPE_TEST_CLUSTER_QUERY=1); the end-to-end SDK check above already
  # drives listings, detail, analytics, feedback and exports through the Distributed
  # tables. Sealed reads need the parts of a local table; the cluster variant does not
  # seal nor roll up (every aggregate reads with FINAL), so the tests that expect it are left out.
  if [ "${LOGPIPE_TEST_CLUSTER_QUERY:-0}" = 1 ]; then
    run services/query -skip 'TestSealedDaysCountExactly|TestRollupsAnswerLikeTheLogs'
  fi
fi
echo "cluster tests took $((SECONDS - start)) s"
exit $status
