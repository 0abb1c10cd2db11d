#!/usr/bin/env bash
# Consumer scale-out on the cluster profile: rows/s Kafka -> ClickHouse (2 shards x 2
# replicas, Distributed inserts) for 1, 2 and 3 consumer processes in one group on a
# topic of 6 partitions (replication 3), plus the CPU each part of the pipeline used and
# the compression of the stored logs (what the capacity model in
# charts/logpipe/CAPACITY.md is derived from).
#
#   scripts/bench-cluster.sh        (the cluster of `make up PROFILE=cluster`, started if needed)
#
# Also ingest over HTTP into a replicated topic (events/s, CPU per event) and the bytes a
# log takes in Kafka's log.
#
# Knobs: LOGPIPE_BENCH_EVENTS (default 200000), LOGPIPE_BENCH_CONSUMERS ("1 2 3"),
# LOGPIPE_BENCH_WORKSPACES (default 32: events spread over workspaces, so both shards
# receive rows), LOGPIPE_STACK_DIR / LOGPIPE_CLUSTER_PORT_BASE as scripts/cluster.sh.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

N=${LOGPIPE_BENCH_EVENTS:-200000}
COUNTS=${LOGPIPE_BENCH_CONSUMERS:-1 2 3}
WORKSPACES=${LOGPIPE_BENCH_WORKSPACES:-32}
BIN=$REPO/.cache/bin
WORK=$REPO/.cache/bench/cluster
mkdir -p "$WORK"
RUN=$(date +%s)
TOPIC=bench_cluster_$RUN
PIDS=()
DBS=()

say() { echo "[bench cluster $(date +%H:%M:%S)] $*" >&2; }
now() { date +%s.%N; }

make build >/dev/null
scripts/cluster.sh up
while IFS= read -r kv; do export "${kv?}"; done < <(scripts/cluster.sh env)
BROKERS=$LOGPIPE_KAFKA_BROKERS
CH1=${LOGPIPE_CLICKHOUSE_ADDR%%,*}
ch() { clickhouse-client --host 127.0.0.1 --port "${CH1##*:}" "$@"; }
ch_on() { local a=$1; shift; clickhouse-client --host 127.0.0.1 --port "${a##*:}" "$@"; }
kafka_java() { java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -cp ".cache/kafka/libs/*" "$@"; }

cleanup() {
  local p d
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  for d in "${DBS[@]}"; do ch -q "DROP DATABASE IF EXISTS $d ON CLUSTER logpipe" >/dev/null 2>&1 || true; done
  kafka_java org.apache.kafka.tools.TopicCommand --bootstrap-server "$BROKERS" --delete --topic "$TOPIC" >/dev/null 2>&1 || true
  kafka_java org.apache.kafka.tools.TopicCommand --bootstrap-server "$BROKERS" --delete --topic "$TOPIC.ingest" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# CPU seconds (user + system) used so far by a set of pids.
cpu_of() {
  local p t=0
  for p in "$@"; do
    [[ -r /proc/$p/stat ]] || continue
    t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo "scale=2; $t / $(getconf CLK_TCK)" | bc
}
pids_of() { # kafka|ch|zookeeper
  local f
  for f in "$LOGPIPE_STACK_DIR"/"$1"*.pid; do [[ -f $f ]] && tr -dc '0-9' <"$f" && echo; done
}
: "${LOGPIPE_STACK_DIR:=$REPO/.stack/cluster}"

EVENTS=$WORK/events-$N-$WORKSPACES.ndjson
if [[ ! -s $EVENTS ]]; then
  "$BIN/loadgen" -n "$N" -out - | awk -v w="$WORKSPACES" '{
    ws = "ws-bench-" (NR % w)
    sub(/"organisation_id":"","workspace_id":""/, "\"organisation_id\":\"org-" ws "\",\"workspace_id\":\"" ws "\"")
    print }' >"$EVENTS.tmp"
  mv "$EVENTS.tmp" "$EVENTS"
