"""Drives the official Python SDK (PyPI portkey-ai) against a running logpipe,
unchanged but for its base URL: every call the SDK has for logs, feedback,
analytics and log exports. Used by the end-to-end test (scripts/e2e); exits
non-zero with a message on the first incompatibility.

  LOGPIPE_BASE_URL=http://127.0.0.1:8000/v1 LOGPIPE_API_KEY=lp_... python check.py

scripts/sdkcheck/venv.sh creates the virtualenv (.cache/sdk-venv) with the
pinned SDK.
"""
import json
import os
import sys
import time
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone

from portkey_ai import Portkey

BASE = os.environ.get("LOGPIPE_BASE_URL")
KEY = os.environ.get("LOGPIPE_API_KEY")
if not BASE or not KEY:
    print("set LOGPIPE_BASE_URL and LOGPIPE_API_KEY", file=sys.stderr)
    sys.exit(2)

portkey = Portkey(api_key=KEY, base_url=BASE)
trace = f"py-sdk-trace-{int(time.time() * 1000)}"
calls = []


def check(cond, what, got=None):
    if not cond:
        raise AssertionError(f"{what}: got {got!r}")


def as_dict(x):
    if hasattr(x, "model_dump"):
        return x.model_dump()
    if hasattr(x, "dict"):
        return x.dict()
    return x


def raw(path):
    req = urllib.request.Request(BASE + path, headers={"x-portkey-api-key": KEY})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def call(name, fn, **kw):
    out = as_dict(fn(**kw))
    calls.append(name)
    return out


