"""The shipped JSON Schemas: what the code writes validates; what it must not write does not."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from auditor.report import model, schema

PY = sys.executable


def _validator(name: str) -> jsonschema.Draft202012Validator:
    doc = schema.load(name)
    jsonschema.Draft202012Validator.check_schema(doc)
    return jsonschema.Draft202012Validator(doc, format_checker=jsonschema.FormatChecker())


def _errors(validator, doc) -> list[str]:
    return sorted(f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc))


@pytest.fixture(scope="module")
def report_schema():
    return _validator(schema.REPORT)


@pytest.fixture(scope="module")
def line_schema():
    return _validator(schema.TRACE_LINE)


class TestReportSchema:
    def test_run_report_validates(self, report_schema, run_report):
        """A real ``auditor run`` report (findings, runs with stats, coverage ids) is valid."""
        assert _errors(report_schema, run_report[1]) == []

    def test_trace_report_and_merge_validate(self, report_schema, drive_traces):
        """The report read from real traces, and the merge of it with a run report, are valid."""
        proc = subprocess.run([PY, "-m", "auditor.cli", "report", "--format", "json", "--fail-on", "never",
                               *map(str, drive_traces)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        from_trace = json.loads(proc.stdout)
        assert from_trace["findings"] and from_trace["runs"][0]["log_capture"] == "emitted"
        assert _errors(report_schema, from_trace) == []

    def test_merged_report_validates(self, report_schema, run_report):
        """Merging reports (counts summed, targets joined) keeps them valid."""
        other = json.loads(json.dumps(run_report[1]))
        other["target"]["concurrency"] = "eventlet"
        assert _errors(report_schema, model.merge_reports([run_report[1], other])) == []

    @pytest.mark.parametrize("path, value", [
        (("schema",), "auditor.report/2"),
        (("findings", 0, "severity"), "critical"),
        (("findings", 0, "location", "line"), -1),
        (("findings", 0, "fingerprint"), "not-a-fingerprint"),
        (("findings", 0, "count"), 0),
        (("findings", 0, "evidence"), {"n": 3}),
        (("runs", 0, "outcome"), "crashed"),
        (("runs", 0, "determinism"), 7),
        (("summary", "events", "LogEvent"), "many"),
    ])
    def test_wrong_content_is_refused(self, report_schema, run_report, path, value):
        """Each kind of wrong content the schema is there to catch is caught."""
        doc = json.loads(json.dumps(run_report[1]))
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        assert _errors(report_schema, doc)

    def test_interrupted_run_and_determinism_validate(self, report_schema, run_report):
        """``auditor run``'s own run fields: every run says what the seed fixes; the run
        Ctrl-C stopped is ``interrupted``."""
        doc = json.loads(json.dumps(run_report[1]))
        assert all("timing-dependent" in r["determinism"] for r in doc["runs"])
        doc["runs"][-1]["outcome"] = "interrupted"
        assert _errors(report_schema, doc) == []

    @pytest.mark.parametrize("key", ["tool", "target", "runs", "findings", "coverage", "summary"])
    def test_required_sections(self, report_schema, run_report, key):
        """A report missing a section is invalid."""
        doc = dict(run_report[1])
        del doc[key]
        assert _errors(report_schema, doc)

    def test_added_fields_stay_valid(self, report_schema, run_report):
        """Versioning rule: an added (optional) field does not make a /1 report invalid."""
        doc = json.loads(json.dumps(run_report[1]))
        doc["findings"][0]["new_field"] = {"x": 1}
        doc["future"] = []
        assert _errors(report_schema, doc) == []


class TestTraceLineSchema:
    def test_every_line_of_a_real_trace_validates(self, line_schema, drive_traces):
        """Every record kind a traced process writes is valid, and all kinds occur."""
        kinds = set()
        for path in drive_traces:
            for n, line in enumerate(path.read_text().splitlines(), 1):
                record = json.loads(line)
                kinds.add(record["event"])
                assert _errors(line_schema, record) == [], f"{path.name}:{n}"
        assert kinds == {"trace-start", "lock", "call", "entry", "finding", "coverage",
                         "trace-end"}

    @pytest.mark.parametrize("record", [
        {"event": "lock", "pid": 1, "name": "x", "t": 1.0, "wait_s": -1, "hold_s": 0.1,
         "owner": 1, "thread": "T", "site": {"path": "p", "line": 1, "function": "f"}},
        {"event": "finding", "pid": 1, "rule": "x/y"},
        {"event": "trace-start", "pid": 1, "schema": "auditor.trace/2"},
        {"event": "log", "pid": 1},
        {"event": "trace-end", "reason": "exit", "t": 1.0, "duration_s": 1.0},
    ])
    def test_wrong_lines_are_refused(self, line_schema, record):
        """Negative waits, missing fields, another schema, unknown kinds, no pid: invalid."""
        assert _errors(line_schema, record)


def test_readme_and_docs_point_inside_the_repository():
    """The report schema is documented in the repository, not in ../shared."""
    root = Path(__file__).resolve().parents[1]
    for path in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        assert "../shared" not in path.read_text(), path
    doc = (root / "docs" / "report-schema.md").read_text()
    assert "auditor/report/schemas/report.schema.json" in doc
    assert "trace-line.schema.json" in doc
