#!/usr/bin/env bash
# `make up`: start the whole local product and stay up until Ctrl-C.
#   1. install what is missing and start ClickHouse + Kafka (scripts/stack.sh)
#   2. apply the ClickHouse migrations (logpipectl migrate)
#   3. start query, consumer and ingest (binaries built by `make build` in .cache/bin)
#   4. start the one base URL, nginx on 127.0.0.1:8000 (scripts/proxy.sh)
#   5. create a demo admin key (once) and send a short realistic demo burst
# Everything lives in .stack/dev (data, logs, pid files, keys.json); `make down`
# (scripts/down.sh) stops exactly what this started. A service that exits is
# restarted with a backoff; the rest of the stack stays up.
#
# PROFILE=cluster (`make up PROFILE=cluster`) runs the cluster profile instead
# (scripts/cluster.sh: ZooKeeper, three Kafka nodes, ClickHouse 2 shards x 2 replicas)
# with the cluster schema, everything in .stack/cluster on ports 41000-41099
# (base URL 127.0.0.1:41090, ingest 41080, query 41081, consumer 41082).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
BIN=$REPO/.cache/bin
PROFILE=${PROFILE:-single}

log() { printf '[up %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

case $PROFILE in
  single)
    DEV=$REPO/.stack/dev
    export LOGPIPE_STACK_DIR=$DEV
    STACK=scripts/stack.sh
    PROXY_PORT=8000 INGEST_PORT=8080 QUERY_PORT=8081 CONSUMER_PORT=8082
    ;;
  cluster)
    DEV=${LOGPIPE_STACK_DIR:-$REPO/.stack/cluster}
    export LOGPIPE_STACK_DIR=$DEV
    STACK=scripts/cluster.sh
    base=${LOGPIPE_CLUSTER_PORT_BASE:-41000}
    PROXY_PORT=$((base + 90)) INGEST_PORT=$((base + 80)) QUERY_PORT=$((base + 81)) CONSUMER_PORT=$((base + 82))
    ;;
  *)
    log "unknown PROFILE=$PROFILE: want single or cluster"
    exit 2
    ;;
esac
mkdir -p "$DEV/exports"

$STACK install
$STACK up
if [[ $PROFILE == cluster ]]; then
  # Several brokers, the ClickHouse nodes as a failover list, the cluster schema.
  while IFS= read -r kv; do export "${kv?}"; done < <(scripts/cluster.sh env)
fi

export LOGPIPE_KEYS_FILE=$DEV/keys.json
export LOGPIPE_EXPORT_DIR=$DEV/exports
export LOGPIPE_PUBLIC_URL=http://127.0.0.1:$PROXY_PORT
export LOGPIPE_INGEST_ADDR=127.0.0.1:$INGEST_PORT LOGPIPE_QUERY_ADDR=127.0.0.1:$QUERY_PORT LOGPIPE_CONSUMER_ADDR=127.0.0.1:$CONSUMER_PORT
export LOGPIPE_QUERY_URL=http://127.0.0.1:$QUERY_PORT
# Development mode (the query service would refuse to start without signing
# keys otherwise), with a random key of this stack dir's own, so share links
# keep working across restarts. To try a rotation: put a new "id:secret" in
# front of the file's content, comma-separated, and restart.
export LOGPIPE_DEV_MODE=1
if [[ ! -s $DEV/signing.keys ]]; then
  echo "dev-$(date +%Y%m%d):$(head -c 32 /dev/urandom | base64 | tr -d '=+/')" >"$DEV/signing.keys"
  chmod 600 "$DEV/signing.keys"
fi
LOGPIPE_SIGNING_KEYS=$(<"$DEV/signing.keys")
export LOGPIPE_SIGNING_KEYS

if [[ ! -s $DEV/demo-admin.key ]]; then
  "$BIN/logpipectl" key -keys-file "$LOGPIPE_KEYS_FILE" -org org-demo -workspace demo -role admin -plan production >"$DEV/demo-admin.key"
fi
KEY=$(<"$DEV/demo-admin.key")

"$BIN/logpipectl" migrate

