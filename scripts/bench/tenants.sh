#!/usr/bin/env bash
# Tenants benchmark: a tenant's queries cost in proportion to that tenant's
# data, not to everyone's. One database holds many logs and feedbacks of other
# tenants — a large workspace, a neighbour in the same organisation, and an
# organisation whose workspaces are named like ours — beside a small workspace
# (about 1000 logs) and an empty one (no logs, no feedback). Through the query
# API, with each tenant's own key, it measures p50/p99 of the first page with
# its total, the 30-day requests graph, the four feedback graphs with shared
# filters (a model and a time range) and the ai-models group, for the empty,
# the small and the large workspace; the rows ClickHouse selected for one
# request of each (its SelectedRows counter, see below); and the four
# feedback graphs from two concurrent clients on the empty workspace, with
# every HTTP status (any but 2xx fails the benchmark: a 500 is a server
# error, and a 503, a query over its budget, should not happen for an empty
# tenant).
#
# Data is generated server-side (INSERT ... SELECT FROM system.numbers, columns
# named) and the finished days are merged as the consumer's seal job does.
#
# Knobs: LOGPIPE_BENCH_TENANTS_ROWS   logs of the other tenants (default 1000000;
#                                     the full size is 2000000)
#        LOGPIPE_BENCH_TENANTS_SMALL  logs of the small workspace (default 1000)
#        LOGPIPE_BENCH_TENANTS_ITER   requests per operation and tenant (default 15)
#        LOGPIPE_BENCH_TENANTS_CONC_ROUNDS  rounds of the four feedback graphs per
#                                     concurrent client (default 10)
set -euo pipefail
NAME=tenants
BINS="query logpipectl"
# shellcheck source=common.bash
source "$(dirname "${BASH_SOURCE[0]}")/common.bash"
ROWS=${LOGPIPE_BENCH_TENANTS_ROWS:-1000000}
SMALL=${LOGPIPE_BENCH_TENANTS_SMALL:-1000}
ITER=${LOGPIPE_BENCH_TENANTS_ITER:-15}
ROUNDS=${LOGPIPE_BENCH_TENANTS_CONC_ROUNDS:-10}
[ "$ROWS" = 1000000 ] && echo "note: scaled down to 1M logs of other tenants to fit ~5 minutes; LOGPIPE_BENCH_TENANTS_ROWS=2000000 runs the full size"

# tenants measured: name org workspace
TENANTS=("empty org-t ws-empty" "small org-t ws-small" "large org-big ws-big")
for t in "${TENANTS[@]}"; do
  read -r tn org ws <<<"$t"
  "$BIN/logpipectl" key -keys-file "$WORK/keys.json" -org "$org" -workspace "$ws" -role admin -plan enterprise |
    grep -o 'lp_[0-9a-f]*' | head -1 >"$WORK/key-$tn"
done
start_query

