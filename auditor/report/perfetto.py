"""Perfetto output: Chrome trace-event JSON of traces (loads in Perfetto and chrome://tracing)."""

from __future__ import annotations

import json
from typing import Mapping, Sequence

from auditor.tracing.timeline import trace_events
from auditor.tracing.trace_file import Trace

__all__ = ["render"]


def render(report: Mapping, traces: Sequence[Trace] = ()) -> str:
    """The JSON object format of ``traces``' timeline (the report is not used)."""
    return json.dumps({"traceEvents": trace_events(traces), "displayTimeUnit": "ms",
                       "otherData": {"tool": "nova-rt-auditor"}})
