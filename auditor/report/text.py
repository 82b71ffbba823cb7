"""Text output: a human summary of a report, rendered with rich to a plain string."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from auditor.findings import Severity
from auditor.report.claims import unhooked
from auditor.report.gate import counts

if TYPE_CHECKING:  # pragma: no cover
    from auditor.tracing.trace_file import Trace

__all__ = ["render", "TOP"]

TOP = 15
_SEVERITIES = tuple(s.value for s in Severity)
_COVERAGE_NAMES = {
    "log_call_sites": "log call sites",
    "synchronized_entry_points": "synchronized entry points",
    "report_client_calls": "report client calls",
}


def _percent(hit: int, total: int) -> str:
    """Rounded, but never 100% while something was missed nor 0% once something ran."""
    if not total:
        return "n/a"
    value = round(100 * hit / total)
    if hit < total:
        value = min(value, 99)
    if hit:
        value = max(value, 1)
    return f"{value}%"


def _header(console: Console, report: dict[str, Any]) -> None:
    target = report.get("target", {})
    tool = report.get("tool", {})
    parts = [f"{k} {v}" for k, v in target.items()]
    console.print(Text(f"nova-rt-auditor {tool.get('version', '')}".rstrip(), style="bold"))
    console.print(Text("target: " + (", ".join(parts) or "unknown")))
    runs = report.get("runs", [])
    outcomes: dict[str, int] = {}
    for run in runs:
        outcomes[run.get("outcome", "?")] = outcomes.get(run.get("outcome", "?"), 0) + 1
    duration = sum(float(r.get("duration_s") or 0) for r in runs)
    detail = ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items()))
    console.print(Text(f"runs: {len(runs)}" + (f" ({detail})" if detail else "")
                       + f", {duration:.1f} s"))
    events = report.get("summary", {}).get("events", {})
    if events:
        console.print(Text("events: " + ", ".join(f"{k} {v}" for k, v in events.items())))
    off = unhooked(report)
    if off:
        console.print(Text(f"not hooked (auditor trace --surfaces): {', '.join(sorted(off))}: "
                           f"an absent finding there proves nothing", style="yellow"))


def _by_category(console: Console, findings: list[dict[str, Any]]) -> None:
    table = Table(title="Findings by category", box=box.SIMPLE, title_justify="left")
    table.add_column("category")
    for severity in _SEVERITIES:
        table.add_column(severity, justify="right")
    table.add_column("total", justify="right")
    counts: dict[str, dict[str, int]] = {}
    for f in findings:
        row = counts.setdefault(f["category"], {})
        row[f["severity"]] = row.get(f["severity"], 0) + 1
    for category, row in sorted(counts.items()):
        table.add_row(Text(category), *(str(row.get(s, 0)) for s in _SEVERITIES),
                      str(sum(row.values())))
    console.print(table)


def _where(loc: dict[str, Any]) -> str:
    """``path:line function``; no ``:0`` when the line is not known."""
    line = f":{loc['line']}" if loc.get("line") else ""
    return f"{loc['path']}{line} {loc['function']}"


def _top(console: Console, findings: list[dict[str, Any]], noun: str) -> None:
    shown = findings[:TOP]
    table = Table(title=f"Top {len(shown)} of {len(findings)} {noun}", box=box.SIMPLE,
                  title_justify="left")
    table.add_column("sev", no_wrap=True)
    table.add_column("count", justify="right", no_wrap=True)
    table.add_column("rule, location, message", ratio=1, overflow="fold")
    for f in shown:
        cell = Text(f["rule"], style="bold")
        cell.append(f"  {_where(f['location'])}\n")
        cell.append(f["message"])
        mark = f.get("baseline") or f.get("allowed")
        if mark:
            cell.append(f"\n{'baselined' if 'baseline' in f else 'allowed'}: {mark['reason']}")
        schedule = f.get("schedule")
        if schedule:
            cell.append(f"\nschedule {schedule['id']} ({schedule['strategy']}), seen in "
                        f"{schedule['seen_in']}, {schedule['controlled']:.0%} controlled: "
                        f"replay with --schedule {schedule['id']}")
        table.add_row(Text(f["severity"].upper()), str(f["count"]), cell)
    console.print(table)
    if len(findings) > TOP:
        console.print(Text(f"{len(findings) - TOP} more in the full report "
                           f"(--format json or html)."))


def _stale(console: Console, stale: list[dict[str, Any]]) -> None:
    console.print(Text(f"Baseline entries not seen ({len(stale)}): fixed, or not reached; "
                       f"remove them once fixed", style="bold"))
    for s in stale:
        console.print(Text(f"  {s['rule']}  {_where(s['location'])}  [{s['fingerprint']}] "
                           f"{s['reason']}"))


def _exploration(console: Console, runs: list[dict[str, Any]]) -> None:
    """Per explored run: schedules, decisions and how much of them the scheduler controlled."""
    explored = [r for r in runs if "explore" in r]
    if not explored:
        return
    console.print(Text("Exploration (controlled scheduler)", style="bold"))
    for run in explored:
        e = run["explore"]
        line = (f"  {run['id']}: {e['schedules']} schedule(s), {e['decisions']} decisions, "
                f"{e['controlled']:.1%} controlled, {e['distinct_decision_lists']} distinct")
        if e["stalls"]:
            line += f", {e['stalls']} thread(s) let loose after the bound"
        console.print(Text(line))
        if e["controlled"] < 1:
            console.print(Text("  not every decision was controlled: a replay may differ"
                               if e["controlled"] else
                               "  NOTHING WAS CONTROLLED: this exploration proves nothing"))
    console.print()


def _coverage(console: Console, coverage: dict[str, Any]) -> None:
    console.print(Text("Coverage (the auditor vouches only for what ran)", style="bold"))
    for key, entry in coverage.items():
        if isinstance(entry, dict) and "total" in entry:
            hit, total = int(entry.get("hit", 0)), int(entry.get("total", 0))
            name = _COVERAGE_NAMES.get(key, key.replace("_", " "))
            if entry.get("facts"):   # seen, not a share of what exists
                console.print(Text(f"  {name} seen: {hit}"))
                continue
            console.print(Text(f"  {name} {hit}/{total} ({_percent(hit, total)})"))
    missing = coverage.get("missing_hook_points") or []
    if missing:
        console.print(Text(f"  missing hook points ({len(missing)}): " + ", ".join(missing)))
    else:
        console.print(Text("  missing hook points: none"))


def render(report: Mapping, traces: "Sequence[Trace]" = ()) -> str:
    """The summary as plain text, 100 columns, no colour codes."""
    out = io.StringIO()
    console = Console(file=out, width=100, force_terminal=False, color_system=None,
                      highlight=False, emoji=False, markup=False)
    _header(console, report)
    console.print()
    findings = report.get("findings", [])
    new = [f for f in findings if counts(f)]
    known = [f for f in findings if not counts(f)]
    if findings:
        _by_category(console, findings)
        _top(console, new, "findings")
        if known:
            _top(console, known, "baselined or allowed findings (not counted toward --fail-on)")
    else:
        console.print(Text("No findings in what ran."))
    stale = report.get("baseline", {}).get("stale", [])
    if stale:
        _stale(console, stale)
    console.print()
    _exploration(console, report.get("runs", []))
    _coverage(console, report.get("coverage", {}))
    return out.getvalue()
