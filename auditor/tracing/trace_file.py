"""The trace file format (``auditor.trace/1``): one JSON object per line, written and read here.

A process's trace is ``trace-start``, then ``lock``/``call``/``entry`` spans and
``finding``/``coverage`` records as they are judged, then ``trace-end``. Lines
are written whole with ``os.write`` (span lines a few at a time, ``Tracer``) to a file
created 0600; a finding line is
``report.model.finding_record`` redacted (``auditor.redact``), and reading a
trace aggregates those records with ``report.model.build_report``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from auditor.findings import Finding, redact
from auditor.nova.runtime import MODES, target
from auditor.redact import Redactor
from auditor.report import schema, validate
from auditor.report.model import ReportError, build_report, finding_record

__all__ = ["SCHEMA", "SPANS", "trace_path", "trace_files", "open_exclusive",
           "line_writer", "finding_fields", "site_fields", "Trace", "read_trace", "parse_trace",
           "starts_trace", "MAX_LINE_BYTES"]

SCHEMA = "auditor.trace/1"
#: Records that become timeline spans.
SPANS = ("lock", "call", "entry")
_REDACT_LIMIT = 2000
#: A longer line is damage, not a record (the longest real ones, coverage, are ~100 KB).
MAX_LINE_BYTES = 4 * 2**20


# -- writing ----------------------------------------------------------------------

def trace_path(template: str, pid: int, program: str = "python") -> str:
    """The trace file for ``pid``: ``{pid}``/``{program}`` substituted, else ``TEMPLATE.<pid>``."""
    if "{pid}" in template or "{program}" in template:
        return template.replace("{pid}", str(pid)).replace("{program}", program)
    return f"{template}.{pid}"


def trace_files(template: str) -> list[str]:
    """The files ``auditor trace -o TEMPLATE`` wrote: ``TEMPLATE.<pid>`` (and ``.<pid>.N``), or
    the ``{pid}``/``{program}`` substitutions; sorted, empty when there are none."""
    import glob
    import re

    if "{pid}" in template or "{program}" in template:
        pattern = glob.escape(template).replace("{pid}", "*").replace("{program}", "*")
        return sorted(glob.glob(pattern))
    own = re.compile(re.escape(os.path.basename(template)) + r"\.\d+(\.\d+)?$")
    return sorted(p for p in glob.glob(glob.escape(template) + ".*")
                  if own.match(os.path.basename(p)))


def open_exclusive(path: str) -> tuple[str, int]:
    """Create ``path`` (or ``path.N`` if taken: pid reuse, exec) 0600, exclusively."""
    flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
    for n in range(100):
        candidate = path if n == 0 else f"{path}.{n}"
        try:
            return candidate, os.open(candidate, flags, 0o600)
        except FileExistsError:
            continue
    raise FileExistsError(f"{path}: 100 trace files with this name exist already")


#: The system's ``os.write`` (``posix.write``), also once eventlet has patched ``os``: its
#: green ``write`` stat()s the descriptor on every call to learn whether it may have to
#: wait, and a trace is always a regular file, which never makes a write wait.
_os_write = getattr(sys.modules[os.name], "write")


class _FdWriter:
    """File-like over a descriptor: each ``write`` is whole ``os.write`` calls, nothing buffered."""

    def __init__(self, fd: int):
        self.fd = fd

    def write(self, text: str) -> None:
        data = text.encode("utf-8", "backslashreplace")
        while data:
            data = data[_os_write(self.fd, data):]

    def flush(self) -> None:
        """Nothing to flush: every write already reached the kernel."""


class _LineWriter:
    """``msg(event, **fields)``: one compact JSON line ``{"event", "pid", **fields}`` per call,
    values JSON cannot hold written as ``str``; the host's logging is neither read nor changed."""

    def __init__(self, fd: int, pid: int):
        self._out = _FdWriter(fd)
        self._pid = pid
        self._encode = json.JSONEncoder(separators=(",", ":"), default=str).encode

    def line(self, event: str, **fields: Any) -> str:
        """The line ``msg`` would write."""
        return self._encode({"event": event, "pid": self._pid, **fields}) + "\n"

    def msg(self, event: str, **fields: Any) -> None:
        self._out.write(self.line(event, **fields))

    def lines(self, lines: list[str]) -> None:
        """Several lines in one ``os.write``."""
        self._out.write("".join(lines))


def line_writer(fd: int, pid: int) -> _LineWriter:
    """The trace's line writer on ``fd`` (a span line is written in ~60 % of the time a
    structlog logger with a JSON renderer took: measured 13.7 vs 22.5 µs at load 10)."""
    return _LineWriter(fd, pid)


def site_fields(site) -> dict:
    return {"path": site.path, "line": site.line, "function": site.function}


def finding_fields(finding: Finding, redactor: Redactor) -> dict[str, Any]:
    """A ``finding`` line's fields: its finding record, message and evidence passed through
    the session's redaction point (``auditor.redact``)."""
    record = finding_record(finding)
    record["message"] = redact(redactor.text(record["message"]), {}, _REDACT_LIMIT)
    record["evidence"] = {k: redact(redactor.text(v), {}, _REDACT_LIMIT)
                          for k, v in record["evidence"].items()}
    return record


# -- reading ----------------------------------------------------------------------

