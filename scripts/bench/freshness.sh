#!/usr/bin/env bash
# Freshness benchmark: the time from ingest's 2xx for a log to the query API
# listing it with its total, at half the maximum ingest rate (the target:
# p99 <= 2 s). The three binaries run against the bench stack: ingest, the
# consumer and the query service, on topics, a consumer group and a database
# of their own.
#
# First the maximum rate, measured as ingest.sh does (ingest alone into a
# topic of its own, as fast as 64 clients go); then ingest restarts on the
# pipeline's topic and a background load of half that rate runs (loadgen,
# paced, the events file posted again and again: the same ids, as
# redeliveries arrive) while marker events are posted one at a time, each
# with a unique metadata value, and /v1/logs filtered to that value is polled
# until it lists the marker with total >= 1. The freshness of a marker is the
# time from its 2xx to the answer that first lists it; the answers of the
# polls (including the page's exact total) are part of it.
#
# Knobs: LOGPIPE_BENCH_FRESHNESS_RATE     background events/s (default: half the
#                                         measured maximum)
#        LOGPIPE_BENCH_FRESHNESS_MARKERS  markers measured (default 40)
#        LOGPIPE_BENCH_FRESHNESS_EVENTS   events in the load's file (default 100000)
#        LOGPIPE_BENCH_FRESHNESS_TIMEOUT  seconds a marker may take before it
#                                         counts as not seen (default 20)
#        LOGPIPE_BENCH_FRESHNESS_BUDGET   seconds after which no new marker is
#                                         posted (default 150)
# Three markers in a row not seen within the timeout end the run early: the
# pipeline is falling behind the load, and waiting longer shows nothing new.
set -euo pipefail
NAME=freshness
BINS="ingest consumer query logpipectl loadgen"
# shellcheck source=common.bash
source "$(dirname "${BASH_SOURCE[0]}")/common.bash"
BROKERS=${LOGPIPE_TEST_KAFKA_BROKERS:?run through scripts/bench.sh (make bench)}
MARKERS=${LOGPIPE_BENCH_FRESHNESS_MARKERS:-40}
N=${LOGPIPE_BENCH_FRESHNESS_EVENTS:-100000}
TIMEOUT=${LOGPIPE_BENCH_FRESHNESS_TIMEOUT:-20}
BUDGET=${LOGPIPE_BENCH_FRESHNESS_BUDGET:-150}
CONC=64
BATCH=100
MAXTOPIC=bench_fresh_max_$$
TOPIC=bench_fresh_$$
IPID= CPID= LPID=
stop() { # pid...: stop each process started here that still runs
  local p
  for p in "$@"; do
    if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then kill "$p"; wait "$p" 2>/dev/null || true; fi
  done
}
finish() {
  stop "$LPID" "$IPID" "$CPID"
  "$BIN/loadgen" -delete-topics "$MAXTOPIC,$TOPIC" -brokers "$BROKERS" >/dev/null 2>&1 || true
  cleanup
}
trap finish EXIT
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ready() { # name url pid log
  for _ in $(seq 150); do
    curl -fs "$2/readyz" >/dev/null 2>&1 && return 0
    kill -0 "$3" 2>/dev/null || break
    sleep 0.2
  done
  echo "$1 did not start:"
  tail -20 "$4"
  exit 1
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }

KEY=$("$BIN/logpipectl" key -keys-file "$WORK/keys.json" -org org-bench -workspace "$WS" -role admin -plan enterprise | grep -o 'lp_[0-9a-f]*' | head -1)
LOGPIPE_CLICKHOUSE_ADDR=$CH_ADDR LOGPIPE_CLICKHOUSE_DATABASE=$DB "$BIN/logpipectl" migrate >"$WORK/migrate.log" 2>&1 ||
  { cat "$WORK/migrate.log"; exit 1; }
mkdir -p "$REPO/.cache/bench/freshness"
EVENTS=$REPO/.cache/bench/freshness/events-$N.ndjson
[ -s "$EVENTS" ] || "$BIN/loadgen" -n "$N" -seed 11 -out "$EVENTS"
"$BIN/loadgen" -create-topic "$MAXTOPIC" -brokers "$BROKERS" -partitions 6
"$BIN/loadgen" -create-topic "$TOPIC" -brokers "$BROKERS" -partitions 6

