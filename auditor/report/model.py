"""The JSON report (schema ``auditor.report/1``): build from findings, merge, load, judge.

A finding enters a report as a *finding record* (``finding_record``: the flat
dict a trace file also stores); ``build_report`` aggregates records by
fingerprint, whoever produced them (a live session or a trace file).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Mapping

from auditor.explore import parts
from auditor.findings import Finding, Severity, at_or_above, severity_order
from auditor.nova.runtime import MODES
from auditor.report.gate import counts

__all__ = ["SCHEMA", "finding_record", "build_report", "merge_reports", "load_report",
           "read_json", "parse_report", "failing", "ReportError"]

SCHEMA = "auditor.report/1"
_OUTCOME_RANK = {"passed": 0, "skipped": 0, "interrupted": 1, "failed": 1, "error": 2}


class ReportError(ValueError):
    """A file that is not an ``auditor.report/1`` report."""


def _sort_key(f: Mapping[str, Any]) -> tuple:
    loc = f["location"]
    return (severity_order(f["severity"]), f["category"], loc["path"], loc["line"],
            f["rule"], f["fingerprint"])


def _finalize(report: dict[str, Any]) -> dict[str, Any]:
    """Sort findings and recompute the summary's finding counts."""
    report["findings"].sort(key=_sort_key)
    by_category: dict[str, int] = {}
    by_severity: dict[str, int] = {}
    for f in report["findings"]:
        by_category[f["category"]] = by_category.get(f["category"], 0) + 1
        by_severity[f["severity"]] = by_severity.get(f["severity"], 0) + 1
    report["summary"]["findings_by_category"] = dict(sorted(by_category.items()))
    report["summary"]["findings_by_severity"] = {
        s.value: by_severity[s.value] for s in Severity if s.value in by_severity}
    return report


def _coverage(coverage: Mapping[str, Any]) -> dict[str, Any]:
    """Copy coverage; entries with ``ids_hit``/``ids_missed`` get consistent totals."""
    out: dict[str, Any] = {}
    for name, entry in coverage.items():
        if isinstance(entry, Mapping):
            entry = dict(entry)
            if "ids_hit" in entry or "ids_missed" in entry:
                hit = sorted(set(entry.get("ids_hit", ())))
                missed = sorted(set(entry.get("ids_missed", ())) - set(hit))
                total = (len(hit) + len(missed) if "ids_missed" in entry
                         else max(int(entry.get("total", 0)), len(hit)))
                entry.update(ids_hit=hit, ids_missed=missed, hit=len(hit), total=total)
            out[name] = entry
        elif isinstance(entry, (list, tuple, set)):
            out[name] = sorted(set(entry)) if name == "missing_hook_points" else list(entry)
        else:
            out[name] = entry
    out.setdefault("missing_hook_points", [])
    return out


def finding_record(finding: Finding) -> dict[str, Any]:
    """The flat record of one finding (what a trace file's ``finding`` line holds)."""
    site = finding.site
    return {"rule": finding.rule.id, "category": finding.category,
            "severity": finding.severity.value, "title": finding.rule.title,
            "help": finding.rule.help, "message": finding.message,
            "location": {"path": site.path, "line": site.line, "function": site.function},
            "evidence": {str(k): str(v) for k, v in finding.evidence.items()},
            "fingerprint": finding.fingerprint, "run": finding.run}


def build_report(*, findings: Iterable[Mapping[str, Any]], runs: list[dict], coverage: dict,
                 target: dict, events: Mapping[str, int], tool_version: str) -> dict:
    """The report of one audit from finding records (``finding_record``): aggregated by
    fingerprint, sorted by severity, category and path; ``rules`` (an extra key) holds
    the catalogue entry of each rule seen.
    """
    merged: dict[str, dict[str, Any]] = {}
    rules: dict[str, dict[str, str]] = {}
    for record in findings:
        fp = record.get("fingerprint", "")
        entry = merged.get(fp)
        if entry is None:
            loc = record.get("location", {})
            merged[fp] = entry = {
                "rule": record["rule"],
                "category": record["category"],
                "severity": record["severity"],
                "message": record.get("message", ""),
                "location": {"path": loc.get("path", "?"), "line": loc.get("line", 0),
                             "function": loc.get("function", "?")},
                "runs": [],
                "count": 0,
                "evidence": {str(k): str(v) for k, v in record.get("evidence", {}).items()},
                "fingerprint": fp,
            }
            rules.setdefault(record["rule"], {
                "title": record.get("title", ""), "severity": record["severity"],
                "help": record.get("help", "")})
        entry["count"] += 1
        run = record.get("run")
        if run and run not in entry["runs"]:
            entry["runs"].append(run)
    report = {
        "schema": SCHEMA,
        "tool": {"name": "auditor", "version": tool_version},
        "target": dict(target),
        "runs": [dict(r) for r in runs],
        "findings": list(merged.values()),
        "coverage": _coverage(coverage),
        "summary": {"findings_by_category": {},
                    "events": {str(k): int(v) for k, v in sorted(events.items())}},
        "rules": dict(sorted(rules.items())),
    }
    return _finalize(report)


def failing(report: Mapping[str, Any] | None, fail_on: str) -> list[Mapping[str, Any]]:
    """The report's counting findings (not baselined or allowed) at or above ``fail_on``
    (``never``: none)."""
    if not report:
        return []
    return [f for f in report["findings"] if counts(f) and at_or_above(f["severity"], fail_on)]


