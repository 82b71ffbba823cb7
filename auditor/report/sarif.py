"""SARIF 2.1.0 output for code-scanning tools (GitHub code scanning's subset included).

Locations are relative to ``NOVASRC``, the directory holding the ``nova``
package: a nova checkout's root, so an upload against nova's repository links
to lines (``source_root`` sets its absolute URI when known). Rules link to the
published rule catalogue (``docs_url``). tests/test_sarif.py lists the
ingestion requirements checked.
"""

from __future__ import annotations

import json
from importlib import metadata
from typing import Any, Sequence

from auditor.checks.catalogue import anchor

__all__ = ["render", "to_sarif", "SARIF_SCHEMA_URI", "SOURCE_BASE", "CATEGORIES",
           "SECURITY_SEVERITY", "MAX_RESULTS", "docs_url", "help_uri"]

SARIF_SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SOURCE_BASE = "NOVASRC"
#: GitHub code scanning rejects a run with more results than this.
MAX_RESULTS = 25_000
_TEXT_LIMIT = 1024   # GitHub: shortDescription and fullDescription
_LEVEL = {"high": "error", "medium": "warning", "low": "note"}
#: GitHub ranks security alerts by this score (a string, 0.1-10): high 7.0-8.9, medium 4.0-6.9.
SECURITY_SEVERITY = {"high": "8.0", "medium": "5.5", "low": "3.0"}

#: Per category: what it means (the rule's description when it has no help of its own),
#: the CWE that fits, and tags for filtering.
CATEGORIES: dict[str, tuple[str, str | None, tuple[str, ...]]] = {
    "sensitive-log": ("A secret (a planted canary, a secret=True config value or a "
                      "secret-shaped value) reached a log record nova emitted.",
                      "CWE-532", ("security", "logging")),
    "unheld-lock": ("Tracker state guarded by the compute_resources semaphore was touched "
                    "without holding it.", "CWE-667", ("security", "concurrency", "locking")),
    "lock-order": ("Locks were taken in orders that form a cycle: a possible deadlock.",
                   "CWE-667", ("security", "concurrency", "locking")),
    "lock-held": ("A lock was still held when its entry point or the run ended.",
                  "CWE-667", ("security", "concurrency", "locking")),
    "lock-io": ("A placement or Ironic call was made while the compute_resources semaphore "
                "was held, so every claim waits for the network.", "CWE-667",
                ("security", "concurrency", "locking", "external-call")),
    "lock-wait": ("Callers waited long for the compute_resources semaphore.", "CWE-667",
                  ("security", "concurrency", "locking")),
    "leaked-exception": ("An exception escaped a tracker entry point unexpectedly, carried "
                         "a secret, or left state changed after a failure.", "CWE-755",
                         ("security", "error-handling")),
    "input-validation": ("Malformed Ironic node data or claim input crashed the tracker or "
                         "corrupted its accounting instead of being rejected.", "CWE-20",
                         ("security", "input-validation")),
    "accounting": ("The tracker, placement and Ironic disagree about resources: double "
                   "claims, lost or duplicated records, usage that does not add up.", None,
                   ("correctness", "accounting")),
    "hard-coded": ("A secret-shaped literal or a credential-named constant is in the code "
                   "nova loaded (the tracker, the Ironic driver, the report client), or a "
                   "credential it sent is held by no configuration.",
                   "CWE-798", ("security", "hard-coded-credentials")),
    "external-call": ("A peer (placement, Ironic, the database, the message bus) was reached "
                      "with credentials in cleartext to another host, without TLS peer "
                      "verification, or with no timeout under the compute_resources "
                      "semaphore.", "CWE-319", ("security", "external-call", "tls")),
    "auditor-error": ("The auditor itself failed while judging; the audited code was not "
                      "affected.", None, ("auditor",)),
}


def docs_url() -> str:
    """The published docs (the ``Documentation`` project URL of this distribution)."""
    for entry in metadata.metadata("nova-rt-auditor").get_all("Project-URL") or ():
        label, _, url = entry.partition(",")
        if label.strip().lower() == "documentation":
            return url.strip().rstrip("/")
    raise LookupError("nova-rt-auditor has no Documentation project URL")


def help_uri(rule_id: str, base: str | None = None) -> str:
    """The rule's catalogue entry: ``<docs>/rules.md#<category>-<name>``."""
    return f"{(base or docs_url()).rstrip('/')}/rules.md#{anchor(rule_id)}"


def _clip(text: str) -> str:
    return text if len(text) <= _TEXT_LIMIT else text[: _TEXT_LIMIT - 1] + "…"


