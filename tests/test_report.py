"""Tests for the report model and its JSON, SARIF and text renderings."""

from __future__ import annotations

import json

import pytest

from auditor.events import Site
from auditor.findings import Finding, Rule, Severity
from auditor.report import json as json_format, model, text

RT = "nova/compute/resource_tracker.py"
LEAK = Rule("sensitive-log/canary", Severity.HIGH, "A secret value reaches log output")
LOCK = Rule("unheld-lock/write", Severity.MEDIUM, "Tracker state written without the lock")
SLOW = Rule("lock-hold/long", Severity.LOW, "Semaphore held for long")


def _finding(rule: Rule, *, path: str = RT, line: int = 100, function: str = "f",
             key: str = "", run: str = "r1", **evidence: str) -> Finding:
    return Finding(rule=rule, message=f"{rule.title} in {function}",
                   site=Site(path, line, function), evidence=evidence, key=key, run=run)


def _report(findings: list[Finding], **kwargs) -> dict:
    args = dict(
        findings=[model.finding_record(f) for f in findings],
        runs=[{"id": "r1", "outcome": "passed", "duration_s": 1.0},
              {"id": "r2", "outcome": "failed", "duration_s": 2.0}],
        coverage={"log_call_sites": {"total": 57, "hit": 41},
                  "synchronized_entry_points": {"ids_hit": ["a", "b"],
                                                "ids_missed": ["c"]},
                  "report_client_calls": {"total": 12, "hit": 12},
                  "missing_hook_points": []},
        target={"nova": "34.0.0", "concurrency": "threading"},
        events={"LogEvent": 10, "LockEvent": 4},
        tool_version="0.1.0")
    args.update(kwargs)
    return model.build_report(**args)


@pytest.fixture
def findings() -> list[Finding]:
    return [
        _finding(SLOW, path="nova/compute/manager.py", function="periodic"),
        _finding(LOCK, function="remove_node", key="compute_nodes", run="r1"),
        _finding(LEAK, path="nova/virt/ironic/driver.py", function="power_off",
                 key="ironic.x|message", run="r1", excerpt="first"),
        _finding(LEAK, path="nova/virt/ironic/driver.py", function="power_off",
                 key="ironic.x|message", run="r2", excerpt="second"),
        _finding(LEAK, path="nova/virt/ironic/driver.py", function="power_off",
                 key="ironic.x|message", run="r2", excerpt="third"),
    ]


class TestBuildReport:
    def test_has_exactly_the_designed_keys(self, findings):
        """Top-level, finding and coverage keys follow docs/report-schema.md (plus ``rules``)."""
        report = _report(findings)
        assert list(report) == ["schema", "tool", "target", "runs", "findings", "coverage",
                                "summary", "rules"]
        assert report["schema"] == "auditor.report/1"
        assert report["tool"] == {"name": "auditor", "version": "0.1.0"}
        assert set(report["findings"][0]) == {
            "rule", "category", "severity", "message", "location", "runs", "count",
            "evidence", "fingerprint"}
        assert set(report["summary"]) >= {"findings_by_category", "events"}

    def test_aggregates_by_fingerprint(self, findings):
        """Findings with one fingerprint merge: counted, runs united, first evidence kept."""
        leak = _report(findings)["findings"][0]
        assert leak["rule"] == "sensitive-log/canary" and leak["count"] == 3
        assert leak["runs"] == ["r1", "r2"]
        assert leak["evidence"] == {"excerpt": "first"}
        assert leak["location"] == {"path": "nova/virt/ironic/driver.py", "line": 100,
                                    "function": "power_off"}
        assert leak["fingerprint"] == findings[2].fingerprint

    def test_sorted_by_severity_category_path(self, findings):
        """High before medium before low, then category, then path."""
        extra = _finding(LEAK, path="nova/compute/claims.py", key="k")
        report = _report(findings + [extra])
        order = [(f["severity"], f["location"]["path"]) for f in report["findings"]]
        assert order == [("high", "nova/compute/claims.py"),
                         ("high", "nova/virt/ironic/driver.py"),
                         ("medium", RT), ("low", "nova/compute/manager.py")]

    def test_summary(self, findings):
        """The summary counts distinct findings per category and passes events through."""
        summary = _report(findings)["summary"]
        assert summary["findings_by_category"] == {
            "lock-hold": 1, "sensitive-log": 1, "unheld-lock": 1}
        assert summary["findings_by_severity"] == {"high": 1, "medium": 1, "low": 1}
        assert summary["events"] == {"LockEvent": 4, "LogEvent": 10}

    def test_coverage_ids_give_totals(self, findings):
        """Coverage with hit/missed id lists carries consistent total and hit counts."""
        coverage = _report(findings)["coverage"]
        assert coverage["synchronized_entry_points"] == {
            "ids_hit": ["a", "b"], "ids_missed": ["c"], "hit": 2, "total": 3}
        assert coverage["log_call_sites"] == {"total": 57, "hit": 41}
        assert coverage["missing_hook_points"] == []

    def test_rules_catalogue(self, findings):
        """Each rule seen is described once under ``rules``."""
        rules = _report(findings)["rules"]
        assert rules["sensitive-log/canary"]["title"] == LEAK.title
        assert len(rules) == 3

    def test_empty(self):
        """A run without findings is still a complete report."""
        report = _report([])
        assert report["findings"] == [] and report["summary"]["findings_by_category"] == {}


