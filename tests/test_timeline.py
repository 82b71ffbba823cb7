"""Timeline spans recorded outside tracing: real oslo.concurrency locks through the real hooks."""

from __future__ import annotations

import json
import threading
import time

import jsonschema
from oslo_concurrency import lockutils

from auditor import cli, hooks
from auditor.report import perfetto, schema
from auditor.tracing.spans import SpanFile
from auditor.tracing.trace_file import read_trace


def test_span_file_of_real_lock_holds(tmp_path):
    """Two threads contending for compute_resources: one hold each, the second waited; the
    file is a valid trace that the Perfetto renderer and ``auditor report -o x.html`` draw."""
    path = tmp_path / "spans.jsonl"
    spans = SpanFile(str(path), "pytest", "test")
    installation = hooks.install(spans.observe)
    try:
        def hold():
            with lockutils.lock("compute_resources"):
                time.sleep(0.05)

        threads = [threading.Thread(target=hold, name=f"claimer-{i}") for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        installation.uninstall()
        spans.close()
    validator = jsonschema.Draft202012Validator(schema.load(schema.TRACE_LINE))
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [e for r in records for e in validator.iter_errors(r)] == []
    holds = [r for r in records if r["event"] == "lock" and r["name"] == "compute_resources"]
    assert sorted(r["thread"] for r in holds) == ["claimer-0", "claimer-1"]
    assert all(r["hold_s"] >= 0.04 for r in holds)
    assert max(r["wait_s"] for r in holds) >= 0.03
    trace = read_trace(path)
    assert trace.complete and len(trace.spans) == 2
    doc = json.loads(perfetto.render(trace.report, [trace]))
    assert {e["name"] for e in doc["traceEvents"] if e["ph"] == "X"} >= {
        "hold compute_resources", "wait compute_resources"}
    page = tmp_path / "r.html"
    assert cli.main(["report", "-o", str(page), str(path)]) == 0
    assert "Holders of compute_resources" in page.read_text()
