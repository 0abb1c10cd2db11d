#!/usr/bin/env bash
# Ingest benchmark: events/s over HTTP into Kafka, as a ratio to
# kcat producing the same NDJSON events file into the same broker in the same
# run; plus p50/p99 request latency at half the measured maximum rate and the
# ingest process's peak RSS (VmHWM), which includes an overload phase.
#
# Run by `make bench` (scripts/bench.sh) with the test stack up. Knobs:
#   LOGPIPE_BENCH_INGEST_EVENTS  events in the file (default 200000)
#   LOGPIPE_BENCH_INGEST_CONC    concurrent HTTP clients (default 64)
#   LOGPIPE_BENCH_INGEST_BATCH   events per request (default 100)
#   LOGPIPE_BENCH_INGEST_FORMAT  ndjson or array (default ndjson)
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
BIN=$REPO/.cache/bin
WORK=$REPO/.cache/bench/ingest
mkdir -p "$WORK"
BROKERS=${LOGPIPE_TEST_KAFKA_BROKERS:?run through scripts/bench.sh (make bench)}
CH=${LOGPIPE_TEST_CLICKHOUSE_ADDR:?run through scripts/bench.sh (make bench)}
N=${LOGPIPE_BENCH_INGEST_EVENTS:-200000}
CONC=${LOGPIPE_BENCH_INGEST_CONC:-64}
BATCH=${LOGPIPE_BENCH_INGEST_BATCH:-100}
FORMAT=${LOGPIPE_BENCH_INGEST_FORMAT:-ndjson}
RUN=$(date +%s)-$$

for b in ingest loadgen logpipectl; do
  [[ -x $BIN/$b ]] || { echo "missing $BIN/$b: run make build" >&2; exit 1; }
done
command -v kcat >/dev/null || { echo "kcat is not installed (apt-get install kcat)" >&2; exit 1; }

EVENTS=$WORK/events-$N.ndjson
if [[ ! -s $EVENTS ]]; then
  "$BIN/loadgen" -n "$N" -seed 7 -out "$EVENTS"
fi
bytes=$(stat -c %s "$EVENTS")
echo "events file: $N events, $((bytes / N)) bytes/event on average ($EVENTS)"

now() { date +%s.%N; }

# 1. kcat: the same file, one message per line, acks from all replicas, lz4,
# into its own topic. The machine is shared, so each side runs twice and the
# better run counts.
KTOPIC=bench_kcat_$RUN
"$BIN/loadgen" -create-topic "$KTOPIC" -brokers "$BROKERS" -partitions 6
kcat_eps=0
for attempt in 1 2; do
  t0=$(now)
  kcat -P -b "$BROKERS" -t "$KTOPIC" -z lz4 -X acks=all -X linger.ms=5 -X queue.buffering.max.messages=1000000 <"$EVENTS"
  t1=$(now)
  eps=$(awk -v n="$N" -v a="$t0" -v b="$t1" 'BEGIN{printf "%.0f", n/(b-a)}')
  echo "kcat -P run $attempt: $N events in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}')s = $eps events/s"
  ((eps > kcat_eps)) && kcat_eps=$eps
done

# 2. ingest over HTTP, into its own topic, quota counts in a bench database.
ITOPIC=bench_ingest_$RUN
"$BIN/loadgen" -create-topic "$ITOPIC" -brokers "$BROKERS" -partitions 6
DB=bench_ingest
LOGPIPE_CLICKHOUSE_ADDR=$CH LOGPIPE_CLICKHOUSE_DATABASE=$DB "$BIN/logpipectl" migrate >/dev/null 2>&1
KEYS=$WORK/keys-$RUN.json
KEY=$("$BIN/logpipectl" key -keys-file "$KEYS" -org org-bench -workspace bench -role admin -plan enterprise)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
LOGPIPE_INGEST_ADDR=127.0.0.1:$PORT LOGPIPE_KEYS_FILE=$KEYS LOGPIPE_KAFKA_BROKERS=$BROKERS \
  LOGPIPE_LOGS_TOPIC=$ITOPIC LOGPIPE_CLICKHOUSE_ADDR=$CH LOGPIPE_CLICKHOUSE_DATABASE=$DB LOGPIPE_LOG_LEVEL=warn \
  "$BIN/ingest" 2>"$WORK/ingest-$RUN.log" &
IPID=$!
cleanup() {
  kill "$IPID" 2>/dev/null && wait "$IPID" 2>/dev/null || true
  rm -f "$KEYS"
  "$BIN/loadgen" -delete-topics "$KTOPIC,$ITOPIC" -brokers "$BROKERS" >/dev/null 2>&1 || true
}
trap cleanup EXIT
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
URL=http://127.0.0.1:$PORT/v1/logs

# warm-up (connections, topic metadata), not measured
"$BIN/loadgen" -drive "$EVENTS" -n 5000 -url "$URL" -key "$KEY" -c "$CONC" -batch "$BATCH" -format "$FORMAT" >/dev/null

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }
ingest_eps=0
for attempt in 1 2; do
  run=$("$BIN/loadgen" -drive "$EVENTS" -url "$URL" -key "$KEY" -c "$CONC" -batch "$BATCH" -format "$FORMAT")
  echo "ingest run $attempt ($CONC clients, $BATCH events/request, $FORMAT): $run"
  eps=$(field events_per_s "$run")
  ((eps > ingest_eps)) && ingest_eps=$eps
done
half=$(awk -v e="$ingest_eps" 'BEGIN{printf "%.0f", e/2}')
halfn=$((N / 2))
paced=$("$BIN/loadgen" -drive "$EVENTS" -n "$halfn" -rate "$half" -url "$URL" -key "$KEY" -c "$CONC" -batch "$BATCH" -format "$FORMAT")
echo "ingest at half rate ($half events/s): $paced"

# overload: 8x the clients at full speed; shed requests (503) are expected
over=$("$BIN/loadgen" -drive "$EVENTS" -n "$halfn" -url "$URL" -key "$KEY" -c $((CONC * 8)) -batch "$BATCH" -format "$FORMAT" 2>/dev/null)
echo "ingest overloaded ($((CONC * 8)) clients; errors = requests shed with 503 Retry-After, events_per_s counts offered events): $over"
rss_kb=$(awk '/VmHWM/{print $2}' "/proc/$IPID/status")

echo
echo "RESULT ingest events/s over HTTP vs kcat -P: $ingest_eps / $kcat_eps = $(awk -v a="$ingest_eps" -v b="$kcat_eps" 'BEGIN{printf "%.2fx", a/b}') (target >= 0.5x)"
echo "RESULT ingest p50/p99 at half the max rate: $(field p50_ms "$paced") ms / $(field p99_ms "$paced") ms (target p99 <= 50 ms)"
echo "RESULT ingest peak RSS (incl. overload): $((rss_kb / 1024)) MB (target <= 300 MB)"
if [[ $N -lt 200000 ]]; then
  echo "note: scaled down to $N events (LOGPIPE_BENCH_INGEST_EVENTS)"
fi