class TestMergeReports:
    def test_unites_runs_findings_and_coverage(self, findings):
        """Merging sums counts, unites runs and hit ids, and marks both concurrency modes."""
        a = _report(findings[:3])
        b = _report(findings[3:], runs=[{"id": "r3", "outcome": "error", "duration_s": 1}],
                    coverage={"synchronized_entry_points": {"ids_hit": ["c"],
                                                            "ids_missed": ["a", "b"]},
                              "log_call_sites": {"total": 57, "hit": 30},
                              "missing_hook_points": ["nova.x.y"]},
                    target={"nova": "34.0.0", "concurrency": "eventlet"})
        merged = model.merge_reports([a, b])
        assert [r["id"] for r in merged["runs"]] == ["r1", "r2", "r3"]
        leak = merged["findings"][0]
        assert leak["count"] == 3 and leak["runs"] == ["r1", "r2"]
        assert len(merged["findings"]) == 3
        cov = merged["coverage"]
        assert (cov["synchronized_entry_points"]["hit"],
                cov["synchronized_entry_points"]["total"]) == (3, 3)
        assert cov["log_call_sites"] == {"total": 57, "hit": 41}
        assert cov["missing_hook_points"] == ["nova.x.y"]
        assert merged["target"] == {"nova": "34.0.0", "concurrency": "threading+eventlet"}
        assert merged["summary"]["events"] == {"LockEvent": 8, "LogEvent": 20}

    def test_same_run_keeps_worst_outcome(self):
        """A run id seen twice keeps its worst outcome."""
        a = _report([], runs=[{"id": "t", "outcome": "passed", "duration_s": 1}])
        b = _report([], runs=[{"id": "t", "outcome": "failed", "duration_s": 1}])
        assert model.merge_reports([a, b])["runs"] == [
            {"id": "t", "outcome": "failed", "duration_s": 1}]

    def test_rejects_other_schemas_and_nothing(self):
        """Merging nothing, or a report of another schema, is a ReportError."""
        with pytest.raises(model.ReportError):
            model.merge_reports([])
        with pytest.raises(model.ReportError, match="schema"):
            model.merge_reports([{"schema": "other/1"}])

    def test_merge_is_stable_under_json_round_trip(self, findings):
        """A merged report of one report equals that report."""
        report = _report(findings)
        assert model.merge_reports([json.loads(json_format.render(report))]) == report


class TestLoadReport:
    def test_round_trip(self, tmp_path, findings):
        """A rendered JSON report loads back unchanged."""
        report = _report(findings)
        path = tmp_path / "r.json"
        path.write_text(json_format.render(report))
        assert model.load_report(path) == report

    @pytest.mark.parametrize("content, message", [
        ("{not json", "is not JSON"),
        ('{"schema": "sarif"}', "is not an auditor.report/1 report"),
        ("[]", "is not an auditor.report/1 report"),
        ('{"schema": "auditor.report/1"}',
         "does not match the auditor.report/1 schema at top level: 'tool' is a required"),
    ])
    def test_bad_files(self, tmp_path, content, message):
        """Files that are not reports give one clear ReportError line."""
        path = tmp_path / "r.json"
        path.write_text(content)
        with pytest.raises(model.ReportError, match=message) as err:
            model.load_report(path)
        assert "\n" not in str(err.value)

    def test_missing_file(self, tmp_path):
        """A missing file is a ReportError, not an OSError."""
        with pytest.raises(model.ReportError, match="cannot read"):
            model.load_report(tmp_path / "absent.json")


