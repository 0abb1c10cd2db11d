// Drives the official SDK (npm portkey-ai) against a running logpipe, unchanged
// but for its base URL, the way users run it. Used by the end-to-end test
// (scripts/e2e); exits non-zero with a message on the first incompatibility.
//
//   LOGPIPE_BASE_URL=http://127.0.0.1:8000/v1 LOGPIPE_API_KEY=lp_... node check.mjs
import { Portkey } from 'portkey-ai';

const baseURL = process.env.LOGPIPE_BASE_URL;
const apiKey = process.env.LOGPIPE_API_KEY;
if (!baseURL || !apiKey) {
  console.error('set LOGPIPE_BASE_URL and LOGPIPE_API_KEY');
  process.exit(2);
}
const portkey = new Portkey({ apiKey, baseURL });
const traceID = `sdk-trace-${Date.now()}`;
const results = {};

function check(cond, what, got) {
  if (!cond) {
    throw new Error(`${what}: got ${JSON.stringify(got)}`);
  }
}

async function raw(path) {
  const r = await fetch(baseURL + path, { headers: { 'x-portkey-api-key': apiKey } });
  const body = await r.json();
  return { status: r.status, body };
}

async function main() {
  // Insert a Log, in the product's shape.
  const inserted = await portkey.logs.create({
    request: {
      url: 'https://api.openai.com/v1/chat/completions',
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello from the SDK' }] },
      provider: 'openai',
    },
    response: {
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: {
        id: 'chatcmpl-sdk', model: 'gpt-4o-mini',
        choices: [{ index: 0, message: { role: 'assistant', content: 'Hi!' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 },
      },
      response_time: 321,
      streamingMode: false,
    },
    metadata: { trace_id: traceID, _user: 'sdk-user', env: 'sdk' },
  });
  results.insert = inserted;

  // The log becomes visible in the listing (GET /v1/logs through the base URL).
  let found;
  for (let i = 0; i < 100 && !found; i++) {
    const page = await raw(`/logs?trace_id=${encodeURIComponent(traceID)}`);
    check(page.status === 200, 'GET /logs status', page);
    found = page.body.data.find((l) => l.trace_id === traceID);
    if (!found) await new Promise((r) => setTimeout(r, 200));
  }
  check(found, 'inserted log listed within 20s', traceID);
  results.listed = { id: found.id, ai_model: found.ai_model, total_units: found.total_units };
  check(found.ai_model === 'gpt-4o-mini', 'model taken from the body', found);

  // Feedback, create (one and an array) and update, as the SDK sends them (traceID, feedbackID).
  const fb = await portkey.feedback.create({ traceID, value: 5, weight: 0.5, metadata: { source: 'sdk' } });
  results.feedback = fb;
  const ids = fb.feedback_ids || fb.feedback_id;
  check(Array.isArray(ids) && ids.length === 1, 'feedback ids', fb);
  const bulk = await portkey.feedback.create([{ traceID, value: 1 }, { traceID, value: -1, weight: 0.2 }]);
  check(Array.isArray(bulk.feedback_ids) && bulk.feedback_ids.length === 2, 'feedback bulk create', bulk);
  const upd = await portkey.feedback.update({ feedbackID: ids[0], value: -2, weight: 1 });
  results.feedbackUpdate = upd;
  let unknown;
  try {
    unknown = await portkey.feedback.update({ feedbackID: `never-created-${traceID}`, value: 1 });
  } catch (err) {
    unknown = err;
  }
  check(unknown && (unknown.status === 404 || String(unknown).includes('404')), 'update of an unknown feedback: 404', String(unknown));

  // Analytics: every graph, group and summary call of the SDK.
  const now = new Date();
  const q = {
    time_of_generation_min: new Date(now.getTime() - 3600e3).toISOString(),
    time_of_generation_max: new Date(now.getTime() + 60e3).toISOString(),
  };
  const graph = await portkey.analytics.graphs.requests(q);
  check(graph.object === 'analytics-graph' && Array.isArray(graph.data_points), 'graphs.requests shape', graph);
  const total = graph.data_points.reduce((s, p) => s + p.total, 0);
  check(total >= 1, 'graphs.requests counts the inserted log', graph);
  results.graph = graph.summary;
  const graphCalls = ['cost', 'latency', 'tokens', 'users', 'usersRequests', 'errors', 'errors_rate', 'errors_stack',
    'errors_status_code', 'requests_rescued', 'cache_hit_rate', 'cache_latency', 'feedbacks', 'feedbacks_score',
    'feedbacks_weighted', 'feedback_ai_models'];
  for (const name of graphCalls) {
    check(typeof portkey.analytics.graphs[name] === 'function', `the SDK has graphs.${name}`, Object.keys(portkey.analytics.graphs));
    const g = await portkey.analytics.graphs[name](q);
    check(g.object === 'analytics-graph' && Array.isArray(g.data_points) && g.summary, `graphs.${name} shape`, g);
  }
  let scores;
  for (let i = 0; i < 100; i++) { // the update reaches the log store through Kafka
    scores = await portkey.analytics.graphs.feedbacks_score(q);
    if (scores.data_points.some((p) => p.score === -2)) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  check(scores.data_points.some((p) => p.score === -2), 'feedbacks_score holds the updated score within 20s', scores);
  for (const name of ['users', 'aiModels', 'workspaces']) {
    const g = await portkey.analytics.groups[name](q);
    check(g.object === 'list' && Array.isArray(g.data), `groups.${name} shape`, g);
  }
  const md = await portkey.analytics.groups.metadata('env', q);
  check(md.data.some((d) => d.metadata_value === 'sdk'), 'groups.metadata(env)', md);
  const columns = 'requests,cost,total_tokens,avg_tokens,avg_input_tokens,avg_output_tokens,avg_latency,p95_latency,p99_latency,success_rate,error_count,cache_hit_rate,last_seen,first_seen';
  for (const dim of ['ai_service', 'model', 'status_code', 'api_key', 'config', 'workspace', 'provider', 'prompt']) {
    const g = await portkey.analytics.groups.groupedData(dim, { ...q, columns, include_total: true });
    check(g.object === 'list' && g.summary && 'p95_latency' in g.summary, `groups.groupedData(${dim})`, g);
  }
  const cache = await portkey.analytics.summary.cache(q);
  check(cache.object === 'analytics-summary' && 'cache_speedup' in cache.summary, 'summary.cache', cache);
  // The graph paths as the product's document spells them (no SDK method of this version calls them).
  for (const path of ['users/requests', 'errors/rate', 'errors/stacks', 'errors/status-codes', 'requests/rescued',
    'cache/hit-rate', 'cache/latency', 'feedbacks/scores']) {
    const r = await raw(`/analytics/graphs/${path}?${new URLSearchParams(q)}`);
    check(r.status === 200 && r.body.object === 'analytics-graph', `GET /analytics/graphs/${path}`, r);
  }

  // Log export: create, start, wait, download through the signed URL.
  const exp = await portkey.logs.exports.create({
    workspaceId: found.workspace_id,
    filters: { trace_id: traceID, time_of_generation_min: q.time_of_generation_min, time_of_generation_max: q.time_of_generation_max },
    requestedData: ['id', 'created_at', 'ai_model', 'trace_id', 'request.body', 'metadata.key', 'metadata.value'],
    description: 'sdk check',
  });
  check(exp.id && exp.object === 'export', 'exports.create', exp);
  results.exportCreate = exp;
  const list = await portkey.logs.exports.list({ workspaceId: found.workspace_id });
  check(list.object === 'list' && list.data.some((e) => e.id === exp.id), 'exports.list', list);
  const updated = await portkey.logs.exports.update({ exportId: exp.id, workspaceId: found.workspace_id,
    filters: { trace_id: traceID, time_of_generation_min: q.time_of_generation_min, time_of_generation_max: q.time_of_generation_max, page_size: 50000, current_page: 0 },
    requestedData: ['id', 'created_at', 'ai_model', 'trace_id', 'request.body', 'metadata.key', 'metadata.value'] });
  check(updated.id === exp.id && updated.total === 1, 'exports.update', updated);
  await portkey.logs.exports.start({ exportId: exp.id });
  let job;
  for (let i = 0; i < 150; i++) {
    job = await portkey.logs.exports.retrieve({ exportId: exp.id });
    if (['success', 'failed', 'stopped'].includes(job.status)) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  check(job.status === 'success', 'export finished', job);
  const dl = await portkey.logs.exports.download({ exportId: exp.id });
  check(typeof dl.signed_url === 'string', 'exports.download signed_url', dl);
  const file = await fetch(dl.signed_url);
  check(file.status === 200, 'signed URL status', file.status);
  const lines = (await file.text()).trim().split('\n').map((l) => JSON.parse(l));
  check(lines.length === 1 && lines[0].trace_id === traceID, 'exported JSONL', lines);
  check(lines[0].ai_model === 'gpt-4o-mini', 'exported ai_model', lines[0]);
  results.exported = lines[0];
  const second = await portkey.logs.exports.create({ workspaceId: found.workspace_id, filters: { trace_id: traceID }, requestedData: ['id'] });
  const cancelled = await portkey.logs.exports.cancel({ exportId: second.id });
  check(cancelled.object === 'export', 'exports.cancel', cancelled);
  console.log(JSON.stringify({ ok: true, results }, null, 1));
}

main().catch((err) => {
  console.error(JSON.stringify({ ok: false, error: String(err && err.message ? err.message : err), results }, null, 1));
  process.exit(1);
});
