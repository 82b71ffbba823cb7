"""Read JSON-lines traces (``auditor.trace/1``) into reports and timeline spans."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from auditor.report.model import SCHEMA as REPORT_SCHEMA
from auditor.report.model import ReportError, build_report

__all__ = ["Trace", "read_trace", "is_trace", "TRACE_SCHEMA", "SPANS"]

TRACE_SCHEMA = "auditor.trace/1"
#: Records that become timeline spans.
SPANS = ("lock", "call", "entry")


@dataclasses.dataclass
class Trace:
    """One process's trace: its report (``auditor.report/1``), spans, and how it ended."""

    path: str
    pid: int
    program: str
    wall0: float          # wall-clock time at the trace's monotonic origin ``t0``
    t0: float
    report: dict
    spans: list[dict]
    complete: bool        # a ``trace-end`` record was read
    truncated: bool       # the last line was cut (the process was killed mid-write)


def is_trace(path: str | Path) -> bool:
    """Whether the file starts with a ``trace-start`` record."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            first = f.readline()
    except OSError:
        return False
    try:
        record = json.loads(first)
    except ValueError:
        return False
    return isinstance(record, dict) and record.get("event") == "trace-start"


def _lines(path: Path) -> tuple[list[dict], bool]:
    """Records of ``path``; a cut or undecodable last line is dropped (``truncated``)."""
    try:
        raw = path.read_bytes().decode("utf-8", "replace").split("\n")
    except OSError as exc:
        raise ReportError(f"cannot read trace {path}: {exc.strerror or exc}") from None
    if raw and raw[-1] == "":
        raw.pop()
    records, truncated = [], False
    for n, line in enumerate(raw, 1):
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or "event" not in record:
                raise ValueError("not a trace record")
        except ValueError:
            if n == len(raw):
                truncated = True
                break
            raise ReportError(f"{path}:{n} is not a trace record; the file is damaged "
                              f"before its last line") from None
        records.append(record)
    return records, truncated


def read_trace(path: str | Path) -> Trace:
    """Parse one trace file; ``ReportError`` (one line) if it is not one."""
    path = Path(path)
    records, truncated = _lines(path)
    if not records or records[0].get("event") != "trace-start":
        raise ReportError(f"{path} is not an auditor trace (no trace-start record); pass "
                          f"trace files written by 'auditor trace' or JSON reports")
    head = records[0]
    if head.get("schema") != TRACE_SCHEMA:
        raise ReportError(f"{path}: unsupported trace schema {head.get('schema')!r}")
    findings: dict[str, dict[str, Any]] = {}
    rules: dict[str, dict[str, str]] = {}
    spans: list[dict] = []
    coverage: dict = {}
    events: dict = {}
    concurrency = "threading"
    last_t = head.get("t", 0.0)
    end = None
    for record in records[1:]:
        kind = record["event"]
        last_t = max(last_t, record.get("t", last_t) + record.get("dur_s", 0.0)
                     + record.get("hold_s", 0.0))
        if kind in SPANS:
            spans.append(record)
        elif kind == "finding":
            _add_finding(findings, rules, record)
        elif kind == "coverage":
            coverage, events = record.get("coverage", {}), record.get("events", {})
            concurrency = record.get("concurrency", concurrency)
        elif kind == "trace-end":
            end = record
    run = {"id": head.get("run", f"{head.get('program')}[pid={head.get('pid')}]"),
           "outcome": "passed" if end is not None else "error",
           "duration_s": round(end["duration_s"] if end else last_t - head.get("t", 0.0), 3),
           "trace": str(path)}
    if "debug" in head:   # which log records were judged: all from DEBUG up, or those emitted
        run["log_capture"] = "debug" if head["debug"] else "emitted"
    if end is None:
        run["note"] = "trace has no end record: the process was killed or is still running"
    report = build_report(findings=(), runs=[run], coverage=coverage,
                          target={"nova": head.get("nova", "unknown"),
                                  "concurrency": concurrency, "program": head.get("program")},
                          events=events, tool_version=head.get("auditor", ""))
    report["findings"] = list(findings.values())
    report["rules"] = dict(sorted(rules.items()))
    assert report["schema"] == REPORT_SCHEMA
    return Trace(str(path), int(head.get("pid", 0)), str(head.get("program", "?")),
                 float(head.get("wall", 0.0)), float(head.get("t", 0.0)), report, spans,
                 end is not None, truncated)


def _add_finding(findings: dict, rules: dict, record: dict) -> None:
    fp = record.get("fingerprint", "")
    have = findings.get(fp)
    if have is None:
        loc = record.get("location", {})
        findings[fp] = have = {
            "rule": record["rule"], "category": record["category"],
            "severity": record["severity"], "message": record.get("message", ""),
            "location": {"path": loc.get("path", "?"), "line": loc.get("line", 0),
                         "function": loc.get("function", "?")},
            "runs": [], "count": 0, "evidence": dict(record.get("evidence", {})),
            "fingerprint": fp}
        rules.setdefault(record["rule"], {"title": record.get("title", ""),
                                          "severity": record["severity"],
                                          "help": record.get("help", "")})
    have["count"] += 1
    if record.get("run") and record["run"] not in have["runs"]:
        have["runs"].append(record["run"])