class TestJsonReport:
    def test_pretty_and_ordered(self, findings):
        """The JSON text is indented, newline-terminated and keeps the report's key order."""
        out = json_format.render(_report(findings))
        assert out.endswith("}\n") and out.startswith('{\n  "schema": "auditor.report/1"')
        assert list(json.loads(out)) == list(_report(findings))


class TestText:
    def test_summary(self, findings):
        """The text names target and runs, tabulates categories, lists findings, coverage."""
        out = text.render(_report(findings))
        assert "nova 34.0.0" in out and "threading" in out
        assert "runs: 2 (1 failed, 1 passed)" in out
        assert "Findings by category" in out and "sensitive-log" in out
        assert "nova/virt/ironic/driver.py:100 power_off" in out
        assert "log call sites 41/57 (72%)" in out
        assert "synchronized entry points 2/3 (67%)" in out
        assert "report client calls 12/12 (100%)" in out
        assert "missing hook points: none" in out

    def test_plain_and_narrow(self, findings):
        """No colour codes, no line wider than 100 columns."""
        out = text.render(_report(findings))
        assert "\x1b[" not in out
        assert max(len(line) for line in out.splitlines()) <= 100

    def test_top_fifteen(self):
        """Only the first 15 findings are listed, and the total is stated."""
        many = [_finding(LOCK, function=f"fn{i:02}", key=str(i)) for i in range(20)]
        out = text.render(_report(many))
        assert "Top 15 of 20 findings" in out
        assert out.count("Tracker state written without the lock in fn") == 15

    def test_no_findings(self):
        """An empty report says so and still shows coverage."""
        out = text.render(_report([]))
        assert "No findings in what ran." in out and "log call sites" in out

    def test_markup_in_messages_is_printed_literally(self):
        """Brackets in messages (redaction labels) are not taken as rich markup."""
        finding = Finding(rule=LEAK, message="x [SECRET:a.b] [bold]y[/bold]",
                          site=Site(RT, 1, "f"))
        assert "[SECRET:a.b] [bold]y[/bold]" in text.render(_report([finding]))

    def test_percent_is_honest(self):
        """Coverage never rounds up to 100% nor down to 0% when that is not true."""
        out = text.render(_report([], coverage={"log_call_sites": {"total": 1000,
                                                                   "hit": 999},
                                               "report_client_calls": {"total": 1000,
                                                                       "hit": 1}}))
        assert "999/1000 (99%)" in out and "1/1000 (1%)" in out


class TestRuleCatalogue:
    def test_docs_rules_md_is_current(self):
        """docs/rules.md matches the checks' registry (python -m auditor.checks.catalogue)."""
        from pathlib import Path

        from auditor.checks.catalogue import render

        path = Path(__file__).resolve().parent.parent / "docs" / "rules.md"
        assert path.read_text() == render()

    def test_every_rule_has_an_anchor_for_sarif_help_uri(self):
        """Each rule id (auditor-error/internal too) has the anchor its SARIF helpUri names."""
        from auditor.checks.catalogue import render
        from auditor.checks.registry import rules
        from auditor.report.sarif import help_uri

        text = render()
        assert "auditor-error/internal" in {rule.id for rule in rules()}
        for rule in rules():
            assert f'<a id="{help_uri(rule.id).split("#")[1]}"></a>' in text


class TestTextGate:
    def test_rest_and_unknown_lines(self):
        """More than the top: says where the rest are; a line 0 is not printed as ':0'."""
        many = [_finding(LOCK, function=f"fn{i:02}", key=str(i), line=0) for i in range(17)]
        out = text.render(_report(many))
        assert "2 more in the full report" in out
        assert f"{RT}:0" not in out and f"{RT} fn00" in out

    def test_baselined_listed_separately_with_stale(self, findings):
        """Baselined findings get their own table with reasons; stale entries are listed."""
        from auditor.report import baseline

        report = _report(findings)
        base = baseline.create([report], reason="known since 2026")
        base["findings"] = base["findings"][:1] + [dict(base["findings"][0],
                                                        fingerprint="0" * 16)]
        out = text.render(baseline.apply(report, base, "b.json"))
        assert "Top 2 of 2 findings" in out
        assert "Top 1 of 1 baselined or allowed findings" in out
        assert "baselined: known since 2026" in out
        assert "Baseline entries not seen (1)" in out and "0" * 16 in out
