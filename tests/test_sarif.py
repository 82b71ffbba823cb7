"""SARIF output: valid SARIF 2.1.0, and ready for GitHub code scanning.

GitHub's documented ingestion requirements ("SARIF support for code scanning",
docs.github.com, and its limits table), each checked below by name:

  R1  ``$schema`` and ``version`` "2.1.0" present; at most 20 runs per file.
  R2  ``tool.driver.name`` and ``tool.driver.rules[]`` present.
  R3  every rule: ``id``; ``shortDescription.text`` and ``fullDescription.text``
      non-empty, at most 1024 characters; ``help.text`` non-empty (``help.markdown``
      recommended); ``name`` at most 255 characters.
  R4  ``properties.tags`` an array of strings, at most 20 per rule (10 displayed).
  R5  ``properties.security-severity`` a string holding a number in (0.0, 10.0].
  R6  ``properties.precision`` one of very-high, high, medium, low.
  R7  ``defaultConfiguration.level`` and result ``level`` one of note, warning, error.
  R8  every result: ``ruleId`` matching a rule, ``ruleIndex`` pointing at that rule.
  R9  every result: non-empty ``message.text``.
  R10 every result: 1 to 10 ``locations``, each with ``physicalLocation``.
  R11 ``artifactLocation.uri`` relative (no scheme, no leading /), so code scanning
      resolves it against the repository root; ``uriBaseId`` declared in
      ``originalUriBaseIds`` (an absolute ``uri`` there ends with /).
  R12 ``region.startLine`` >= 1 on every location.
  R13 ``partialFingerprints`` on every result, with ``primaryLocationLineHash``
      (the only fingerprint code scanning uses).
  R14 at most 25,000 results and 25,000 rules per run.
  R15 ``runAutomationDetails`` (``automationDetails.id``) a string when present.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from auditor.events import Site
from auditor.findings import Finding, Rule, Severity
from auditor.report import model, sarif

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())
RT = "nova/compute/resource_tracker.py"
DOCS = "https://docs.example.org/auditor"


def github_problems(log: dict) -> list[str]:
    """Violations of the code-scanning requirements R1-R15 (module docstring)."""
    out = []
    if log.get("$schema") is None or log.get("version") != "2.1.0":
        out.append("R1 $schema/version")
    if not 1 <= len(log.get("runs", [])) <= 20:
        out.append("R1 runs per file")
    for run in log["runs"]:
        driver = run["tool"]["driver"]
        rules = driver.get("rules")
        if not driver.get("name") or rules is None:
            out.append("R2 driver name/rules")
            rules = []
        if len(rules) > 25_000 or len(run["results"]) > 25_000:
            out.append("R14 limits")
        for rule in rules:
            rid = rule.get("id", "?")
            for key in ("shortDescription", "fullDescription"):
                text = rule.get(key, {}).get("text", "")
                if not text or len(text) > 1024:
                    out.append(f"R3 {rid} {key}")
            if not rule.get("help", {}).get("text") or not rule["help"].get("markdown"):
                out.append(f"R3 {rid} help")
            if len(rule.get("name", "")) > 255:
                out.append(f"R3 {rid} name")
            props = rule.get("properties", {})
            tags = props.get("tags")
            if not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)
                    and len(tags) <= 20):
                out.append(f"R4 {rid} tags")
            sev = props.get("security-severity")
            if not (isinstance(sev, str) and re.fullmatch(r"\d+(\.\d+)?", sev)
                    and 0.0 < float(sev) <= 10.0):
                out.append(f"R5 {rid} security-severity {sev!r}")
            if props.get("precision") not in ("very-high", "high", "medium", "low"):
                out.append(f"R6 {rid} precision")
            if rule.get("defaultConfiguration", {}).get("level") not in ("note", "warning",
                                                                         "error"):
                out.append(f"R7 {rid} level")
        bases = run.get("originalUriBaseIds", {})
        for name, base in bases.items():
            if "uri" in base and not base["uri"].endswith("/"):
                out.append(f"R11 base {name}")
        auto = run.get("automationDetails")
        if auto is not None and not isinstance(auto.get("id"), str):
            out.append("R15 automationDetails")
        for n, result in enumerate(run["results"]):
            index = result.get("ruleIndex")
            if (index is None or index >= len(rules)
                    or rules[index]["id"] != result.get("ruleId")):
                out.append(f"R8 result {n}")
            if result.get("level", "warning") not in ("note", "warning", "error"):
                out.append(f"R7 result {n}")
            if not result.get("message", {}).get("text"):
                out.append(f"R9 result {n}")
            locations = result.get("locations", [])
            if not 1 <= len(locations) <= 10:
                out.append(f"R10 result {n}")
            for location in locations:
                physical = location.get("physicalLocation")
                if physical is None:
                    out.append(f"R10 result {n}")
                    continue
                art = physical["artifactLocation"]
                if re.match(r"^[a-z][a-z0-9+.-]*:|^/", art["uri"]) or (
                        art.get("uriBaseId") not in bases):
                    out.append(f"R11 result {n} {art}")
                if physical.get("region", {}).get("startLine", 0) < 1:
                    out.append(f"R12 result {n}")
            if not result.get("partialFingerprints", {}).get("primaryLocationLineHash"):
                out.append(f"R13 result {n}")
    return out


def _report(*findings: Finding) -> dict:
    return model.build_report(findings=[model.finding_record(f) for f in findings], runs=[{"id": "r", "outcome": "passed",
                                                        "duration_s": 1.0}],
                              coverage={}, target={"nova": "34.0.0"}, events={},
                              tool_version="0.1.0")


LEAK = Rule("sensitive-log/canary", Severity.HIGH, "A secret value reaches log output")
HELD = Rule("lock-held/at-end", Severity.MEDIUM, "A lock is still held at the end of a run")


@pytest.fixture(scope="module", params=[jsonschema.Draft7Validator, jsonschema.Draft4Validator])
def validator(request):
    """The OASIS schema declares draft-04; it is checked with Draft 7 rules as well."""
    return request.param(SCHEMA)


class TestValidity:
    def test_real_run_is_valid_sarif(self, validator, run_report):
        """A real run's SARIF validates against the OASIS SARIF 2.1.0 schema."""
        log = sarif.to_sarif(run_report[1], source_root="file:///src/nova")
        assert sorted(map(str, validator.iter_errors(log))) == []

    def test_validation_is_not_vacuous(self, validator, run_report):
        """A broken log (unknown level, no message) fails the schema."""
        log = sarif.to_sarif(run_report[1])
        log["runs"][0]["results"][0]["level"] = "fatal"
        del log["runs"][0]["results"][0]["message"]
        assert len(list(validator.iter_errors(log))) >= 2

    def test_empty_report_is_valid(self, validator):
        """A report without findings is valid SARIF and meets GitHub's requirements."""
        log = sarif.to_sarif(_report())
        assert list(validator.iter_errors(log)) == [] and github_problems(log) == []