IPORT=$(freeport)
IURL=http://127.0.0.1:$IPORT
start_ingest() { # topic
  LOGPIPE_INGEST_ADDR=127.0.0.1:$IPORT LOGPIPE_KEYS_FILE=$WORK/keys.json LOGPIPE_KAFKA_BROKERS=$BROKERS \
    LOGPIPE_LOGS_TOPIC=$1 LOGPIPE_CLICKHOUSE_ADDR=$CH_ADDR LOGPIPE_CLICKHOUSE_DATABASE=$DB LOGPIPE_LOG_LEVEL=warn \
    "$BIN/ingest" 2>>"$WORK/ingest.log" &
  IPID=$!
  ready ingest "$IURL" "$IPID" "$WORK/ingest.log"
}

# 1. the maximum rate (unless given): ingest alone, its own topic
RATE=${LOGPIPE_BENCH_FRESHNESS_RATE:-}
AT="at $RATE events/s (LOGPIPE_BENCH_FRESHNESS_RATE)"
if [ -z "$RATE" ]; then
  start_ingest "$MAXTOPIC"
  "$BIN/loadgen" -drive "$EVENTS" -n 5000 -url "$IURL/v1/logs" -key "$KEY" -c "$CONC" -batch "$BATCH" >/dev/null # warm-up
  max=$("$BIN/loadgen" -drive "$EVENTS" -url "$IURL/v1/logs" -key "$KEY" -c "$CONC" -batch "$BATCH")
  echo "maximum ingest rate ($CONC clients, $BATCH events/request, Kafka only): $max"
  RATE=$(awk -v e="$(field events_per_s "$max")" 'BEGIN{printf "%.0f", e/2}')
  AT="at half the maximum ingest rate"
  stop "$IPID"
  IPID=
fi

# 2. the pipeline: ingest on its topic, the consumer, the query service
start_ingest "$TOPIC"
CPORT=$(freeport)
LOGPIPE_CONSUMER_ADDR=127.0.0.1:$CPORT LOGPIPE_CONSUMER_GROUP=bench-fresh-$$ LOGPIPE_KAFKA_BROKERS=$BROKERS \
  LOGPIPE_LOGS_TOPIC=$TOPIC LOGPIPE_CLICKHOUSE_ADDR=$CH_ADDR LOGPIPE_CLICKHOUSE_DATABASE=$DB LOGPIPE_LOG_LEVEL=warn \
  "$BIN/consumer" 2>"$WORK/consumer.log" &
CPID=$!
ready consumer "http://127.0.0.1:$CPORT" "$CPID" "$WORK/consumer.log"
QPORT=$(freeport)
QURL=http://127.0.0.1:$QPORT
LOGPIPE_QUERY_ADDR=127.0.0.1:$QPORT LOGPIPE_KEYS_FILE=$WORK/keys.json LOGPIPE_PUBLIC_URL=$QURL \
  LOGPIPE_SIGNING_KEYS=bench:bench-signing-key-0123456789 LOGPIPE_EXPORT_DIR=$WORK/exports \
  LOGPIPE_CLICKHOUSE_ADDR=$CH_ADDR LOGPIPE_CLICKHOUSE_DATABASE=$DB LOGPIPE_LOG_LEVEL=warn \
  "$BIN/query" 2>"$WORK/query.log" &
QPID=$!
ready query "$QURL" "$QPID" "$WORK/query.log"

# 3. background load at RATE until the markers are done: the file again and
# again, one paced loadgen run per pass
(
  while :; do
    "$BIN/loadgen" -drive "$EVENTS" -rate "$RATE" -url "$IURL/v1/logs" -key "$KEY" -c "$CONC" -batch "$BATCH" || true
  done >"$WORK/load.txt" 2>"$WORK/load.err"
) &
LPID=$!
accepted() { curl -fs "$IURL/metrics" | awk '/^logpipe_ingest_events_accepted_total/ {printf "%.0f", $2}'; }
inserted() { curl -fs "http://127.0.0.1:$CPORT/metrics" | awk '/^logpipe_consumer_rows_inserted_total\{table="logs"\}/ {printf "%.0f", $2}'; }
sleep 5 # the load settles (batches, merges) before the first marker
t0=$(date +%s.%N) a0=$(accepted) r0=$(inserted)

# 4. markers, one at a time
python3 - "$EVENTS" "$IURL" "$QURL" "$KEY" "$MARKERS" "$TIMEOUT" "$BUDGET" >"$WORK/markers.txt" <<'EOF'
import json, random, sys, time, urllib.error, urllib.parse, urllib.request, uuid
events, iurl, qurl, key, markers, timeout, budget = sys.argv[1:]
with open(events) as f:
    template = json.loads(f.readline())
for k in ("id", "created_at", "organisation_id", "workspace_id"):
    template.pop(k, None)

def call(req):
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError as e:
        return 0, str(e).encode()

