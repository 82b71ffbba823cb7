"""Tracing judges the events at points between operations, not after every event."""

from __future__ import annotations

import json
import logging

from oslo_concurrency import lockutils

from auditor.tracing.tracer import Tracer


def _first_seen(path: str) -> list[str]:
    with open(path) as f:
        return [rec["location"]["function"] for rec in map(json.loads, f)
                if rec["event"] == "finding" and rec.get("first_seen")]


def test_findings_looked_for_between_operations(tmp_path, monkeypatch):
    """A lock acquire and a record logged under the lock are not points; releasing the
    owner's last lock is, and so is a record logged holding none: the leak under the lock
    is on file once the lock is released, the second one at once."""
    tracer = Tracer(str(tmp_path / "t.jsonl"), "points", interval_s=3600).start()
    judged: list[int] = []
    fresh = tracer.session.fresh
    monkeypatch.setattr(tracer.session, "fresh", lambda: judged.append(1) or fresh())
    log = logging.getLogger("nova.tracing_points")
    try:
        def under_lock():
            with lockutils.lock("points-outer"):
                with lockutils.lock("points-inner"):
                    log.warning("password=%s", "hunter2hunter2")
                after_inner = (len(judged), _first_seen(tracer.path))
            return after_inner

        after_inner = under_lock()
        after_outer = (len(judged), _first_seen(tracer.path))

        def unlocked():
            log.warning("token=%s", "s3cr3tt0ken99")

        unlocked()
        after_unlocked = (len(judged), _first_seen(tracer.path))
    finally:
        tracer.close("test")
    assert after_inner == (0, [])
    assert after_outer == (1, ["under_lock"])
    assert after_unlocked == (2, ["under_lock", "unlocked"])


def _lock_spans(path: str) -> list[str]:
    with open(path) as f:
        return [rec["name"] for rec in map(json.loads, f) if rec["event"] == "lock"]


def test_span_lines_wait_for_a_point_then_go_together(tmp_path, monkeypatch):
    """Span lines wait until a point between operations ``SPAN_DELAY_S`` after the oldest
    of them, then go in one write; closing writes whatever still waits."""
    from auditor.tracing import tracer as tracer_module

    monkeypatch.setattr(tracer_module, "SPAN_DELAY_S", 3600.0)
    tracer = Tracer(str(tmp_path / "t.jsonl"), "spans", interval_s=3600).start()
    writes: list[int] = []
    lines = tracer._log.lines
    monkeypatch.setattr(tracer._log, "lines", lambda batch: writes.append(len(batch))
                        or lines(batch))
    try:
        with lockutils.lock("spans-a"):
            pass
        with lockutils.lock("spans-b"):
            pass
        waiting = _lock_spans(tracer.path)
        monkeypatch.setattr(tracer_module, "SPAN_DELAY_S", 0.0)
        with lockutils.lock("spans-c"):
            pass
        at_point = _lock_spans(tracer.path)
        monkeypatch.setattr(tracer_module, "SPAN_DELAY_S", 3600.0)
        with lockutils.lock("spans-d"):
            pass
    finally:
        tracer.close("test")
    assert waiting == []
    assert at_point == ["spans-a", "spans-b", "spans-c"] and writes[0] == 3
    assert _lock_spans(tracer.path) == ["spans-a", "spans-b", "spans-c", "spans-d"]
