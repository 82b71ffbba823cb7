"""The report formats: one registry for the CLI (``--format``) and the pytest plugin.

Every format is one function of one signature, ``render(report, traces=()) -> str``.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from typing import TYPE_CHECKING, Any, Mapping, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from auditor.tracing.trace_file import Trace

__all__ = ["Format", "FORMATS", "RUN_FORMATS", "format_for", "render"]


@dataclasses.dataclass(frozen=True)
class Format:
    """``name``: the ``--format`` value; ``module``: ``auditor.report.<module>`` renders it;
    ``extension``: a report path ending so gets it by default; ``traces``: it renders
    trace files (not reports); ``spans``: it draws the spans of trace files given to it;
    ``runs``: ``auditor run``/``--audit-format`` may write it;
    ``options``: keyword options its ``render`` takes (``--docs-url``, ``--source-root``);
    ``function``: the module's function that renders it."""

    name: str
    module: str
    extension: str | None = None
    traces: bool = False
    spans: bool = False
    runs: bool = True
    options: tuple[str, ...] = ()
    function: str = "render"


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("json", "json", ".json"),
    Format("sarif", "sarif", ".sarif", options=("docs", "source_root")),
    Format("text", "text", ".txt"),
    Format("html", "html", ".html", spans=True, options=("docs",)),
    Format("perfetto", "perfetto", traces=True, spans=True, runs=False),
    Format("claims", "claims", runs=False),
    Format("claims-md", "claims", ".md", function="render_markdown"),
    Format("claims-json", "claims", runs=False, function="render_json"),
)}
#: What a run (``auditor run --format``, ``--audit-format``) may write.
RUN_FORMATS = tuple(name for name, f in FORMATS.items() if f.runs)


def format_for(path: str | None, fmt: str | None = None) -> str:
    """``fmt`` if given, else the run format ``path``'s extension names, else json."""
    if fmt:
        return fmt
    ext = os.path.splitext(path or "")[1].lower()
    return next((f.name for f in FORMATS.values() if f.runs and f.extension == ext), "json")


def render(fmt: str, report: Mapping, traces: "Sequence[Trace]" = (), **options: Any) -> str:
    """``report`` (or ``traces``, for a trace format) in format ``fmt``; ``options`` the format
    does not take are ignored."""
    spec = FORMATS[fmt]
    module = importlib.import_module(f"auditor.report.{spec.module}")
    return getattr(module, spec.function)(report, traces, **{
        k: v for k, v in options.items() if k in spec.options and v is not None})