def _merge_target(targets: list[Mapping[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for target in targets:
        for key, value in target.items():
            if key == "concurrency":
                continue
            if key not in out:
                out[key] = value
            elif out[key] != value and str(value) not in str(out[key]).split(", "):
                out[key] = f"{out[key]}, {value}"
    modes = {m for t in targets for m in str(t.get("concurrency", "")).split("+") if m}
    if modes:
        ordered = [m for m in MODES if m in modes] + sorted(modes - set(MODES))
        out["concurrency"] = "+".join(ordered)
    return out


def _merge_coverage(coverages: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Union of hit ids where reports carry them; otherwise the best single report."""
    out: dict[str, Any] = {}
    for cov in coverages:
        for name, entry in cov.items():
            if name not in out:
                out[name] = json.loads(json.dumps(entry))
                continue
            have = out[name]
            if isinstance(entry, Mapping) and isinstance(have, dict):
                if "ids_hit" in have and "ids_hit" in entry:
                    have["ids_hit"] = sorted(set(have["ids_hit"]) | set(entry["ids_hit"]))
                    have["ids_missed"] = sorted(set(have.get("ids_missed", ()))
                                                | set(entry.get("ids_missed", ())))
                else:  # no ids: the union is unknown; keep the best lower bound
                    have["total"] = max(have.get("total", 0), entry.get("total", 0))
                    have["hit"] = max(have.get("hit", 0), entry.get("hit", 0))
            elif isinstance(entry, list) and isinstance(have, list):
                have.extend(x for x in entry if x not in have)
    return _coverage(out)


def _identity(run: Mapping[str, Any]) -> str:
    return json.dumps(run, sort_keys=True, default=str)


def _distinct(reports: list[dict]) -> Iterable[dict]:
    """``reports`` without those already merged: a report all of whose runs (whole run
    entries: id, outcome, duration...) came before adds nothing; one without runs is
    known by its content."""
    seen: set[str] = set()
    for report in reports:
        keys = [k for r in report["runs"] for k in parts.schedule_keys(r) or [_identity(r)]] \
            or [_identity(report)]
        if all(k in seen for k in keys):
            continue
        seen.update(keys)
        yield report


def merge_reports(reports: list[dict]) -> dict:
    """One report from several (xdist workers, concurrency modes, traces, the parts of one
    exploration: ``explore.parts``): runs and findings united (counts summed, run ids
    united), coverage hit ids united. Idempotent: a report merged again (the same file
    twice, or a part of a merged report) adds nothing.
    """
    if not reports:
        raise ReportError("no reports to merge")
    for r in reports:
        if r.get("schema") != SCHEMA:
            raise ReportError(f"cannot merge a report with schema {r.get('schema')!r}")
    runs: dict[str, dict[str, Any]] = {}
    findings: dict[str, dict[str, Any]] = {}
    rules: dict[str, Any] = {}
    events: dict[str, int] = {}
    for report in _distinct(reports):
        for run in report["runs"]:
            have = runs.get(run["id"])
            if have is None:
                runs[run["id"]] = json.loads(json.dumps(run))
                continue
            if "explore" in have and "explore" in run:   # parts of one exploration
                parts.merge_run(have, run)
            if _OUTCOME_RANK.get(run.get("outcome"), 0) > _OUTCOME_RANK.get(
                    have.get("outcome"), 0):
                have["outcome"] = run["outcome"]
        for f in report["findings"]:
            have = findings.get(f["fingerprint"])
            if have is None:
                findings[f["fingerprint"]] = json.loads(json.dumps(f))
                continue
            if "schedule" in have and "schedule" in f:
                parts.merge_finding(have, f)
                continue
            have["count"] += f["count"]
            have["runs"] += [r for r in f["runs"] if r not in have["runs"]]
        for rule_id, rule in report.get("rules", {}).items():
            rules.setdefault(rule_id, rule)
        for name, n in report["summary"].get("events", {}).items():
            events[name] = events.get(name, 0) + n
    first = reports[0]
    merged = {
        "schema": SCHEMA,
        "tool": dict(first["tool"]),
        "target": _merge_target([r.get("target", {}) for r in reports]),
        "runs": list(runs.values()),
        "findings": list(findings.values()),
        "coverage": _merge_coverage([r.get("coverage", {}) for r in reports]),
        "summary": {"findings_by_category": {}, "events": dict(sorted(events.items()))},
        "rules": dict(sorted(rules.items())),
    }
    return _finalize(merged)


def read_json(path: Path, error: type[ValueError], what: str, hint: str) -> Any:
    """The JSON in ``path``; ``error`` (one line naming the file, and ``hint``) if it cannot
    be read or parsed."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise error(f"{path} is not JSON ({exc}); {hint}") from None


def load_report(path: str | Path) -> dict:
    """Read a report file; ``ReportError`` (one line: what and how to fix) if it is not one.
    (``auditor report`` reads through ``report.inputs``, which checks the file first.)"""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ReportError(f"cannot read report {path}: {exc.strerror or exc}") from None
    return parse_report(data, str(path))


def parse_report(data: bytes | str, path: str) -> dict:
    """The report in ``data`` (read from ``path``), checked against the shipped JSON Schema of
    ``auditor.report/1``; ``ReportError`` (one line) if it is not JSON or does not match."""
    from auditor.report import schema, validate

    try:
        report = json.loads(data)
    except ValueError as exc:
        raise ReportError(f"{path} is not JSON ({exc}); pass a report written with "
                          f"--format json") from None
    if not isinstance(report, dict) or report.get("schema") != SCHEMA:
        found = report.get("schema") if isinstance(report, dict) else type(report).__name__
        raise ReportError(f"{path} is not an {SCHEMA} report (schema: {found!r}); "
                          f"pass a report written with --format json")
    problem = validate.problem(report, schema.REPORT)
    if problem:
        raise ReportError(f"{path} does not match the {SCHEMA} schema at {problem}")
    return report
