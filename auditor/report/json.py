"""JSON output: the ``auditor.report/1`` report, pretty-printed in its own key order."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Mapping, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from auditor.tracing.trace_file import Trace

__all__ = ["render"]


def render(report: Mapping, traces: "Sequence[Trace]" = ()) -> str:
    """The report as indented JSON (keys in build order, non-ASCII kept), newline-terminated."""
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"
