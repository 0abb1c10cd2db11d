#!/usr/bin/env bash
# Query benchmark: p50/p99 latency of the query API for what the Logs page and
# the dashboards run — the first page with its exact total (unfiltered and
# filtered by a metadata pair, a model, a status code), a deep keyset page, the
# detail, 30-day graphs and a group, and body search over one day — each next
# to clickhouse-client running the straightforward SQL a user would write
# (FINAL, GROUP BY) in the same run (one client session, so process start-up is
# not counted), and, where it applies, the physical limit: reading the rows
# alone, without deduplication.
#
# Runs against the test ClickHouse (LOGPIPE_TEST_CLICKHOUSE_ADDR) with the
# binaries of `make build` (.cache/bin). Data is generated server-side with
# INSERT ... SELECT FROM system.numbers (columns named) into a fresh database:
# one workspace, logs spread uniformly over the last 30 days, UUIDv7 ids whose
# time is created_at (as ingest assigns them), and 0.5% redelivered duplicates
# in parts of their own. Then the state the pipeline keeps: the consumer's seal
# job (`logpipectl seal` runs it once) merges the partitions of finished days
# (OPTIMIZE ... FINAL) and writes their hourly rollups, and today's duplicates
# arrive again after it, unmerged — so every read of today still has to
# deduplicate. The straightforward SQL reads the same tables, so it profits
# from the merged partitions too.
#
# Knobs: LOGPIPE_BENCH_QUERY_ROWS   sizes measured in turn (default "1000000 3000000";
#                                   the full size is "1000000 10000000")
#        LOGPIPE_BENCH_QUERY_ITER   requests per operation (default 20; p99 of 20 is the max)
#        LOGPIPE_BENCH_QUERY_GRAPH_ITER  requests per graph (default 8)
set -euo pipefail
NAME=query
BINS="query logpipectl"
# shellcheck source=common.bash
source "$(dirname "${BASH_SOURCE[0]}")/common.bash"
SIZES=${LOGPIPE_BENCH_QUERY_ROWS:-"1000000 3000000"}
ITER=${LOGPIPE_BENCH_QUERY_ITER:-20}
GITER=${LOGPIPE_BENCH_QUERY_GRAPH_ITER:-8}
[ "$SIZES" = "1000000 3000000" ] && echo "note: scaled down to 1M and 3M logs to fit ~5 minutes; LOGPIPE_BENCH_QUERY_ROWS=\"1000000 10000000\" runs the issue's 10M"

# --- the query service on a free port; it creates and migrates the database
KEY=$("$BIN/logpipectl" key -keys-file "$WORK/keys.json" -org org-bench -workspace "$WS" -role admin -plan enterprise | grep -o 'lp_[0-9a-f]*' | head -1)
start_query

