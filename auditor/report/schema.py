"""The JSON Schemas shipped in the package: ``auditor.report/1`` and one line of ``auditor.trace/1``.

docs/report-schema.md describes both and the versioning rule: within a ``/1``
schema fields are only added, and added fields are optional.
"""

from __future__ import annotations

import json
from importlib import resources

__all__ = ["REPORT", "TRACE_LINE", "load"]

REPORT = "report.schema.json"
TRACE_LINE = "trace-line.schema.json"


def load(name: str) -> dict:
    """The schema ``name`` (``REPORT`` or ``TRACE_LINE``) as a dict."""
    return json.loads((resources.files("auditor.report") / "schemas" / name).read_text("utf-8"))
