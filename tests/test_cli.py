"""The ``auditor`` command as a user runs it: exit codes, errors, reports, both modes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import jsonschema
import pytest

from auditor.report import schema
from auditor.report.model import failing


def auditor(*args: str, timeout: float = 600, env: dict | None = None
            ) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "auditor.cli", *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


class TestBadInput:
    @pytest.mark.parametrize("args, fragment", [
        (("run", "no-such-scenario"), "unknown scenario 'no-such-scenario'"),
        (("run", "--nodes", "0"), "at least 1"),
        (("run", "--nodes", "many"), "expected a whole number"),
        (("run", "--mode", "gevent"), "invalid choice"),
        (("run", "--category", "nonsense"), "unknown category"),
        (("run", "--config-file", "/no/such/nova.conf"), "does not exist"),
        (("run", "--report", "/no/such/dir/r.json"), "directory does not exist"),
        (("frobnicate",), "invalid choice"),
        (("report", "/no/such/report.json"), "no such file"),
        (("report", "/no/such/report.json.0"), "no such file"),
        (("run", "-o", "report.xyz"), "cannot tell the format"),
        (("run", "--baseline", "/no/such/b.json"), "cannot read baseline"),
        (("report", "--baseline", "/no/such/b.json", "x.json"), "cannot read baseline"),
        (("baseline", "/no/such/r.json", "-o", "b.json"), "no such file"),
        (("run", "--explore", "0"), "at least 1"),
        (("run", "--explore", "some"), "expected a whole number"),
        (("run", "concurrent-claims", "--explore", "2", "--schedule", "11:1"),
         "does not go with --explore"),
        (("run", "concurrent-claims", "--jobs", "2"), "give --explore N too"),
        (("run", "--explore", "2", "--jobs", "0"), "at least 1"),
        (("run", "concurrent-claims", "--explore", "2", "--jobs", "2", "--db", "postgresql"),
         "needs the embedded backends"),
        (("run", "concurrent-claims", "--schedule", "eleven"), "is not SEED:INDEX"),
        (("run", "concurrent-claims", "--schedule", "11:1", "--seed", "12"),
         "explored from seed 11"),
        (("run", "concurrent-claims", "rebalance", "--schedule", "11:1"), "name exactly one"),
    ])
    def test_one_line_and_exit_2(self, args, fragment):
        """Bad input: exit 2 and a single line naming the problem."""
        proc = auditor(*args)
        assert proc.returncode == 2
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and fragment in lines[0]


class TestList:
    def test_lists_builtin_scenarios(self):
        """``auditor list`` names every built-in scenario with its summary."""
        proc = auditor("list")
        assert proc.returncode == 0
        assert "concurrent-claims" in proc.stdout


class TestFailOn:
    REPORT = {"findings": [{"severity": "medium"}, {"severity": "low"}]}

    @pytest.mark.parametrize("level, count", [("high", 0), ("medium", 1), ("low", 2),
                                              ("never", 0)])
    def test_threshold(self, level, count):
        """``--fail-on`` counts the findings at or above its severity."""
        assert len(failing(self.REPORT, level)) == count


class TestRun:
    def test_both_modes_merge_into_one_report(self, tmp_path):
        """A run in both modes writes one report with a run per mode and exits by --fail-on;
        its default work directory (one fresh directory per mode inside) is removed after
        the clean run."""
        out = tmp_path / "report.json"
        proc = auditor("run", "concurrent-claims", "--nodes", "8", "--workers", "4",
                       "--report", str(out), "--fail-on", "never", env={"TMPDIR": str(tmp_path)})
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert not list(tmp_path.glob("nova-rt-auditor-*")), proc.stderr[-3000:]
        report = json.loads(out.read_text())
        assert report["schema"] == "auditor.report/1"
        assert report["target"]["concurrency"] == "threading+eventlet"
        ids = [r["id"] for r in report["runs"]]
        assert any("threading" in i for i in ids) and any("eventlet" in i for i in ids)
        assert all(r["outcome"] == "passed" for r in report["runs"]), report["runs"]
        assert "Coverage" in proc.stdout
        assert not [f for f in report["findings"]
                    if f["rule"] in ("accounting/double-claim", "accounting/disagreement")
                    or f["category"] == "auditor-error"]
        assert all(r["stats"].get("boot-active", 0) >= 1 for r in report["runs"])


class TestNoSecretInArtefacts:
    def test_terminal_output_and_reports_carry_no_canary(self, tmp_path):
        """No canary the run planted (config secrets, and the node data nova keeps: BMC
        passwords in ``properties.capabilities`` and ``last_error``) appears in the terminal
        output or in any report format.

        The planted values are read back from the run's own files: nova.conf holds the
        config canaries; nova's log and databases hold the node data nova logged or stored
        (capabilities in the compute node's stats, last_error in the instance fault).
        """
        workdir = tmp_path / "work"
        workdir.mkdir()
        report = tmp_path / "report.json"
        run = auditor("run", "malformed-nodes", "--mode", "threading", "--workdir", str(workdir),
                      "--report", str(report), "--fail-on", "never")
        assert run.returncode == 0, run.stderr[-3000:]
        shape = re.compile(rb"Cnry[A-Za-z0-9]{12}")
        rundir = next(workdir.glob("run-*"))   # a fresh directory per run
        in_conf = set(shape.findall((rundir / "nova.conf").read_bytes()))
        kept = {value for path in rundir.glob("nova*") if path.is_file()
                for value in shape.findall(path.read_bytes())} - in_conf
        assert len(in_conf) >= 4 and len(kept) >= 2, (in_conf, kept)
        planted = {value.decode() for value in in_conf | kept}
        logged = {f["evidence"]["source"] for f in json.loads(report.read_text())["findings"]
                  if f["rule"] == "sensitive-log/canary"}
        assert {"ironic.properties.capabilities", "ironic.last_error"} <= logged
        artefacts = [run.stdout, run.stderr, report.read_text()]
        for fmt in ("sarif", "text"):
            rendered = auditor("report", str(report), "--format", fmt, "--fail-on", "never")
            assert rendered.returncode == 0
            artefacts.append(rendered.stdout)
        leaked = {value for value in planted if any(value in t for t in artefacts)}
        assert leaked == set()


class TestExploreDeterminism:
    def test_same_seed_same_findings_in_both_modes(self, tmp_path):
        """Two explorations from one seed, one in one process and one split over two
        (``--jobs``), give the same findings (fingerprints, counts, first schedules) and the
        same interleavings (per-schedule digests) in each concurrency mode; every finding
        names its schedule; the report is schema-valid."""
        validator = jsonschema.Draft202012Validator(schema.load(schema.REPORT))

        def explore(name, jobs):
            path = tmp_path / name
            proc = auditor("run", "concurrent-claims", "--mode", "both", "--nodes", "2",
                           "--workers", "2", "--seed", "11", "--explore", "2", "--jobs", jobs,
                           "--fail-on", "never", "--report", str(path), timeout=1200)
            assert proc.returncode == 0, proc.stderr[-2000:]
            report = json.loads(path.read_text())
            assert [e.message for e in validator.iter_errors(report)] == []
            findings = sorted((f["fingerprint"], f["count"], f["schedule"]["id"])
                              for f in report["findings"])
            runs = {r["id"]: r["explore"] for r in report["runs"]}
            return findings, runs

        first, second = explore("a.json", "1"), explore("b.json", "2")
        assert first[0] == second[0] and first[0]
        assert set(first[1]) == set(second[1]) and len(first[1]) == 2
        for run, summary in first[1].items():
            assert summary["schedules"] == 2 and summary["distinct_decision_lists"] == 2
            assert summary["controlled"] > 0.95
            assert summary["per_schedule"] == second[1][run]["per_schedule"], run