alive() { [[ -f $DEV/$1.pid ]] && kill -0 "$(<"$DEV/$1.pid")" 2>/dev/null; }
start() { # NAME: start .cache/bin/NAME in the background unless it already runs
  if alive "$1"; then
    log "$1 already running (pid $(<"$DEV/$1.pid"))"
    return
  fi
  nohup "$BIN/$1" >>"$DEV/$1.log" 2>&1 &
  echo $! >"$DEV/$1.pid"
  log "started $1 (pid $!, log $DEV/$1.log)"
}
wait_ready() { # NAME ADDR
  local deadline=$((SECONDS + 60))
  until curl -fsS "http://$2/readyz" >/dev/null 2>&1; do
    alive "$1" || { tail -n 30 "$DEV/$1.log" >&2; log "$1 exited"; exit 1; }
    ((SECONDS < deadline)) || { tail -n 30 "$DEV/$1.log" >&2; log "$1 not ready after 60s"; exit 1; }
    sleep 0.3
  done
}
start query
start consumer
start ingest
wait_ready query "$LOGPIPE_QUERY_ADDR"
wait_ready consumer "$LOGPIPE_CONSUMER_ADDR"
wait_ready ingest "$LOGPIPE_INGEST_ADDR"
LOGPIPE_PROXY_PORT=$PROXY_PORT scripts/proxy.sh up

log "demo burst: 200 realistic logs through the one base URL"
"$BIN/loadgen" -n 200 -url "$LOGPIPE_PUBLIC_URL/v1/logs" -key "$KEY" -seed "$RANDOM"

cat <<EOT

logpipe is up (profile $PROFILE).
  web console    $LOGPIPE_PUBLIC_URL/        (sign in with the demo admin key below)
  one base URL   $LOGPIPE_PUBLIC_URL/v1      (nginx: writes -> ingest, reads -> query)
  ingest         http://$LOGPIPE_INGEST_ADDR
  query          http://$LOGPIPE_QUERY_ADDR
  consumer       http://$LOGPIPE_CONSUMER_ADDR/metrics
  ClickHouse     ${LOGPIPE_CLICKHOUSE_ADDR:-127.0.0.1:9000} (native)
  Kafka          ${LOGPIPE_KAFKA_BROKERS:-127.0.0.1:9092}
  demo admin key $KEY     (workspace demo, production plan)

  curl -s -H "x-portkey-api-key: $KEY" '$LOGPIPE_PUBLIC_URL/v1/logs?page_size=5'
  make key WORKSPACE=other ROLE=member PLAN=developer    # another key

Logs of the services: $DEV/{ingest,consumer,query}.log. Ctrl-C (or make down) stops everything.
EOT

# Watch the services: one that exits (a crash, a kill) is restarted after a
# backoff that doubles while it keeps exiting (1 s up to 60 s, back to 1 s once
# it has run for two minutes); the rest of the stack stays up.
trap 'echo; PROFILE=$PROFILE scripts/down.sh; exit 0' INT TERM
declare -A backoff=() restart_at=() started_at=()
for s in query consumer ingest; do backoff[$s]=1 restart_at[$s]=0 started_at[$s]=$SECONDS; done
while :; do
  for s in query consumer ingest; do
    [[ -f $DEV/$s.pid ]] || { log "stopped by make down"; exit 0; }
    if alive "$s"; then
      ((SECONDS - started_at[$s] < 120)) || backoff[$s]=1
      continue
    fi
    if ((restart_at[$s] == 0)); then
      restart_at[$s]=$((SECONDS + backoff[$s]))
      log "$s exited ($(tail -n 1 "$DEV/$s.log" 2>/dev/null | cut -c1-200)); restarting in ${backoff[$s]}s (see $DEV/$s.log)"
    elif ((SECONDS >= restart_at[$s])); then
      start "$s"
      started_at[$s]=$SECONDS restart_at[$s]=0
      backoff[$s]=$((backoff[$s] * 2 > 60 ? 60 : backoff[$s] * 2))
    fi
  done
  sleep 1
done