@dataclasses.dataclass
class Trace:
    """One process's trace: its report (``auditor.report/1``), spans, and how it ended."""

    path: str
    pid: int
    program: str
    segment: int          # 0, or how many times the process's trace was rotated before it
    wall0: float          # wall-clock time at the trace's monotonic origin ``t0``
    t0: float
    report: dict
    spans: list[dict]
    complete: bool        # a ``trace-end`` record was read
    truncated: bool       # the last line was cut (the process was killed mid-write)


def starts_trace(line: bytes) -> bool:
    """Whether ``line`` (a first line) is a ``trace-start`` record."""
    try:
        record = json.loads(line)
    except ValueError:
        return False
    return isinstance(record, dict) and record.get("event") == "trace-start"


def _records(stream: BinaryIO, path: str) -> Iterator[tuple[dict, bool]]:
    """``(record, last)`` of each line, streamed and checked against the trace-line schema; a
    cut or undecodable last line ends the stream with ``({}, True)`` (``truncated``)."""
    line, n = stream.readline(MAX_LINE_BYTES), 1
    while line:
        following = stream.readline(MAX_LINE_BYTES)
        try:
            if len(line) >= MAX_LINE_BYTES and not line.endswith(b"\n"):
                raise ValueError("line too long")
            record = json.loads(line)
            if not isinstance(record, dict) or "event" not in record:
                raise ValueError("not a trace record")
            problem = (_span_problem(record) if record["event"] in SPANS
                       else validate.problem(record, schema.TRACE_LINE))
        except ValueError:
            if not following:
                yield {}, True
                return
            raise ReportError(f"{path}:{n} is not a trace record; the file is damaged "
                              f"before its last line") from None
        if problem:
            raise ReportError(f"{path}:{n} does not match {SCHEMA}: {problem}")
        yield record, not following
        line, n = following, n + 1


_SPAN_NUMBERS = ("t", "dur_s", "wait_s", "hold_s", "owner")


def _span_problem(record: dict) -> str | None:
    """The trace-line schema's checks of what readers use in a span line, done by hand:
    spans are most of a trace, and the full schema costs ~0.3 ms a line."""
    if not isinstance(record.get("name"), str):
        return "name: expected a string"
    for key in _SPAN_NUMBERS:
        value = record.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{key}: expected a number, got {type(value).__name__}"
    return None


def read_trace(path: str | Path, *, spans: bool = True) -> Trace:
    """Parse one trace file; ``ReportError`` (one line) if it is not one."""
    try:
        with open(path, "rb") as stream:
            return parse_trace(stream, str(path), spans=spans)
    except OSError as exc:
        raise ReportError(f"cannot read trace {path}: {exc.strerror or exc}") from None


def parse_trace(stream: BinaryIO, path: str, *, spans: bool = True) -> Trace:
    """One trace read line by line from ``stream`` (memory: its findings, and its spans
    if ``spans``); ``ReportError`` (one line) if it is not a trace or damaged."""
    records = _records(stream, path)
    head, truncated = next(records, ({}, False))
    if head.get("event") != "trace-start":
        raise ReportError(f"{path} is not an auditor trace (no trace-start record); pass "
                          f"trace files written by 'auditor trace' or JSON reports")
    if head.get("schema") != SCHEMA:
        raise ReportError(f"{path}: unsupported trace schema {head.get('schema')!r}")
    findings: list[dict] = []
    first_seen: dict[str, dict] = {}   # written when made; the flush's line replaces it
    kept: list[dict] = []
    coverage: dict = {}
    events: dict = {}
    concurrency = MODES[0]
    last_t = head.get("t", 0.0)
    end = None
    for record, _ in records:
        if not record:
            truncated = True
            break
        kind = record["event"]
        last_t = max(last_t, record.get("t", last_t) + record.get("dur_s", 0.0)
                     + record.get("hold_s", 0.0))
        if kind in SPANS:
            if spans:
                kept.append(record)
        elif kind == "finding" and record.get("first_seen"):
            first_seen[record["fingerprint"]] = record
        elif kind == "finding":
            first_seen.pop(record["fingerprint"], None)
            findings += [record] * record.get("carried", 1)
        elif kind == "coverage":
            coverage, events = record.get("coverage", {}), record.get("events", {})
            concurrency = record.get("concurrency", concurrency)
        elif kind == "trace-end":
            end = record
    findings += first_seen.values()   # made, then the process died before its flush
    run = {"id": head.get("run", f"{head.get('program')}[pid={head.get('pid')}]"),
           "outcome": "passed" if end is not None else "error",
           "duration_s": round(end["duration_s"] if end else last_t - head.get("t", 0.0), 3),
           "trace": str(path)}
    if "debug" in head:   # which log records were judged: all from DEBUG up, or those emitted
        run["log_capture"] = "debug" if head["debug"] else "emitted"
    if "surfaces" in head:   # auditor trace --surfaces: the only hook surfaces installed
        run["surfaces"] = head["surfaces"]
    if end is None:
        run["note"] = "trace has no end record: the process was killed or is still running"
    report = build_report(findings=findings, runs=[run], coverage=coverage,
                          target=target(nova=head.get("nova", "unknown"), mode=concurrency,
                                        program=head.get("program")),
                          events=events, tool_version=head.get("auditor", ""))
    return Trace(str(path), int(head.get("pid", 0)), str(head.get("program", "?")),
                 int(head.get("segment", 0)),
                 float(head.get("wall", 0.0)), float(head.get("t", 0.0)), report, kept,
                 end is not None, truncated)