fi
BYTES=$(stat -c %s "$EVENTS")
say "events: $N over $WORKSPACES workspaces, $((BYTES / N)) bytes of JSON each"

new_topic() {
  kafka_java org.apache.kafka.tools.TopicCommand --bootstrap-server "$BROKERS" --create --topic "$1" \
    --partitions 6 --replication-factor 3 --config min.insync.replicas=2 >/dev/null
}
new_topic "$TOPIC"
new_topic "$TOPIC.ingest"
t0=$(now)
kcat -P -b "$BROKERS" -t "$TOPIC" -l -z lz4 -X linger.ms=20 -X batch.num.messages=5000 -X acks=all "$EVENTS"
say "produced with kcat (acks=all, RF 3, lz4): $(echo "scale=0; $N / ($(now) - $t0)" | bc) events/s"
kbytes=$(du -cb "$LOGPIPE_STACK_DIR"/kafka*/data/"$TOPIC"-* | tail -1 | cut -f1)
say "Kafka log of the topic: $((kbytes / N / 3)) bytes per event per replica (lz4 batches), $((kbytes / N)) for all 3 replicas"

# ---- ingest over HTTP into the RF 3 topic: events/s and CPU per event
KEYS=$WORK/keys-$RUN.json
KEY=$("$BIN/logpipectl" key -keys-file "$KEYS" -org org-bench -workspace bench -role admin -plan enterprise)
IDB=bench_cluster_ingest_$RUN
DBS+=("$IDB")
LOGPIPE_CLICKHOUSE_DATABASE=$IDB "$BIN/logpipectl" migrate -variant cluster 2>/dev/null
IPORT=$((${LOGPIPE_CLUSTER_PORT_BASE:-41000} + 85))
LOGPIPE_INGEST_ADDR=127.0.0.1:$IPORT LOGPIPE_KEYS_FILE=$KEYS LOGPIPE_LOGS_TOPIC=$TOPIC.ingest \
  LOGPIPE_CLICKHOUSE_DATABASE=$IDB LOGPIPE_LOG_LEVEL=warn "$BIN/ingest" 2>"$WORK/ingest-$RUN.log" &
PIDS+=($!)
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$IPORT/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
"$BIN/loadgen" -drive "$EVENTS" -n 5000 -url "http://127.0.0.1:$IPORT/v1/logs" -key "$KEY" -c 32 -batch 100 >/dev/null
mapfile -t kp < <(pids_of kafka)
i_cpu0=$(cpu_of "${PIDS[0]}")
k_cpu0=$(cpu_of "${kp[@]}")
run=$("$BIN/loadgen" -drive "$EVENTS" -url "http://127.0.0.1:$IPORT/v1/logs" -key "$KEY" -c 32 -batch 100)
i_cpu=$(echo "$(cpu_of "${PIDS[0]}") - $i_cpu0" | bc)
k_cpu=$(echo "$(cpu_of "${kp[@]}") - $k_cpu0" | bc)
echo "ingest -> Kafka (RF 3, acks=all, 32 clients, NDJSON of 100): $run"
echo "  CPU-s for $N events: ingest $i_cpu, the three Kafka nodes $k_cpu"
kill -TERM "${PIDS[0]}"
wait "${PIDS[0]}" || true
PIDS=()
rm -f "$KEYS"

