#!/usr/bin/env bash
# `make down`: stop what `make up` started — the three services (by their pid
# files in .stack/dev), the nginx proxy and the ClickHouse + Kafka of .stack/dev —
# and nothing else. Data stays for the next `make up`. PROFILE=cluster stops the
# cluster profile's services and servers (.stack/cluster) instead.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
PROFILE=${PROFILE:-single}
if [[ $PROFILE == cluster ]]; then
  DEV=${LOGPIPE_STACK_DIR:-$REPO/.stack/cluster}
  STACK=scripts/cluster.sh
else
  DEV=$REPO/.stack/dev
  STACK=scripts/stack.sh
fi
export LOGPIPE_STACK_DIR=$DEV
for s in ingest consumer query; do # ingest first: it drains into Kafka; the consumer then flushes
  f=$DEV/$s.pid
  [[ -f $f ]] || continue
  pid=$(<"$f")
  if kill -0 "$pid" 2>/dev/null && grep -q "$s" "/proc/$pid/cmdline" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && { echo "[down] $s did not stop in 30s: KILL" >&2; kill -KILL "$pid"; }
    echo "[down] stopped $s (pid $pid)" >&2
  fi
  rm -f "$f"
done
scripts/proxy.sh down || true
$STACK down