class TestCodeScanning:
    def test_real_run_meets_every_requirement(self, run_report):
        """R1-R15 hold for a real run's SARIF, whose findings span several rules."""
        log = sarif.to_sarif(run_report[1])
        assert len(log["runs"][0]["tool"]["driver"]["rules"]) >= 2
        assert github_problems(log) == []

    def test_checker_catches_each_violation(self, run_report):
        """The requirement checker is not vacuous: each planted violation is named."""
        log = sarif.to_sarif(run_report[1])
        run = log["runs"][0]
        rule, result = run["tool"]["driver"]["rules"][0], run["results"][0]
        rule["properties"]["security-severity"] = 8.0
        del rule["fullDescription"]
        result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] = "/abs/x.py"
        result["locations"][0]["physicalLocation"]["region"]["startLine"] = 0
        del result["partialFingerprints"]["primaryLocationLineHash"]
        found = {p.split()[0] for p in github_problems(log)}
        assert {"R3", "R5", "R11", "R12", "R13"} <= found

    def test_every_category_has_metadata(self):
        """Each category a check can emit has a description, and CWEs where one fits."""
        from auditor.checks import categories

        categories = set(categories())
        assert categories <= set(sarif.CATEGORIES)
        assert sarif.CATEGORIES["sensitive-log"][1] == "CWE-532"
        assert sarif.CATEGORIES["unheld-lock"][1] == "CWE-667"
        assert sarif.CATEGORIES["leaked-exception"][1] == "CWE-755"

    def test_rule_shape(self):
        """A rule: absolute helpUri under the docs URL, help text and markdown, tags with the
        category and CWE, security-severity from the severity."""
        log = sarif.to_sarif(_report(Finding(LEAK, "m", Site(RT, 7, "f"))), docs=DOCS)
        rule = log["runs"][0]["tool"]["driver"]["rules"][0]
        assert rule["helpUri"] == f"{DOCS}/rules.md#sensitive-log-canary"
        assert rule["fullDescription"]["text"].startswith("A secret value reaches log output.")
        assert "CWE-532" in rule["help"]["markdown"] and rule["helpUri"] in rule["help"]["text"]
        assert rule["properties"]["tags"][:2] == ["sensitive-log", "security"]
        assert "external/cwe/cwe-532" in rule["properties"]["tags"]
        assert rule["properties"]["security-severity"] == sarif.SECURITY_SEVERITY["high"]

    def test_default_docs_url_is_the_published_docs(self):
        """Without --docs-url, helpUri points into the project's Documentation URL."""
        uri = sarif.help_uri("lock-io/under-semaphore")
        assert uri.startswith("https://") and uri.endswith("/rules.md#lock-io-under-semaphore")

    def test_locations_relative_to_the_nova_source_root(self):
        """Paths are relative to NOVASRC; --source-root gives NOVASRC an absolute URI."""
        log = sarif.to_sarif(_report(Finding(LEAK, "m", Site(RT, 7, "f"))),
                             source_root="file:///home/dev/nova")
        run = log["runs"][0]
        assert run["originalUriBaseIds"]["NOVASRC"]["uri"] == "file:///home/dev/nova/"
        physical = run["results"][0]["locations"][0]["physicalLocation"]
        assert physical == {"artifactLocation": {"uri": RT, "uriBaseId": "NOVASRC"},
                            "region": {"startLine": 7}}

    def test_unknown_line_points_at_line_one(self):
        """A finding without a line (a whole run) still has a region, at line 1, and says so."""
        result = sarif.to_sarif(_report(Finding(HELD, "m", Site(RT, 0, "<end of run>"))))[
            "runs"][0]["results"][0]
        assert result["locations"][0]["physicalLocation"]["region"] == {"startLine": 1}
        assert result["properties"]["line"].startswith("unknown")

    def test_fingerprints_are_the_auditors(self):
        """partialFingerprints carry the stable, line-independent fingerprint."""
        moved = [Finding(LEAK, "m", Site(RT, line, "f"), key="k") for line in (7, 70)]
        fps = [sarif.to_sarif(_report(f))["runs"][0]["results"][0]["partialFingerprints"]
               for f in moved]
        assert fps[0] == fps[1] == {"auditor/v1": moved[0].fingerprint,
                                    "primaryLocationLineHash": f"{moved[0].fingerprint}:1"}

    def test_results_capped_at_the_limit(self, monkeypatch):
        """Over the results limit, the most severe are kept and the rest counted."""
        monkeypatch.setattr(sarif, "MAX_RESULTS", 2)
        report = _report(*[Finding(LEAK, "m", Site(RT, 1, f"f{i}")) for i in range(3)])
        run = sarif.to_sarif(report)["runs"][0]
        assert len(run["results"]) == 2 and run["properties"]["results_left_out"] == 1

    def test_baseline_state(self):
        """With a baseline applied, results say new or unchanged."""
        report = _report(Finding(LEAK, "m", Site(RT, 1, "a")), Finding(LEAK, "m", Site(RT, 1, "b")))
        report["baseline"] = {"path": "b.json", "new": 1, "baselined": 1, "stale": []}
        report["findings"][0]["baseline"] = {"reason": "known"}
        states = [r["baselineState"] for r in sarif.to_sarif(report)["runs"][0]["results"]]
        assert states == ["unchanged", "new"]