NOW=$(date +%s%3N)
SPAN=$(( 30 * 86400 * 1000 ))
T0=$(( NOW - SPAN ))
# rows [lo, hi) of the synthetic workspace; created_at spread by a hash, so any
# prefix of the numbers covers the 30 days uniformly
gen() { # lo hi [where]
  local lo=$1 hi=$2 where=${3:-1}
  ch -d "$DB" -q "INSERT INTO logs (id, organisation_id, workspace_id, created_at, \`request.body\`, \`response.body\`, \`request.headers\`, \`response.headers\`,
  is_success, ai_org, ai_model, req_units, res_units, total_units, reasoning_units, cost, cost_currency, request_url, request_method,
  response_status_code, response_time, cache_status, cache_type, stream_mode, retry_success_count, retry_attempts, retry_failed, trace_id, span_id,
  mode, fallback_option, loadbalance_active, virtual_key, api_key_id, config, endpoint_type, user, is_tracked, retention_days, \`metadata.key\`, \`metadata.value\`)
SELECT
  lower(concat(substring(h, 1, 8), '-', substring(h, 9, 4), '-7', substring(r, 1, 3), '-8', substring(r, 4, 3), '-', substring(r, 7, 12))) AS id,
  'org-bench', '$WS', ca,
  concat('{\"model\":\"', m, '\",\"messages\":[{\"role\":\"user\",\"content\":\"Summarise the attached quarterly report in five bullet points, number ', toString(n), '\"}]}'),
  concat('{\"id\":\"chatcmpl-', toString(n), '\",\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"Revenue grew; costs fell; margins widened; guidance raised; hiring paused.\"}}]}'),
  '{\"content-type\":\"application/json\"}', '{\"content-type\":\"application/json\"}',
  n % 17 != 0, ['openai', 'anthropic', 'google', 'openai'][n % 4 + 1], m,
  toUInt32(n % 1500), toUInt32(n % 700), toUInt32(n % 1500 + n % 700), toUInt32(n % 64), (n % 997) * 0.013, 'USD',
  'https://api.openai.com/v1/chat/completions', 'POST', if(n % 17 = 0, [500, 429, 502][n % 3 + 1], 200), toUInt32(80 + n % 4000),
  ['MISS', 'HIT', 'SEMANTIC HIT', 'DISABLED', 'MISS'][n % 5 + 1], ['', 'SIMPLE', 'SEMANTIC', '', ''][n % 5 + 1], 'FALSE',
  toUInt16(n % 9 = 0), toUInt16(n % 9 = 0), 0, concat('trace-', toString(intDiv(n, 3))), concat('span-', toString(n)),
  ['SINGLE', 'FALLBACK', 'LOADBALANCE'][n % 3 + 1], toUInt16(n % 3 = 1 AND n % 2 = 0) * 2, toUInt8(n % 3 = 2),
  ['vk-main', 'vk-backup'][n % 2 + 1], 'key-1', 'pc-default', 'chat/completions', concat('user-', toString(n % 500)), 1, 365,
  ['env', 'team'], [['prod', 'dev', 'staging'][n % 3 + 1], concat('team-', toString(n % 12))]
FROM (
  SELECT number AS n, $T0 + intHash64(number) % $SPAN AS ca, hex(ca) AS h,
    concat(hex(cityHash64(number)), hex(cityHash64(number + 1))) AS r,
    ['gpt-4o', 'claude-3-5-sonnet', 'gemini-1.5-pro', 'gpt-4o-mini'][number % 4 + 1] AS m
  FROM system.numbers WHERE number >= $lo LIMIT $(( hi - lo ))
) WHERE $where"
}

api_times() { # path n -> one total time (s) per line
  for _ in $(seq "$2"); do
    curl -fsS -o /dev/null -w '%{time_total}\n' -H "x-portkey-api-key: $KEY" "$URL$1"
  done
}
ch_times() { # n statements-per-op file -> one summed time (s) per op per line
  local n=$1 per=$2 file=$3
  for _ in $(seq "$n"); do cat "$file"; done >"$WORK/rep.sql"
  ch -d "$DB" --time --multiquery --format Null <"$WORK/rep.sql" 2>&1 >/dev/null |
    awk -v per="$per" '/^[0-9.]+$/ { s += $1; k++; if (k == per) { print s; s = 0; k = 0 } }'
}
RESULTS=$WORK/results.tsv
: >"$RESULTS"
measure() { # rows name iter path sqlfile statements
  local rows=$1 name=$2 n=$3 path=$4 file=$5 per=$6
  api_times "$path" 2 >/dev/null # warm up both alike
  ch_times 1 "$per" "$file" >/dev/null
  api_times "$path" "$n" >"$WORK/api.txt"
  ch_times "$n" "$per" "$file" >"$WORK/ch.txt"
  python3 - "$rows" "$name" "$WORK/api.txt" "$WORK/ch.txt" >>"$RESULTS" <<'EOF'
import sys
rows, name, a, c = sys.argv[1:]
def pct(f):
    v = sorted(float(x) for x in open(f) if x.strip())
    q = lambda p: v[min(len(v) - 1, int(p * len(v)))]
    return q(0.5) * 1000, q(0.99) * 1000
ap50, ap99 = pct(a)
cp50, cp99 = pct(c)
print(f"{rows}\t{name}\t{ap50:.1f}\t{ap99:.1f}\t{cp50:.1f}\t{cp99:.1f}")
EOF
}

LISTING_COLS=$(ch -d "$DB" -q "SELECT name FROM system.columns WHERE database = '$DB' AND table = 'logs' AND name NOT IN ('request.body', 'response.body', 'request.headers', 'response.headers')" | awk '{printf "%s`%s`", (NR > 1 ? ", " : ""), $1}')
ALL_COLS=$(ch -d "$DB" -q "SELECT name FROM system.columns WHERE database = '$DB' AND table = 'logs'" | awk '{printf "%s`%s`", (NR > 1 ? ", " : ""), $1}')
iso() { date -u -d "@$(( $1 / 1000 )).$(printf %03d $(( $1 % 1000 )))" +%Y-%m-%dT%H:%M:%S.%3NZ; }

loaded=0
for rows in $SIZES; do
  t0=$(date +%s%3N)
  step=2000000
  for (( lo = loaded; lo < rows; lo += step )); do
    hi=$(( lo + step < rows ? lo + step : rows ))
    gen "$lo" "$hi"
    gen "$lo" "$hi" "n % 200 = 7" # redelivered duplicates, in parts of their own
  done
  loaded=$rows
  # the consumer's seal job, once: one part per partition of every finished
  # day, then the hourly rollups of those parts
  TODAY=$(( $(date +%s) / 86400 * 86400000 ))
  LOGPIPE_CLICKHOUSE_ADDR=$CH_ADDR LOGPIPE_CLICKHOUSE_DATABASE=$DB "$BIN/logpipectl" seal 2>>"$WORK/seal.log" ||
    { echo "logpipectl seal failed:"; cat "$WORK/seal.log"; exit 1; }
  gen 0 "$rows" "n % 200 = 7 AND ca >= $TODAY" # today's duplicates arrive after it: unmerged
  N=$(ch -d "$DB" -q "SELECT count() FROM logs")
  R=$(ch -d "$DB" -q "SELECT count() FROM logs_hourly WHERE src_part IN (SELECT tag FROM logs_hourly_rollups)")
  RL=$(ch -d "$DB" -q "SELECT count() FROM logs_hourly_latency WHERE src_part IN (SELECT tag FROM logs_hourly_rollups)")
  echo "data: $rows logs (+ $(( N - rows )) unmerged duplicates) in $WS, loaded, sealed and rolled up ($R rollup rows, $RL latency histogram rows) in $(( ($(date +%s%3N) - t0) / 1000 )) s"
  ch -d "$DB" -q "SELECT * FROM logs FORMAT Null" # warm the page cache alike

  NOWQ=$(date +%s%3N)
  CUT=$(( NOWQ - 365 * 86400 * 1000 ))
  SCOPE="\`organisation_id\` = 'org-bench' AND \`workspace_id\` = '$WS' AND \`created_at\` >= $CUT"
  page_sql() { # extra-where -> the straightforward first page with its exact total
    printf '%s\n%s\n' "SELECT $LISTING_COLS FROM logs FINAL WHERE $SCOPE AND $1 ORDER BY \`created_at\` DESC, \`id\` DESC LIMIT 51;" \
      "SELECT count() FROM logs FINAL WHERE $SCOPE AND $1;"
  }
  limit_line() { # name file: clickhouse-client alone on file (the physical limit)
    ch_times "$ITER" 1 "$2" >"$WORK/ch.txt"
    python3 - "$rows" "$1" "$WORK/ch.txt" >>"$RESULTS" <<'PY'
import sys
v = sorted(float(x) for x in open(sys.argv[3]) if x.strip())
q = lambda p: v[min(len(v) - 1, int(p * len(v)))] * 1000
print(f"{sys.argv[1]}\t{sys.argv[2]}\t-\t-\t{q(0.5):.1f}\t{q(0.99):.1f}")
PY
  }
  page_sql 1 >"$WORK/first.sql"
  measure "$rows" "first page + exact total" "$ITER" "/v1/logs?page_size=50" "$WORK/first.sql" 2
  printf '%s\n' "SELECT count() FROM logs WHERE $SCOPE;" >"$WORK/limit.sql"
  limit_line "  limit: count without dedup (CH)" "$WORK/limit.sql"
  page_sql "has(\`metadata.key\`, 'env') AND \`metadata.value\`[indexOf(\`metadata.key\`, 'env')] = 'staging'" >"$WORK/f.sql"
  measure "$rows" "first page, metadata env=staging" "$ITER" "/v1/logs?page_size=50&metadata=%7B%22env%22%3A%22staging%22%7D" "$WORK/f.sql" 2
  page_sql "\`ai_model\` = 'claude-3-5-sonnet'" >"$WORK/f.sql"
  measure "$rows" "first page, model" "$ITER" "/v1/logs?page_size=50&ai_model=claude-3-5-sonnet" "$WORK/f.sql" 2
  page_sql "\`response_status_code\` IN (500, 429)" >"$WORK/f.sql"
  measure "$rows" "first page, status code" "$ITER" "/v1/logs?page_size=50&status_code=500,429" "$WORK/f.sql" 2
  # deep page: a cursor 20 days back (keyset: no total is needed to page on)
  DT=$(( NOWQ - 20 * 86400 * 1000 ))
  DID=$(ch -d "$DB" -q "SELECT id FROM logs WHERE created_at <= $DT ORDER BY created_at DESC LIMIT 1")
  DTS=$(ch -d "$DB" -q "SELECT created_at FROM logs WHERE id = '$DID' LIMIT 1")
  CURSOR=$(printf '{"t":%s,"i":"%s"}' "$DTS" "$DID" | base64 -w0 | tr '+/' '-_' | tr -d '=')
  printf '%s\n%s\n' "SELECT $LISTING_COLS FROM logs FINAL WHERE $SCOPE AND (\`created_at\` < $DTS OR (\`created_at\` = $DTS AND \`id\` < '$DID')) ORDER BY \`created_at\` DESC, \`id\` DESC LIMIT 51;" \
    "SELECT count() FROM logs FINAL WHERE $SCOPE;" >"$WORK/deep.sql"
  measure "$rows" "deep page (20 days back)" "$ITER" "/v1/logs?page_size=50&cursor=$CURSOR" "$WORK/deep.sql" 2
  # detail: the whole log by its UUIDv7 id, and its trace's feedback
  read -r LID LTS LTR < <(ch -d "$DB" -q "SELECT id, created_at, trace_id FROM logs WHERE created_at <= $(( NOWQ - 10 * 86400 * 1000 )) ORDER BY created_at DESC LIMIT 1")
  printf '%s\n%s\n' "SELECT $ALL_COLS FROM logs WHERE $SCOPE AND \`id\` = '$LID' LIMIT 1;" \
    "SELECT * FROM feedback WHERE organisation_id = 'org-bench' AND workspace_id = '$WS' AND trace_id = '$LTR';" >"$WORK/detail.sql"
  measure "$rows" "detail" "$ITER" "/v1/logs/$LID" "$WORK/detail.sql" 2
  # graphs over 30 days (day buckets) and a group: the straightforward SQL is a
  # GROUP BY over FINAL; the limit is the same GROUP BY without deduplication
  GMIN=$(( NOWQ - SPAN )); GMAX=$NOWQ
  B="toUInt32(toStartOfDay(toDateTime(intDiv(\`created_at\`, 1000), 'UTC')))"
  RANGE="time_of_generation_min=$(iso $GMIN)&time_of_generation_max=$(iso $GMAX)"
  graph() { # name exprs
    printf '%s\n' "SELECT $B AS bucket, $2 FROM logs FINAL WHERE $SCOPE AND \`created_at\` >= $GMIN AND \`created_at\` <= $GMAX GROUP BY bucket WITH TOTALS ORDER BY bucket;" >"$WORK/g.sql"
    measure "$rows" "graph $1 (30 days)" "$GITER" "/v1/analytics/graphs/$1?$RANGE" "$WORK/g.sql" 1
    sed 's/ FROM logs FINAL / FROM logs /' "$WORK/g.sql" >"$WORK/gl.sql"
    limit_line "  limit: $1 without dedup (CH)" "$WORK/gl.sql"
  }
  graph requests "count(), countIf(\`is_success\` = 1), countIf(\`is_success\` = 0)"
  graph cost "sum(\`cost\`), avg(\`cost\`)"
  graph latency "avg(\`response_time\`), quantileExact(0.5)(\`response_time\`), quantileExact(0.9)(\`response_time\`), quantileExact(0.99)(\`response_time\`)"
  printf '%s\n' "SELECT \`ai_model\`, count(), sum(\`cost\`), avg(\`total_units\`), max(\`created_at\`) FROM logs FINAL WHERE $SCOPE AND \`created_at\` >= $GMIN GROUP BY \`ai_model\` ORDER BY count() DESC LIMIT 20;" >"$WORK/g.sql"
  measure "$rows" "group ai-models (30 days)" "$GITER" "/v1/analytics/groups/ai-models?$RANGE" "$WORK/g.sql" 1
  # body search over one day (newest first, a page of 50, with the exact
  # number of matches as every listing answers), against the same substring
  # scans in clickhouse-client: the page and the count
  DMIN=$(( NOWQ - 86400000 ))
  MATCH="$SCOPE AND \`created_at\` >= $DMIN AND is_tracked = 1 AND (positionCaseInsensitiveUTF8(\`request.body\`, 'NUMBER 4242') > 0 OR positionCaseInsensitiveUTF8(\`response.body\`, 'NUMBER 4242') > 0)"
  printf '%s\n%s\n' "SELECT $LISTING_COLS FROM logs WHERE $MATCH ORDER BY \`created_at\` DESC, \`id\` DESC LIMIT 51;" \
    "SELECT count() FROM logs WHERE $MATCH;" >"$WORK/s.sql"
  measure "$rows" "body search, one day" "$GITER" "/v1/logs?page_size=50&search=NUMBER%204242&time_of_generation_min=$(iso $DMIN)" "$WORK/s.sql" 2
done

python3 - "$RESULTS" <<'EOF'
import sys, collections
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
sizes = sorted({int(r[0]) for r in rows})
print(f"\n{'logs':>10}  {'operation':<34} {'API p50':>9} {'API p99':>9} {'CH p50':>9} {'CH p99':>9} {'p50 ratio':>9} {'p99 ratio':>9}   (ms; ratio = API / clickhouse-client on the straightforward SQL; 'limit' rows: clickhouse-client reading the rows alone)")
by = collections.defaultdict(dict)
for n, name, ap50, ap99, cp50, cp99 in rows:
    if ap50 == "-":
        print(f"{int(n):>10}  {name:<34} {'-':>9} {'-':>9} {float(cp50):>9.1f} {float(cp99):>9.1f}")
        continue
    ap50, ap99, cp50, cp99 = map(float, (ap50, ap99, cp50, cp99))
    by[name][int(n)] = (ap50, ap99, cp50, cp99)
    print(f"{int(n):>10}  {name:<34} {ap50:>9.1f} {ap99:>9.1f} {cp50:>9.1f} {cp99:>9.1f} {ap50/cp50:>8.2f}x {ap99/cp99:>8.2f}x")
if len(sizes) > 1:
    lo, hi = sizes[0], sizes[-1]
    print(f"\ngrowth from {lo:,} to {hi:,} logs (rows x{hi/lo:.1f}): p50 latency multiplier, API and clickhouse-client")
    for name, d in by.items():
        if lo in d and hi in d:
            print(f"  {name:<34} API x{d[hi][0]/d[lo][0]:.2f}   clickhouse-client x{d[hi][2]/d[lo][2]:.2f}")
for name, d in by.items():
    n = max(d)
    target = {"first page + exact total": "p99 <= 100 ms", "deep page (20 days back)": "p99 <= 100 ms"}.get(name)
    if name.startswith("first page,"):
        target = "p99 <= 200 ms"
    if name.startswith("graph") or name.startswith("group"):
        target = "p99 <= 250 ms and >= 3x faster than the straightforward SQL (ratio <= 0.33)"
    if name.startswith("body search"):
        target = "within 1.5x of clickhouse-client"
    if target:
        print(f"target {name} at {n:,} logs: p99 {d[n][1]:.0f} ms, ratio {d[n][1]/d[n][3]:.2f}x ({target})")
EOF