def _rule(rule_id: str, meta: dict[str, Any], base: str) -> dict[str, Any]:
    category = rule_id.split("/", 1)[0]
    about, cwe, tags = CATEGORIES.get(category, ("", None, ()))
    title = (meta.get("title") or rule_id).rstrip(".")
    body = meta.get("help") or about
    uri = help_uri(rule_id, base)
    severity = meta.get("severity", "medium")
    cwe_tags = (f"external/cwe/{cwe.lower()}",) if cwe else ()
    return {
        "id": rule_id,
        "name": rule_id.replace("/", "-"),
        "shortDescription": {"text": _clip(title)},
        "fullDescription": {"text": _clip(f"{title}. {body}".strip())},
        "help": {"text": f"{title}. {body}\nSee {uri}",
                 "markdown": f"**{title}**\n\n{body}\n\n"
                             + (f"Weakness: {cwe}. " if cwe else "")
                             + f"[Rule catalogue entry]({uri})"},
        "helpUri": uri,
        "defaultConfiguration": {"level": _LEVEL.get(severity, "warning")},
        "properties": {"category": category,
                       "tags": list(dict.fromkeys((category, *tags, *cwe_tags))),
                       "precision": "high",
                       "security-severity": SECURITY_SEVERITY.get(severity, "5.5")},
    }


def _result(finding: dict[str, Any], index: int, baselined: bool | None) -> dict[str, Any]:
    loc = finding["location"]
    line = int(loc.get("line") or 0)
    physical = {"artifactLocation": {"uri": loc["path"], "uriBaseId": SOURCE_BASE},
                "region": {"startLine": max(line, 1)}}
    location: dict[str, Any] = {"physicalLocation": physical}
    if loc.get("function"):
        location["logicalLocations"] = [{"name": loc["function"], "kind": "function"}]
    fp = finding["fingerprint"]
    result: dict[str, Any] = {
        "ruleId": finding["rule"],
        "ruleIndex": index,
        "level": _LEVEL.get(finding["severity"], "warning"),
        "message": {"text": finding["message"] or finding["rule"]},
        "locations": [location],
        # GitHub matches alerts across uploads by primaryLocationLineHash only; the auditor's
        # fingerprint is line-independent, so an alert survives nova's lines moving.
        "partialFingerprints": {"auditor/v1": fp, "primaryLocationLineHash": f"{fp}:1"},
        "properties": {
            "category": finding["category"],
            "count": finding["count"],
            "runs": list(finding["runs"]),
            "evidence": dict(finding["evidence"]),
        },
    }
    if line < 1:
        result["properties"]["line"] = "unknown: the finding is about the function or run"
    if baselined is not None:
        result["baselineState"] = "unchanged" if baselined else "new"
    return result


def to_sarif(report: dict, *, docs: str | None = None,
             source_root: str | None = None) -> dict[str, Any]:
    """The SARIF log (one run) for ``report``; each rule is described once.

    ``docs``: base URL of the rule catalogue (default: the published docs);
    ``source_root``: absolute URI of the directory holding ``nova/`` (optional).
    """
    base = (docs or docs_url()).rstrip("/")
    findings = report["findings"][:MAX_RESULTS]   # sorted: the most severe are kept
    catalogue = report.get("rules", {})
    index = {rule_id: i for i, rule_id in enumerate(dict.fromkeys(f["rule"] for f in findings))}
    with_baseline = "baseline" in report
    root: dict[str, Any] = {"description": {"text": "The directory holding the audited nova "
                                                    "package: a nova checkout's root."}}
    if source_root:
        root["uri"] = source_root.rstrip("/") + "/"
    version = str(report.get("tool", {}).get("version", "")) or "unknown"
    run: dict[str, Any] = {
        "tool": {"driver": {
            "name": "nova-rt-auditor",
            "version": version,
            "semanticVersion": version,
            "informationUri": base,
            "rules": [_rule(r, catalogue.get(r, {}), base) for r in index],
        }},
        "automationDetails": {"id": "nova-rt-auditor/"},
        "originalUriBaseIds": {SOURCE_BASE: root},
        "results": [_result(f, index[f["rule"]], "baseline" in f if with_baseline else None)
                    for f in findings],
        "properties": {
            "target": dict(report.get("target", {})),
            "runs": len(report.get("runs", [])),
            "coverage": {k: {kk: vv for kk, vv in v.items() if kk in ("total", "hit")}
                         if isinstance(v, dict) else v
                         for k, v in report.get("coverage", {}).items()},
        },
    }
    if len(report["findings"]) > MAX_RESULTS:
        run["properties"]["results_left_out"] = len(report["findings"]) - MAX_RESULTS
    return {"$schema": SARIF_SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def render(report: dict, traces: Sequence[Any] = (), *, docs: str | None = None,
           source_root: str | None = None) -> str:
    """The report as SARIF 2.1.0 JSON text (``traces`` unused; options as for ``to_sarif``)."""
    return json.dumps(to_sarif(report, docs=docs, source_root=source_root), indent=2,
                      ensure_ascii=False) + "\n"
