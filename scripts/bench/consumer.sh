#!/usr/bin/env bash
# Consumer benchmark: rows/s Kafka → ClickHouse of our consumer
# against ClickHouse's own Kafka table engine + materialized view reading the
# same topic into an identical table, in the same run, one after the other so
# they do not share the CPU. Also our consumer's peak RSS and CPU per 100k rows,
# and the duplicate rows each writes with one and with two consumers (merges
# are stopped on each target table, so they cannot hide duplicates).
#
# Run by `make bench` (scripts/bench.sh) with the test stack up and binaries in
# .cache/bin. Knobs: LOGPIPE_BENCH_CONSUMER_EVENTS (default 200000);
# LOGPIPE_CONSUMER_CPU_PROFILE=F writes each of our consumers' CPU profile to
# F.<consumers>.<index>.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"

N=${LOGPIPE_BENCH_CONSUMER_EVENTS:-200000}
CH_ADDR=${LOGPIPE_TEST_CLICKHOUSE_ADDR:?run through scripts/bench.sh}
BROKER=${LOGPIPE_TEST_KAFKA_BROKERS:?run through scripts/bench.sh}
CH_PORT=${CH_ADDR##*:}
BIN=$REPO/.cache/bin
WORK=$REPO/.cache/bench/consumer
mkdir -p "$WORK"
RUN=$(date +%s)_$$
TOPIC=bench_consumer_$RUN
DBS=()
PIDS=()

say() { echo "[bench consumer $(date +%H:%M:%S)] $*" >&2; }
ch() { clickhouse-client --host 127.0.0.1 --port "$CH_PORT" "$@"; }
now() { date +%s.%N; }
cleanup() {
  local p d
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  for d in "${DBS[@]}"; do ch -q "DROP DATABASE IF EXISTS $d" >/dev/null 2>&1 || true; done
  java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -cp ".cache/kafka/libs/*" org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "$BROKER" --delete --topic "$TOPIC" >/dev/null 2>&1 || true
  rm -f "$WORK"/consumer-bench_c_*.log
}
trap cleanup EXIT

# ---- events: realistic ~1.9 KB loadgen events of one workspace, made once per size
EVENTS=$WORK/events-$N.ndjson
if [[ ! -s $EVENTS ]]; then
  "$BIN/loadgen" -n "$N" -out - | sed 's/"organisation_id":"","workspace_id":""/"organisation_id":"org-bench","workspace_id":"ws-bench"/' >"$EVENTS.tmp"
  mv "$EVENTS.tmp" "$EVENTS"
fi
if grep -q '\\' "$EVENTS"; then
  echo "events contain backslashes; the engine peer reads lines as TabSeparated and needs none" >&2
  exit 1
fi
BYTES=$(stat -c %s "$EVENTS")
echo "events: $N, $((BYTES / N)) bytes each on average"

java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -cp ".cache/kafka/libs/*" org.apache.kafka.tools.TopicCommand \
  --bootstrap-server "$BROKER" --create --topic "$TOPIC" --partitions 6 --replication-factor 1 >/dev/null 2>&1
kcat -P -b "$BROKER" -t "$TOPIC" -l -X linger.ms=20 -X batch.num.messages=5000 "$EVENTS"
echo "produced to $TOPIC (6 partitions) with kcat"

# new_db NAME: a migrated database (the consumer migrates; here we copy its schema).
new_db() {
  local db=$1
  DBS+=("$db")
  ch -q "CREATE DATABASE $db"
}

# count_inserted DB: stop merges on DB.logs, so count() is every row written
# (a ReplacingMergeTree merge would collapse duplicates and hide them).
count_inserted() {
  ch -q "SYSTEM STOP MERGES $1.logs"
}

# wait_rows DB T0: wait until DB.logs holds N distinct ids, or until it has
# not grown for 20 s (a peer that lost messages); sets ELAPSED (T0 to the last
# growth) and GOT (distinct ids).
wait_rows() {
  local db=$1 t0=$2 last=0 last_t stall=20
  last_t=$(now)
  while :; do
    GOT=$(ch -q "SELECT uniqExact(id) FROM $db.logs" 2>/dev/null || echo 0)
    if [[ $GOT -ne $last ]]; then last=$GOT last_t=$(now); fi
    if [[ $GOT -ge $N ]] || { [[ $GOT -gt 0 ]] && (($(echo "$(now) - $last_t > $stall" | bc))); }; then
      ELAPSED=$(echo "$last_t - $t0" | bc -l)
      return 0
    fi
    if (($(echo "$(now) - $t0 > 600" | bc))); then
      echo "bench: $db.logs has $GOT of $N ids after 10 minutes" >&2
      exit 1
    fi
    sleep 0.2
  done
}

# ---- ours: the consumer binary, one or two processes in one group
run_ours() { # DB CONSUMERS
  local db=$1 k=$2 i
  PIDS=()
  local t0
  t0=$(now)
  for ((i = 0; i < k; i++)); do
    LOGPIPE_CONSUMER_ADDR=127.0.0.1:0 LOGPIPE_CLICKHOUSE_ADDR=$CH_ADDR LOGPIPE_CLICKHOUSE_DATABASE=$db \
      LOGPIPE_KAFKA_BROKERS=$BROKER LOGPIPE_LOGS_TOPIC=$TOPIC LOGPIPE_CONSUMER_GROUP=bench-$db \
      LOGPIPE_CONSUMER_RETENTION_INTERVAL=0 LOGPIPE_LOG_LEVEL=warn LOGPIPE_MIGRATE=false \
      LOGPIPE_CONSUMER_CPU_PROFILE=${LOGPIPE_CONSUMER_CPU_PROFILE:+$LOGPIPE_CONSUMER_CPU_PROFILE.$k.$i} \
      "$BIN/consumer" -feedback-topic= -dead-letter-topic="$TOPIC.dlq" 2>>"$WORK/consumer-$db.log" &
    PIDS+=($!)
  done
  wait_rows "$db" "$t0"
  T_OURS=$ELAPSED GOT_OURS=$GOT
  # Peak RSS and CPU of the first process, read before it exits.
  local pid=${PIDS[0]} ticks
  RSS_KB=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  CPU_S=$(echo "$ticks / $(getconf CLK_TCK)" | bc -l)
  for pid in "${PIDS[@]}"; do kill -TERM "$pid"; done
  for pid in "${PIDS[@]}"; do wait "$pid" || { echo "consumer exited with $? (see $WORK/consumer-$db.log)"; FAILED=1; }; done
  PIDS=()
}

# The schema: the migrations, applied once to a template database.
TEMPLATE=bench_c_tmpl_$RUN
new_db "$TEMPLATE"
for f in schemas/clickhouse/single/*.sql; do ch -d "$TEMPLATE" --multiquery <"$f"; done
clone_schema() { # DB: every table of the template (the consumer writes logs, log_ids, feedback and its watermarks)
  local t
  for t in $(ch -q "SELECT name FROM system.tables WHERE database = '$TEMPLATE'"); do ch -q "CREATE TABLE $1.$t AS $TEMPLATE.$t"; done
}

OURS1=bench_c_ours1_$RUN
new_db "$OURS1"
clone_schema "$OURS1"
count_inserted "$OURS1"
say "ours, 1 consumer"
run_ours "$OURS1" 1
T1=$T_OURS RSS1=$RSS_KB CPU1=$CPU_S G1=$GOT_OURS
INS1=$(ch -q "SELECT count() FROM $OURS1.logs")

OURS2=bench_c_ours2_$RUN
new_db "$OURS2"
clone_schema "$OURS2"
count_inserted "$OURS2"
say "ours, 2 consumers"
run_ours "$OURS2" 2
T2=$T_OURS G2=$GOT_OURS
INS2=$(ch -q "SELECT count() FROM $OURS2.logs")

# ---- the peer: Kafka engine (one line = one String) + a materialized view
# parsing the same JSON into an identical logs table. The view's expressions
# are derived from the table's columns: strings whose JSON value is an object
# (bodies, headers) are taken raw.
SAMPLE=$(head -1 "$EVENTS")
select_list() {
  local name type expr sel=()
  while IFS=$'\t' read -r name type _; do
    key=${name//\`/}
    case $type in
      String)
        if [[ $SAMPLE == *"\"$key\":\""* ]]; then expr="visitParamExtractString(line, '$key')"
        else expr="if(visitParamExtractRaw(line, '$key') = 'null', '', visitParamExtractRaw(line, '$key'))"; fi ;;
      UInt64) expr="toUInt64(toUnixTimestamp(parseDateTimeBestEffort(visitParamExtractString(line, '$key')))) * 1000 + toUInt64(substring(visitParamExtractString(line, '$key'), 21, 3))" ;;
      UInt8 | UInt16 | UInt32) expr="to$type(visitParamExtractUInt(line, '$key'))" ;;
      Float64) expr="visitParamExtractFloat(line, '$key')" ;;
      'Array(String)') expr="arrayFilter(x -> x != '', splitByString('\",\"', substring(visitParamExtractRaw(line, '$key'), 3, length(visitParamExtractRaw(line, '$key')) - 4)))" ;;
      *) echo "bench: no expression for column $name $type" >&2; exit 1 ;;
    esac
    sel+=("$expr AS \`$key\`")
  done < <(ch -q "DESCRIBE TABLE $TEMPLATE.logs")
  local IFS=,
  echo "${sel[*]}"
}
run_engine() { # DB CONSUMERS
  local db=$1 k=$2 t0
  new_db "$db"
  ch -q "CREATE TABLE $db.logs AS $TEMPLATE.logs"
  count_inserted "$db"
  # ClickHouse 26 in clickhouse-local mode (scripts/clickhouse/chdb-server.py) answers
  # this CREATE with "Shutdown was called" yet creates the table, which then consumes.
  ch -q "CREATE TABLE $db.queue (line String) ENGINE = Kafka SETTINGS kafka_broker_list = '$BROKER', kafka_topic_list = '$TOPIC', kafka_group_name = 'bench-$db', kafka_format = 'TabSeparated', kafka_row_delimiter = '\\n', kafka_num_consumers = $k" 2>/dev/null ||
    [[ $(ch -q "EXISTS TABLE $db.queue") == 1 ]] || { echo "bench: cannot create the Kafka engine table" >&2; exit 1; }
  t0=$(now)
  ch -q "CREATE MATERIALIZED VIEW $db.consume TO $db.logs AS SELECT $(select_list) FROM $db.queue"
  wait_rows "$db" "$t0"
  T_ENGINE=$ELAPSED GOT_ENGINE=$GOT
  ch -q "DROP TABLE $db.consume"
  ch -q "DROP TABLE $db.queue"
}
ENG1=bench_c_eng1_$RUN
say "Kafka engine, 1 consumer"
run_engine "$ENG1" 1
TE1=$T_ENGINE GE1=$GOT_ENGINE
EINS1=$(ch -q "SELECT count() FROM $ENG1.logs")
ENG2=bench_c_eng2_$RUN
say "Kafka engine, 2 consumers"
run_engine "$ENG2" 2
TE2=$T_ENGINE GE2=$GOT_ENGINE
EINS2=$(ch -q "SELECT count() FROM $ENG2.logs")

# Spot check: the peer parsed the same events into the same values.
DIFF=$(ch -q "SELECT concat('cost ', toString(countIf(cost != c2)), ', total_units ', toString(countIf(total_units != u2)),
    ', created_at ', toString(countIf(created_at != t2)), ', request.body length ', toString(countIf(b != b2)), ', metadata.key ', toString(countIf(mk != mk2)))
  FROM (SELECT id, cost, total_units, created_at, length(\`request.body\`) AS b, \`metadata.key\` AS mk FROM $OURS1.logs FINAL) AS o
  ALL INNER JOIN (SELECT id, cost AS c2, total_units AS u2, created_at AS t2, length(\`request.body\`) AS b2, \`metadata.key\` AS mk2 FROM $ENG1.logs FINAL) AS e USING id")

rate() { echo "$2 / $1" | bc -l | xargs printf '%.0f'; }
dup() { echo "($1 - $2) * 100 / $2" | bc -l | xargs printf '%.2f'; }
R1=$(rate "$T1" "$G1"); R2=$(rate "$T2" "$G2"); RE1=$(rate "$TE1" "$GE1"); RE2=$(rate "$TE2" "$GE2")
echo
echo "consumer bench: $N events ($((BYTES / N)) B avg), topic of 6 partitions, ClickHouse $(ch -q 'SELECT version()')"
line() { # LABEL RATE SECONDS DISTINCT WRITTEN
  printf '  %-22s %8d rows/s  (%.1f s)  ids %d of %d (missing %d)  duplicates written %d (%s%%)\n' \
    "$1" "$2" "$3" "$4" "$N" "$((N - $4))" "$(($5 - $4))" "$(dup "$5" "$4")"
}
line "ours, 1 consumer:" "$R1" "$T1" "$G1" "$INS1"
line "ours, 2 consumers:" "$R2" "$T2" "$G2" "$INS2"
line "Kafka engine + MV, 1:" "$RE1" "$TE1" "$GE1" "$EINS1"
line "Kafka engine + MV, 2:" "$RE2" "$TE2" "$GE2" "$EINS2"
printf '  ratio ours / Kafka engine (1 consumer each): %.2fx  (target >= 1.5x)\n' "$(echo "$R1 / $RE1" | bc -l)"
printf '  ours peak RSS: %d MB (target <= 300 MB); CPU: %.2f s per 100k rows\n' "$((RSS1 / 1024))" "$(echo "$CPU1 * 100000 / $N" | bc -l)"
echo "  spot check, engine rows whose parsed value differs from ours: $DIFF"
echo "  times run from process start / view creation until the last row arrived; rows/s count distinct ids"
# A consumer that failed or left ids behind measured nothing: fail the run.
if [[ ${FAILED:-0} == 1 || $G1 -lt $N || $G2 -lt $N ]]; then
  echo "bench consumer: our consumer failed or lost ids (see above); these figures are not a measurement" >&2
  exit 1
fi