printf '%-10s %10s %10s %14s %14s %14s\n' consumers seconds rows/s "consumer CPU-s" "ClickHouse CPU-s" "Kafka CPU-s"
for k in $COUNTS; do
  db=bench_cluster_${k}_$RUN
  DBS+=("$db")
  LOGPIPE_CLICKHOUSE_DATABASE=$db "$BIN/logpipectl" migrate -variant cluster 2>/dev/null
  mapfile -t chp < <(pids_of ch)
  mapfile -t kp < <(pids_of kafka)
  ch_cpu0=$(cpu_of "${chp[@]}")
  k_cpu0=$(cpu_of "${kp[@]}")
  PIDS=()
  t0=$(now)
  for ((i = 0; i < k; i++)); do
    LOGPIPE_CONSUMER_ADDR=127.0.0.1:0 LOGPIPE_CLICKHOUSE_DATABASE=$db \
      LOGPIPE_LOGS_TOPIC=$TOPIC LOGPIPE_CONSUMER_GROUP=bench-$db \
      LOGPIPE_CONSUMER_RETENTION_INTERVAL=0 LOGPIPE_LOG_LEVEL=warn LOGPIPE_MIGRATE=false \
      "$BIN/consumer" -feedback-topic= -dead-letter-topic="$TOPIC.dlq" 2>>"$WORK/consumer-$db.log" &
    PIDS+=($!)
  done
  last=0
  last_t=$(now)
  while :; do
    got=$(ch -q "SELECT count() FROM $db.logs" 2>/dev/null || echo 0)
    if ((got != last)); then last=$got last_t=$(now); fi
    ((got >= N)) && break
    if (($(echo "$(now) - $last_t > 30" | bc))); then
      say "stalled at $got of $N rows (see $WORK/consumer-$db.log)"
      break
    fi
    sleep 0.2
  done
  elapsed=$(echo "$last_t - $t0" | bc -l)
  c_cpu=$(cpu_of "${PIDS[@]}")
  ch_cpu=$(echo "$(cpu_of "${chp[@]}") - $ch_cpu0" | bc)
  k_cpu=$(echo "$(cpu_of "${kp[@]}") - $k_cpu0" | bc)
  for p in "${PIDS[@]}"; do kill -TERM "$p"; done
  for p in "${PIDS[@]}"; do wait "$p" || true; done
  PIDS=()
  printf '%-10s %10.1f %10.0f %14s %14s %14s\n' "$k" "$elapsed" "$(echo "$last / $elapsed" | bc -l)" "$c_cpu" "$ch_cpu" "$k_cpu"
done

# Compression of the stored logs: one replica of each shard, the last database.
db=${DBS[-1]}
say "storage of $N logs ($db, both shards, one replica each, after the inserts' own merges):"
IFS=, read -r -a nodes <<<"$LOGPIPE_CLICKHOUSE_ADDR"
tot_c=0 tot_u=0 tot_r=0
for a in "${nodes[0]}" "${nodes[2]}"; do
  read -r c u r < <(ch_on "$a" -q "SELECT sum(data_compressed_bytes), sum(data_uncompressed_bytes), sum(rows)
    FROM system.parts WHERE database = '$db' AND table = 'logs_local' AND active" --format TSV)
  tot_c=$((tot_c + c)) tot_u=$((tot_u + u)) tot_r=$((tot_r + r))
  echo "  shard of $a: $r rows, $((c / 1024 / 1024)) MiB compressed, $((u / 1024 / 1024)) MiB uncompressed"
done
echo "  total: $tot_r rows; $((tot_c / tot_r)) bytes/row compressed, $((tot_u / tot_r)) uncompressed, JSON $((BYTES / N)); ratio $(echo "scale=2; $tot_u / $tot_c" | bc) (vs JSON $(echo "scale=2; $BYTES / $tot_c" | bc))"
echo "  heaviest columns (compressed bytes/row, uncompressed bytes/row, ratio):"
ch_on "${nodes[0]}" -q "SELECT name, round(sum(data_compressed_bytes) / (SELECT sum(rows) FROM system.parts WHERE database = '$db' AND table = 'logs_local' AND active), 1) AS per_row,
    round(sum(data_uncompressed_bytes) / (SELECT sum(rows) FROM system.parts WHERE database = '$db' AND table = 'logs_local' AND active), 1) AS raw_per_row,
    round(sum(data_uncompressed_bytes) / sum(data_compressed_bytes), 1) AS ratio
  FROM system.columns WHERE database = '$db' AND table = 'logs_local' GROUP BY name ORDER BY sum(data_compressed_bytes) DESC LIMIT 6" --format TSV | sed 's/^/    /'
