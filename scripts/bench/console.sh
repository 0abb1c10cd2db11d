#!/usr/bin/env bash
# Console benchmark: time from navigation to the first rows of the web
# console's Logs page, in headless Chromium, with a workspace of many logs
# (the target: within 1 s with 1M logs). The page records performance.now()
# when the first rows are in the DOM; the harness is the Go test
# TestConsoleFirstRowsBench in scripts/e2e.
#
# Knobs: LOGPIPE_BENCH_CONSOLE_ROWS  logs in the workspace (default 1000000)
#        LOGPIPE_BENCH_CONSOLE_ITER  page loads measured (default 10)
set -euo pipefail
NAME=console
BINS="query logpipectl"
# shellcheck source=common.bash
source "$(dirname "${BASH_SOURCE[0]}")/common.bash"
ROWS=${LOGPIPE_BENCH_CONSOLE_ROWS:-1000000}

KEY=$("$BIN/logpipectl" key -keys-file "$WORK/keys.json" -org org-bench -workspace "$WS" -role admin -plan enterprise | grep -o 'lp_[0-9a-f]*' | head -1)
start_query

# $ROWS logs over the last 30 days, generated server-side (columns named;
# every other column takes its default)
NOW=$(date +%s%3N)
SPAN=$(( 30 * 86400 * 1000 ))
t0=$(date +%s%3N)
ch -d "$DB" -q "INSERT INTO logs (id, organisation_id, workspace_id, created_at, \`request.body\`, \`response.body\`, is_success, ai_org, ai_model,
  req_units, res_units, total_units, cost, response_status_code, response_time, cache_status, trace_id, endpoint_type, user, is_tracked,
  retention_days, \`metadata.key\`, \`metadata.value\`)
SELECT lower(concat(substring(h, 1, 8), '-', substring(h, 9, 4), '-7', substring(r, 1, 3), '-8', substring(r, 4, 3), '-', substring(r, 7, 12))),
  'org-bench', '$WS', ca,
  concat('{\"model\":\"', m, '\",\"messages\":[{\"role\":\"user\",\"content\":\"question ', toString(n), '\"}]}'),
  '{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"answer\"}}]}',
  n % 17 != 0, 'openai', m, toUInt32(n % 1500), toUInt32(n % 700), toUInt32(n % 1500 + n % 700), (n % 997) * 0.013,
  if(n % 17 = 0, 500, 200), toUInt32(80 + n % 4000), ['MISS', 'HIT', 'SEMANTIC HIT', 'DISABLED'][n % 4 + 1],
  concat('trace-', toString(intDiv(n, 3))), 'chat/completions', concat('user-', toString(n % 500)), 1, 365,
  ['env'], [['prod', 'dev', 'staging'][n % 3 + 1]]
FROM (SELECT number AS n, $(( NOW - SPAN )) + intHash64(number) % $SPAN AS ca, hex(ca) AS h,
  concat(hex(cityHash64(number)), hex(cityHash64(number + 1))) AS r, ['gpt-4o', 'gpt-4o-mini'][number % 2 + 1] AS m
  FROM system.numbers LIMIT $ROWS)"
echo "loaded $(ch -d "$DB" -q 'SELECT count() FROM logs') logs in $(( $(date +%s%3N) - t0 )) ms"

cd "$REPO/scripts/e2e"
out=$(LOGPIPE_BENCH_CONSOLE_URL=$URL LOGPIPE_BENCH_CONSOLE_KEY=$KEY go test -count=1 -run '^TestConsoleFirstRowsBench$' -v . 2>&1) ||
  { echo "$out"; exit 1; }
grep '^console first rows' <<<"$out"