NOW=$(date +%s%3N)
SPAN=$(( 30 * 86400 * 1000 ))
T0=$(( NOW - SPAN ))
# gen lo hi org-expr ws-expr: logs for numbers [lo, hi), created_at spread
# over the last 30 days by a hash, UUIDv7 ids whose time is created_at
gen() {
  ch -d "$DB" -q "INSERT INTO logs (id, organisation_id, workspace_id, created_at, \`request.body\`, \`response.body\`,
  is_success, ai_org, ai_model, req_units, res_units, total_units, cost, cost_currency, request_url, request_method,
  response_status_code, response_time, cache_status, trace_id, span_id, endpoint_type, user, is_tracked, retention_days,
  \`metadata.key\`, \`metadata.value\`)
SELECT
  lower(concat(substring(h, 1, 8), '-', substring(h, 9, 4), '-7', substring(r, 1, 3), '-8', substring(r, 4, 3), '-', substring(r, 7, 12))),
  $3, $4, ca,
  concat('{\"model\":\"', m, '\",\"messages\":[{\"role\":\"user\",\"content\":\"question ', toString(n), '\"}]}'),
  '{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"answer\"}}]}',
  n % 17 != 0, 'openai', m, toUInt32(n % 1500), toUInt32(n % 700), toUInt32(n % 1500 + n % 700), (n % 997) * 0.013, 'USD',
  'https://api.openai.com/v1/chat/completions', 'POST', if(n % 17 = 0, 500, 200), toUInt32(80 + n % 4000),
  ['MISS', 'HIT', 'SEMANTIC HIT', 'DISABLED'][n % 4 + 1], concat('trace-', toString(intDiv(n, 3))), concat('span-', toString(n)),
  'chat/completions', concat('user-', toString(n % 500)), 1, 365, ['env'], [['prod', 'dev', 'staging'][n % 3 + 1]]
FROM (SELECT number AS n, $T0 + intHash64(number) % $SPAN AS ca, hex(ca) AS h,
  concat(hex(cityHash64(number)), hex(cityHash64(number + 1))) AS r, ['gpt-4o', 'claude-3-5-sonnet', 'gpt-4o-mini'][number % 3 + 1] AS m
  FROM system.numbers WHERE number >= $1 LIMIT $(( $2 - $1 )))"
}
# fb lo hi org-expr ws-expr: a feedback on about half the traces of those
# logs (trace-k is the logs 3k..3k+2), a tenth of them updated once since
fb() {
  ch -d "$DB" -q "INSERT INTO feedback (id, organisation_id, workspace_id, trace_id, value, weight, created_at, updated_at, retention_days,
  \`metadata.key\`, \`metadata.value\`)
SELECT concat('fb-', toString(n)), $3, $4, concat('trace-', toString(intDiv(n, 3))), toInt8(n % 21) - 10, (n % 10 + 1) / 10,
  $T0 + intHash64(n) % $SPAN AS c, c + v * 60000, 365, ['source'], ['bench']
FROM (SELECT number AS n FROM system.numbers WHERE number >= $1 LIMIT $(( $2 - $1 ))) ARRAY JOIN [0, 1] AS v
WHERE n % 3 = 0 AND intHash32(intDiv(n, 3)) % 2 = 0 AND (v = 0 OR n % 30 = 0)"
}
# the other tenants, by trace: half the large workspace, a quarter its
# neighbour in the small and empty workspaces' organisation, an eighth each
# in another organisation's workspaces named like the small and the empty one
OTHER_ORG="['org-big', 'org-big', 'org-big', 'org-big', 'org-t', 'org-t', 'org-x', 'org-x'][intDiv(n, 3) % 8 + 1]"
OTHER_WS="['ws-big', 'ws-big', 'ws-big', 'ws-big', 'ws-neighbour', 'ws-neighbour', 'ws-small', 'ws-empty'][intDiv(n, 3) % 8 + 1]"
t0=$(date +%s%3N)
step=2000000
for (( lo = 0; lo < ROWS; lo += step )); do
  hi=$(( lo + step < ROWS ? lo + step : ROWS ))
  gen "$lo" "$hi" "$OTHER_ORG" "$OTHER_WS"
  fb "$lo" "$hi" "$OTHER_ORG" "$OTHER_WS"
done
BASE=1000000000 # the small workspace's numbers: its own ids and traces
gen "$BASE" $(( BASE + SMALL )) "'org-t'" "'ws-small'"
fb "$BASE" $(( BASE + SMALL )) "'org-t'" "'ws-small'"
# the seal job: one part per partition of every finished day
TODAY=$(( $(date +%s) / 86400 * 86400000 ))
for tbl in logs feedback; do
  for pid in $(ch -d "$DB" -q "SELECT DISTINCT partition_id FROM system.parts WHERE database = '$DB' AND table = '$tbl' AND active"); do
    day=$(date -u -d "${pid#*-}" +%s 2>/dev/null || echo 0)
    if (( day * 1000 < TODAY )); then ch -d "$DB" -q "OPTIMIZE TABLE $tbl PARTITION ID '$pid' FINAL"; fi
  done
done
echo "data: loaded and sealed in $(( ($(date +%s%3N) - t0) / 1000 )) s; logs and feedbacks per tenant:"
ch -d "$DB" -q "SELECT organisation_id, workspace_id, sum(l) AS logs, sum(f) AS feedbacks FROM (
    SELECT organisation_id, workspace_id, count() AS l, 0 AS f FROM logs GROUP BY organisation_id, workspace_id
    UNION ALL SELECT organisation_id, workspace_id, 0, count() FROM feedback GROUP BY organisation_id, workspace_id)
  GROUP BY organisation_id, workspace_id ORDER BY organisation_id, workspace_id FORMAT PrettyCompactNoEscapes"
# what bounds the rows a tenant's read can skip to: ClickHouse reads whole
# granules (8192 rows), at least one per part whose key range spans the
# tenant, and the tables are partitioned by day
for tbl in logs feedback; do
  ch -d "$DB" -q "SELECT concat('$tbl: ', toString(count()), ' active parts in ', toString(uniqExact(partition_id)), ' daily partitions, ',
    toString(round(sum(rows) / count())), ' rows and ', toString(round(sum(marks) / count(), 1)), ' marks (granules) per part on average')
    FROM system.parts WHERE database = '$DB' AND table = '$tbl' AND active"
done
ch -d "$DB" -q "SELECT * FROM logs FORMAT Null"
ch -d "$DB" -q "SELECT * FROM feedback FORMAT Null"

iso() { date -u -d "@$(( $1 / 1000 )).$(printf %03d $(( $1 % 1000 )))" +%Y-%m-%dT%H:%M:%S.%3NZ; }
NOWQ=$(date +%s%3N)
RANGE="time_of_generation_min=$(iso $(( NOWQ - SPAN )))&time_of_generation_max=$(iso "$NOWQ")"
SHARED="ai_model=gpt-4o&$RANGE"
OPS=(
  "page|/v1/logs?page_size=50"
  "graph requests (30 days)|/v1/analytics/graphs/requests?$RANGE"
  "graph feedbacks|/v1/analytics/graphs/feedbacks?$SHARED"
  "graph feedbacks/score|/v1/analytics/graphs/feedbacks/score?$SHARED"
  "graph feedbacks/weighted|/v1/analytics/graphs/feedbacks/weighted?$SHARED"
  "graph feedbacks/ai-models|/v1/analytics/graphs/feedbacks/ai-models?$SHARED"
  "group ai-models (30 days)|/v1/analytics/groups/ai-models?$RANGE"
)

# rows read per request: the server's SelectedRows counter (system.events,
# rows selected from every table by every query) just before and after one
# request, less what the two readings of the counter select themselves; this
# ClickHouse serves nobody else. 18.16 has no SelectedRows: marks
# (SelectedMarks, granules of 8192 rows) stand in. (system.query_log would
# attribute rows to queries, but the 26.9 of the stack, clickhouse-local
# inside chdb-core, keeps none, and 18.16 logs only sessions that set
# log_queries=1, which the query service does not.)
COUNTER=SelectedRows
UNIT=rows
if [ "$(ch -q "SELECT count() FROM system.events WHERE event = 'SelectedRows'")" = 0 ]; then
  COUNTER=SelectedMarks UNIT=marks
fi
selected() { ch -q "SELECT sum(value) FROM system.events WHERE event = '$COUNTER'"; }
a=$(selected); b=$(selected)
SELF=$(( b - a ))
# request key path -> "status seconds"
req() { curl -sS -o "$WORK/body" -w '%{http_code} %{time_total}\n' -H "x-portkey-api-key: $1" "$URL$2"; }

RESULTS=$WORK/results.tsv
READS=$WORK/reads.tsv
: >"$RESULTS"
: >"$READS"
fails=0
# Per operation: a warm-up and a counted request per tenant, then ITER rounds
# in which each tenant takes its turn, so a busy moment of the shared machine
# falls on all three alike.
for op in "${OPS[@]}"; do
  name=${op%%|*} path=${op#*|}
  for t in "${TENANTS[@]}"; do
    read -r tn _ _ <<<"$t"
    key=$(cat "$WORK/key-$tn")
    req "$key" "$path" >"$WORK/probe-$tn"
    a=$(selected); req "$key" "$path" >>"$WORK/probe-$tn"; b=$(selected)
    printf '%s\t%s\t%s\n' "$tn" "$name" $(( b - a - SELF )) >>"$READS"
    : >"$WORK/times-$tn"
  done
  for _ in $(seq "$ITER"); do
    for t in "${TENANTS[@]}"; do
      read -r tn _ _ <<<"$t"
      req "$(cat "$WORK/key-$tn")" "$path" >>"$WORK/times-$tn"
    done
  done
  for t in "${TENANTS[@]}"; do
    read -r tn _ _ <<<"$t"
    bad=$(awk '$1 !~ /^2/ {print $1}' "$WORK/probe-$tn" "$WORK/times-$tn" | sort | uniq -c | tr '\n' ' ')
    if [ -n "$bad" ]; then
      echo "FAIL: $tn tenant, $name: non-2xx answers (count status): $bad"
      fails=1
    fi
    python3 - "$tn" "$name" "$WORK/times-$tn" >>"$RESULTS" <<'PY'
import sys
tn, name, f = sys.argv[1:]
v = sorted(float(l.split()[1]) for l in open(f) if l.strip())
q = lambda p: v[min(len(v) - 1, int(p * len(v)))] * 1000
print(f"{tn}\t{name}\t{q(0.5):.1f}\t{q(0.99):.1f}")
PY
  done
done

# the four feedback graphs from two concurrent clients, empty workspace
key=$(cat "$WORK/key-empty")
client() { # out
  for _ in $(seq "$ROUNDS"); do
    for op in "${OPS[@]:2:4}"; do
      curl -sS -o /dev/null -w "%{http_code} ${op%%|*}\n" -H "x-portkey-api-key: $key" "$URL${op#*|}" || echo "000 ${op%%|*}"
    done
  done >"$1"
}
client "$WORK/conc1" & c1=$!
client "$WORK/conc2" & c2=$!
wait "$c1" "$c2"
echo
echo "two concurrent clients, four feedback graphs x $ROUNDS rounds each, empty workspace: HTTP statuses (count status graph)"
sort "$WORK/conc1" "$WORK/conc2" | uniq -c | sed 's/^/  /'
if grep -qv '^2' "$WORK/conc1" "$WORK/conc2"; then
  echo "FAIL: the empty workspace's feedback graphs answered other than 2xx under two concurrent clients (500: a server error; 503: over budget; 000: no answer):"
  grep -hv '^2' "$WORK/conc1" "$WORK/conc2" | sort | uniq -c
  grep -i 'error' "$WORK/query.log" | tail -5
  fails=1
fi

python3 - "$RESULTS" "$READS" "$UNIT" <<'EOF'
import sys
res = {}
order = []
for l in open(sys.argv[1]):
    tn, name, p50, p99 = l.rstrip("\n").split("\t")
    res[(tn, name)] = (float(p50), float(p99))
    if name not in order:
        order.append(name)
unit = sys.argv[3]
reads = {}
for l in open(sys.argv[2]):
    tn, name, n = l.rstrip("\n").split("\t")
    reads[(tn, name)] = int(n)
tenants = ["empty", "small", "large"]
print(f"\n{'operation':<28}" + "".join(f" {t + ' p50':>11} {t + ' p99':>11}" for t in tenants)
      + f"   (ms)   {unit} read by one request: " + " / ".join(tenants))
for name in order:
    print(f"{name:<28}" + "".join(f" {res[(t, name)][0]:>11.1f} {res[(t, name)][1]:>11.1f}" for t in tenants)
          + "   " + " / ".join(f"{reads[(t, name)]:,}" for t in tenants))
print()
for name in order:
    lg = res[("large", name)][1]
    for t in ("empty", "small"):
        p = res[(t, name)][1]
        print(f"target {name}: {t} tenant: p99 {p:.0f} ms vs large tenant {lg:.0f} ms ({p / lg:.2f}x); "
              f"{unit} read {reads[(t, name)]:,} vs {reads[('large', name)]:,}")
EOF
if [ "$fails" = 1 ]; then
  echo "FAIL: see the FAIL lines above"
  exit 1
fi