def main():
    # logs.create: the product's "Insert a Log" shape
    inserted = call("logs.create", portkey.logs.create,
        request={"url": "https://api.openai.com/v1/chat/completions", "method": "POST",
                 "headers": {"content-type": "application/json"},
                 "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello from the Python SDK"}]}},
        response={"status": 200, "headers": {"content-type": "application/json"},
                  "body": {"id": "chatcmpl-py", "model": "gpt-4o-mini",
                           "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi!"}, "finish_reason": "stop"}],
                           "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}},
                  "response_time": 321},
        metadata={"trace_id": trace, "_user": "py-sdk-user", "env": "py-sdk"})
    check(inserted is not None, "logs.create answer", inserted)

    found = None
    for _ in range(100):
        status, page = raw("/logs?trace_id=" + urllib.parse.quote(trace))
        check(status == 200, "GET /logs", page)
        found = next((l for l in page["data"] if l["trace_id"] == trace), None)
        if found:
            break
        time.sleep(0.2)
    check(found, "inserted log listed within 20s", trace)
    check(found["ai_model"] == "gpt-4o-mini", "model taken from the body", found)
    status, detail = raw("/logs/" + found["id"])
    check(status == 200 and detail["_id"] == found["id"] and detail["request"]["url"].startswith("https://"), "log detail (product log object)", detail)

    # feedback: create, bulk create, update
    fb = call("feedback.create", portkey.feedback.create, trace_id=trace, value=5, weight=0.5, metadata={"source": "py-sdk"})
    check(fb.get("status") == "success" and len(fb.get("feedback_ids") or []) == 1, "feedback.create", fb)
    bulk = call("feedback.bulk_create", portkey.feedback.bulk_create,
                feedbacks=[{"trace_id": trace, "value": 1}, {"trace_id": trace, "value": -1, "weight": 0.2}])
    check(len(bulk.get("feedback_ids") or []) == 2, "feedback.bulk_create", bulk)
    upd = call("feedback.update", portkey.feedback.update, feedback_id=fb["feedback_ids"][0], value=-2, weight=1)
    check(upd.get("status") == "success", "feedback.update", upd)
    try:
        portkey.feedback.update(feedback_id="never-created-" + trace, value=1)
        check(False, "feedback.update of an unknown id", "accepted")
    except Exception as e:  # the SDK raises on 404
        check("404" in str(e) or "not found" in str(e).lower() or getattr(e, "status_code", 0) == 404, "feedback.update of an unknown id: 404", str(e))
    calls.append("feedback.update (unknown id: 404)")

    now = datetime.now(timezone.utc)
    q = {"time_of_generation_min": (now - timedelta(hours=1)).isoformat(timespec="seconds"),
         "time_of_generation_max": (now + timedelta(minutes=1)).isoformat(timespec="seconds")}

    # every graph method of the SDK
    graphs = portkey.analytics.graphs
    for name in ["requests", "cost", "latency", "tokens", "users", "users_requests", "errors", "errors_rate",
                 "errors_stacks", "errors_status_codes", "requests_rescued", "cache_hit_rate", "cache_latency",
                 "feedbacks", "feedbacks_scores", "feedbacks_weighted", "feedbacks_ai_models"]:
        g = call("analytics.graphs." + name, getattr(graphs, name), **q)
        check(g.get("object") == "analytics-graph" and isinstance(g.get("data_points"), list) and isinstance(g.get("summary"), dict),
              "graphs." + name, g)
    g = as_dict(graphs.requests(**q))
    check(sum(p["total"] for p in g["data_points"]) >= 1, "graphs.requests counts the inserted log", g)
    for _ in range(100):  # the update reaches the log store through Kafka
        g = as_dict(graphs.feedbacks_scores(**q))
        if any(p["score"] == -2 for p in g["data_points"]):
            break
        time.sleep(0.2)
    check(any(p["score"] == -2 for p in g["data_points"]), "graphs.feedbacks_scores has the updated score within 20s", g)

    # every group: the named ones, metadata, and group_by over every dimension with columns and include_total
    groups = portkey.analytics.groups
    for name in ["users", "ai_models", "workspaces"]:
        r = call("analytics.groups." + name, getattr(groups, name), **q)
        check(r.get("object") == "list" and isinstance(r.get("data"), list), "groups." + name, r)
    r = call("analytics.groups.metadata", groups.metadata, metadata_key="env", **q)
    check(any(d.get("metadata_value") == "py-sdk" for d in r["data"]), "groups.metadata env", r)
    columns = "cost,total_tokens,avg_tokens,avg_input_tokens,avg_output_tokens,avg_latency,p95_latency,p99_latency,success_rate,error_count,cache_hit_rate,first_seen,last_seen"
    for dim in ["ai_service", "model", "status_code", "api_key", "config", "workspace", "provider", "prompt"]:
        r = call("analytics.groups.group_by(" + dim + ")", groups.group_by, group_by=dim, columns=columns, include_total=True, **q)
        check(r.get("object") == "list" and isinstance(r.get("summary"), dict) and "p99_latency" in r["summary"], "group_by " + dim, r)
    r = as_dict(groups.group_by(group_by="model", columns="cost", include_total=False, page_size=1000, **q))
    check(any(d.get("model") == "gpt-4o-mini" for d in r["data"]) and "summary" not in r, "group_by model", r)

    s = call("analytics.summary.cache", portkey.analytics.summary.cache, **q)
    check(s.get("object") == "analytics-summary" and "cache_speedup" in s.get("summary", {}), "summary.cache", s)

    # the whole export lifecycle, and the signed download
    ws = found["workspace_id"]
    filters = dict(q, trace_id=trace, page_size=50000, current_page=0)
    exp = call("logs.exports.create", portkey.logs.exports.create, workspace_id=ws, filters=filters,
               requested_data=["id", "created_at", "ai_model", "trace_id", "request", "metadata"], description="py sdk check")
    check(exp.get("id") and exp.get("object") == "export" and exp.get("total") == 1, "exports.create", exp)
    upd = call("logs.exports.update", portkey.logs.exports.update, export_id=exp["id"], workspace_id=ws, filters=filters,
               requested_data=["id", "created_at", "ai_model", "trace_id"])
    check(upd.get("id") == exp["id"] and upd.get("total") == 1, "exports.update", upd)
    lst = call("logs.exports.list", portkey.logs.exports.list, workspace_id=ws)
    check(any(e["id"] == exp["id"] for e in lst["data"]), "exports.list", lst)
    call("logs.exports.start", portkey.logs.exports.start, export_id=exp["id"])
    job = None
    for _ in range(150):
        job = call("logs.exports.retrieve", portkey.logs.exports.retrieve, export_id=exp["id"])
        if job["status"] in ("success", "failed", "stopped"):
            break
        time.sleep(0.2)
    check(job["status"] == "success", "export finished", job)
    dl = call("logs.exports.download", portkey.logs.exports.download, export_id=exp["id"])
    check(isinstance(dl.get("signed_url"), str), "exports.download", dl)
    with urllib.request.urlopen(dl["signed_url"], timeout=30) as f:
        lines = [json.loads(l) for l in f.read().decode().strip().split("\n")]
    check(len(lines) == 1 and lines[0]["trace_id"] == trace and lines[0]["ai_model"] == "gpt-4o-mini", "exported JSONL", lines)
    second = call("logs.exports.create", portkey.logs.exports.create, workspace_id=ws, filters=filters, requested_data=["id"])
    c = call("logs.exports.cancel", portkey.logs.exports.cancel, export_id=second["id"])
    check(c.get("object") == "export", "exports.cancel", c)
    print(json.dumps({"ok": True, "calls": len(calls), "names": calls}))


try:
    main()
except Exception as e:  # report and fail
    print(json.dumps({"ok": False, "error": f"{type(e).__name__}: {e}", "calls": calls}), file=sys.stderr)
    sys.exit(1)
