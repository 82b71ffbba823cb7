"""The auditor's terminal summary in a pytest run: report dict in, lines out (pure)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from auditor.report.model import failing

__all__ = ["TITLE", "NO_FINDINGS", "NOTHING_AUDITED", "FAIL_ON_LINE", "REPORT_LINE",
           "TOP", "summary_lines"]

TITLE = "auditor"
NO_FINDINGS = "no findings"
NOTHING_AUDITED = "no test was audited"
FAIL_ON_LINE = "{count} finding(s) at or above --audit-fail-on={fail_on}: exit status 1"
REPORT_LINE = "report ({fmt}) written to {path}"
TOP = 10
_MAX_TESTS = 3


def _tests(runs: Sequence[str]) -> str:
    shown = ", ".join(runs[:_MAX_TESTS])
    return shown + (f" (+{len(runs) - _MAX_TESTS} more)" if len(runs) > _MAX_TESTS else "")


def _coverage(coverage: Mapping[str, Any]) -> str:
    parts = [f"{name.replace('_', ' ')} {entry.get('hit', 0)}/{entry.get('total', 0)}"
             for name, entry in coverage.items()
             if isinstance(entry, Mapping) and "total" in entry]
    missing = coverage.get("missing_hook_points") or []
    if missing:
        parts.append(f"missing hook points {len(missing)}")
    return "coverage: " + ", ".join(parts) if parts else ""


def summary_lines(report: Mapping[str, Any] | None, *, fail_on: str, top: int = TOP,
                  written: tuple[str, str] | None = None) -> list[str]:
    """The summary section: totals, counts per category, the ``top`` findings (severity
    first) with ``path:line function`` and the test ids, coverage, report file, verdict.

    ``written``: ``(path, format)`` of the report file, if one was written.
    """
    if not report or not report.get("runs"):
        return [NOTHING_AUDITED]
    findings = report["findings"]
    target = report.get("target", {})
    about = ", ".join(f"{k} {v}" for k, v in target.items() if k in ("nova", "concurrency"))
    by_severity = report["summary"].get("findings_by_severity", {})
    severities = ", ".join(f"{s} {n}" for s, n in by_severity.items())
    lines = [f"audited {len(report['runs'])} test(s)" + (f" ({about})" if about else "")
             + f": {len(findings)} finding(s)" + (f" ({severities})" if severities else "")]
    if not findings:
        lines.append(NO_FINDINGS)
    else:
        counts = report["summary"].get("findings_by_category", {})
        lines.append("by category: " + ", ".join(f"{c} {n}" for c, n in counts.items()))
        for f in findings[:top]:
            loc = f["location"]
            mark = " [baselined]" if "baseline" in f else " [allowed]" if "allowed" in f else ""
            lines.append(f"{f['severity'].upper():6} {f['rule']}  "
                         f"{loc['path']}:{loc['line']} {loc['function']}{mark}")
            lines.append(f"       {f['message']}")
            if f["runs"]:
                lines.append(f"       tests: {_tests(f['runs'])}")
        if len(findings) > top:
            lines.append(f"... and {len(findings) - top} more (see the report)")
    cov = _coverage(report.get("coverage", {}))
    if cov:
        lines.append(cov)
    base = report.get("baseline")
    if base:
        lines.append(f"baseline {base['path']}: {base['new']} new, {base['baselined']} known, "
                     f"{len(base['stale'])} entr{'y' if len(base['stale']) == 1 else 'ies'} "
                     f"not seen")
    if written:
        lines.append(REPORT_LINE.format(path=written[0], fmt=written[1]))
    over = failing(report, fail_on)
    if over:
        lines.append(FAIL_ON_LINE.format(count=len(over), fail_on=fail_on))
    return lines
