"""SARIF 2.1.0 output: the report's findings for code-scanning tools."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from auditor.checks.catalogue import anchor

if TYPE_CHECKING:  # pragma: no cover
    from auditor.tracing.trace_file import Trace

__all__ = ["render", "to_sarif", "SARIF_SCHEMA_URI", "help_uri"]

SARIF_SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"high": "error", "medium": "warning", "low": "note"}
_BASE = "SITE_PACKAGES"


def help_uri(rule_id: str) -> str:
    """Where a rule's catalogue entry lives in the docs."""
    return f"docs/rules.md#{anchor(rule_id)}"


def _rule(rule_id: str, meta: dict[str, Any]) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": rule_id,
        "name": rule_id.replace("/", "-"),
        "shortDescription": {"text": meta.get("title") or rule_id},
        "helpUri": help_uri(rule_id),
        "defaultConfiguration": {"level": _LEVEL.get(meta.get("severity", ""), "warning")},
        "properties": {"category": rule_id.split("/", 1)[0]},
    }
    if meta.get("help"):
        rule["fullDescription"] = {"text": meta["help"]}
    return rule


def _result(finding: dict[str, Any], index: int) -> dict[str, Any]:
    loc = finding["location"]
    physical: dict[str, Any] = {"artifactLocation": {"uri": loc["path"], "uriBaseId": _BASE}}
    if int(loc.get("line") or 0) >= 1:
        physical["region"] = {"startLine": int(loc["line"])}
    location: dict[str, Any] = {"physicalLocation": physical}
    if loc.get("function"):
        location["logicalLocations"] = [{"name": loc["function"], "kind": "function"}]
    return {
        "ruleId": finding["rule"],
        "ruleIndex": index,
        "level": _LEVEL.get(finding["severity"], "warning"),
        "message": {"text": finding["message"]},
        "locations": [location],
        "partialFingerprints": {"auditor/v1": finding["fingerprint"]},
        "properties": {
            "category": finding["category"],
            "count": finding["count"],
            "runs": list(finding["runs"]),
            "evidence": dict(finding["evidence"]),
        },
    }


def to_sarif(report: dict) -> dict[str, Any]:
    """The SARIF log (one run) for ``report``; each rule is described once."""
    catalogue = report.get("rules", {})
    rule_ids: list[str] = []
    for finding in report["findings"]:
        if finding["rule"] not in rule_ids:
            rule_ids.append(finding["rule"])
    index = {rule_id: i for i, rule_id in enumerate(rule_ids)}
    run: dict[str, Any] = {
        "tool": {"driver": {
            "name": "nova-rt-auditor",
            "version": str(report.get("tool", {}).get("version", "")) or "unknown",
            "rules": [_rule(r, catalogue.get(r, {})) for r in rule_ids],
        }},
        "originalUriBaseIds": {_BASE: {"description": {
            "text": "The site-packages directory holding the audited nova package."}}},
        "results": [_result(f, index[f["rule"]]) for f in report["findings"]],
        "properties": {
            "target": dict(report.get("target", {})),
            "runs": len(report.get("runs", [])),
            "coverage": {k: {kk: vv for kk, vv in v.items() if kk in ("total", "hit")}
                         if isinstance(v, dict) else v
                         for k, v in report.get("coverage", {}).items()},
        },
    }
    return {"$schema": SARIF_SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def render(report: Mapping, traces: "Sequence[Trace]" = ()) -> str:
    """The report as SARIF 2.1.0 JSON text."""
    return json.dumps(to_sarif(report), indent=2, ensure_ascii=False) + "\n"
