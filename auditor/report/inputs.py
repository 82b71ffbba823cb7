"""``auditor report``'s inputs, read as untrusted: each file must be a regular file owned by
this user (or root) and not writable by others, at most ``MAX_REPORT_BYTES`` (a JSON report,
parsed whole) or ``MAX_TRACE_BYTES`` (a trace, streamed line by line), and its content must
match the shipped JSON Schema. A file that fails is one problem line; the others are read.
"""

from __future__ import annotations

import dataclasses
import os
from typing import BinaryIO, Sequence

from auditor.report.model import ReportError, parse_report
from auditor.tracing.trace_file import MAX_LINE_BYTES, Trace, starts_trace, parse_trace
from auditor.trusted_files import open_trusted_regular

__all__ = ["MAX_REPORT_BYTES", "MAX_TRACE_BYTES", "Inputs", "read_inputs", "open_checked"]

MAX_REPORT_BYTES = 256 * 2**20
MAX_TRACE_BYTES = 4 * 2**30


@dataclasses.dataclass
class Inputs:
    """What could be read (``reports``: one per file, a trace's included) and ``problems``:
    one line per file skipped."""

    reports: list[dict] = dataclasses.field(default_factory=list)
    traces: list[Trace] = dataclasses.field(default_factory=list)
    problems: list[str] = dataclasses.field(default_factory=list)


#: why ``open_checked`` refused a file (``trusted_files.open_trusted_regular``)
_REFUSED = {"open": "cannot read report or trace {path}: {detail}",
            "type": "{path} is not a regular file",
            "owner": "refused: {detail} (anyone could have written it)"}


def open_checked(path: str, limit: int) -> BinaryIO:
    """``path`` opened for reading if it is a trusted regular file of at most ``limit`` bytes;
    ``ReportError`` (one line) if not. A FIFO or device is refused without blocking."""
    def small(st: os.stat_result) -> None:
        if st.st_size > limit:
            raise ReportError(f"{path} is {st.st_size / 2**20:.0f} MiB, over the limit of "
                              f"{limit / 2**20:.0f} MiB")

    return os.fdopen(open_trusted_regular(path, ReportError, _REFUSED, check=small), "rb")


def read_one(path: str, spans: bool) -> tuple[dict, Trace | None]:
    """The report of ``path`` (a JSON report or a trace) and its trace, if it is one."""
    with open_checked(path, MAX_TRACE_BYTES) as stream:
        first = stream.readline(MAX_LINE_BYTES)
        stream.seek(0)
        if starts_trace(first):
            trace = parse_trace(stream, path, spans=spans)
            return trace.report, trace
        size = os.fstat(stream.fileno()).st_size
        if size > MAX_REPORT_BYTES:
            raise ReportError(f"{path} is {size / 2**20:.0f} MiB, over the limit of "
                              f"{MAX_REPORT_BYTES / 2**20:.0f} MiB for a JSON report")
        return parse_report(stream.read(), path), None


def read_inputs(paths: Sequence[str], *, spans: bool = False) -> Inputs:
    """Every readable report and trace of ``paths``; ``spans``: keep traces' spans (the
    timeline formats need them; the others do not, and memory stays ~ the findings)."""
    out = Inputs()
    read = []
    for path in paths:
        try:
            read.append(read_one(path, spans))
        except ReportError as exc:
            out.problems.append(str(exc))
    # A rotated trace's newest file carries every finding of the older ones: theirs would
    # count twice (their spans still draw).
    newest: dict[str, int] = {}
    for report, trace in read:
        if trace is not None:
            run = report["runs"][0]["id"]
            newest[run] = max(newest.get(run, 0), trace.segment)
    for report, trace in read:
        if trace is None or trace.segment == newest[report["runs"][0]["id"]]:
            out.reports.append(report)
        if trace is not None:
            out.traces.append(trace)
    return out