rnd = random.Random(7)
start, missed = time.monotonic(), 0
for i in range(int(markers)):
    if time.monotonic() - start > float(budget):
        print(f"budget {budget}", flush=True)
        break
    if missed == 3:
        print("behind", flush=True)
        break
    m = uuid.uuid4().hex
    ev = dict(template, **{"trace_id": "marker-" + m, "metadata.key": ["bench_marker"], "metadata.value": [m]})
    req = urllib.request.Request(iurl + "/v1/logs", data=json.dumps(ev).encode(), method="POST",
                                 headers={"content-type": "application/json", "x-portkey-api-key": key})
    code, body = call(req)
    acked = time.monotonic()
    if code // 100 != 2:
        print(f"post {code} {body[:200]!r}", flush=True)
        continue
    q = qurl + "/v1/logs?page_size=50&metadata=" + urllib.parse.quote(json.dumps({"bench_marker": m}))
    polls, last = 0, ""
    while True:
        code, body = call(urllib.request.Request(q, headers={"x-portkey-api-key": key}))
        polls += 1
        now = time.monotonic()
        if code == 200:
            page = json.loads(body)
            if page.get("total", 0) >= 1 and page.get("data"):
                print(f"seen {now - acked:.3f} {polls}", flush=True)
                missed = 0
                break
        else:
            last = f"{code} {body[:200]!r}"
        if now - acked > float(timeout):
            print(f"timeout {now - acked:.3f} {polls} {last}", flush=True)
            missed += 1
            break
        time.sleep(0.05)
    time.sleep(rnd.uniform(0, 0.5))
EOF
t1=$(date +%s.%N) a1=$(accepted) r1=$(inserted)
stop "$LPID"
LPID=
lag=$(curl -fs "http://127.0.0.1:$CPORT/metrics" | awk '/^logpipe_consumer_lag_messages/ {s += $2} END {printf "%.0f", s}')

awk -v rate="$RATE" '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
    n++; e += f["events"]; s += f["seconds"]; err += f["errors"]; if (f["p99_ms"] > p99) p99 = f["p99_ms"] }
  END { if (n) printf "background load asked at %s events/s: %d finished passes of the events file, %d events in %.1f s = %.0f events/s, request p99 up to %s ms, %d errors\n", rate, n, e, s, e / s, p99, err
        else printf "background load asked at %s events/s: no pass of the events file finished while the markers ran\n", rate }' "$WORK/load.txt"
grep -v '^$' "$WORK/load.err" | tail -3 || true
python3 - "$WORK/markers.txt" "$t0" "$t1" "$(( a1 - a0 ))" "$(( ${r1:-0} - ${r0:-0} ))" "$RATE" "$lag" "$AT" <<'EOF'
import sys
markers, t0, t1, accepted, inserted, rate, lag, at = sys.argv[1:]
seen, missed, failed = [], [], []
for l in open(markers):
    w = l.split()
    if w[0] == "seen":
        seen.append(float(w[1]))
    elif w[0] == "timeout":
        missed.append(l.strip())
    elif w[0] == "budget":
        print(f"note: no marker posted after {w[1]} s (LOGPIPE_BENCH_FRESHNESS_BUDGET)")
    elif w[0] == "behind":
        print("note: stopped after three markers in a row not seen: the pipeline falls behind this load")
    else:
        failed.append(l.strip())
secs = float(t1) - float(t0)
achieved = f"{int(accepted) / secs:.0f} events/s accepted by ingest, {int(inserted) / secs:.0f} rows/s written by the consumer, over the {secs:.0f} s of the markers"
print(f"\nmarkers: {len(seen)} seen, {len(missed)} not seen within the timeout, {len(failed)} not accepted by ingest")
for l in missed + failed:
    print("  " + l)
print(f"rate asked {rate} events/s; achieved: {achieved}; consumer lag at the end {int(lag):,} messages")
# a marker not seen counts with the time it was polled for, a lower bound
v = sorted([(x, "") for x in seen] + [(float(m.split()[1]), ">") for m in missed])
if v:
    def q(p):
        x, bound = v[min(len(v) - 1, int(p * len(v)))]
        return f"{bound}{x * 1000:.0f} ms"
    note = " ('>': not seen within the timeout)" if missed else ""
    print(f"freshness (ingest 2xx -> listed by /v1/logs with total >= 1) of {len(v)} markers: p50 {q(0.5)}, p99 {q(0.99)}, max {q(1)}{note}")
    x, bound = v[min(len(v) - 1, int(0.99 * len(v)))]
    verdict = "met" if not bound and x <= 2.0 else "NOT met"
    print(f"target freshness {at}: p99 {q(0.99)} (target p99 <= 2000 ms) — {verdict}")
if failed or not v:
    sys.exit(1)
EOF
