"""The command line around the gate: report --fail-on/--baseline, baseline, config, completion,
outputs, trace's file names, and one real run with a configuration file, HTML and a timeline."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.report import baseline

PY = sys.executable


def auditor(*args: str, cwd: Path | None = None, timeout: float = 600):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUDITOR_TRACE")}
    return subprocess.run([PY, "-m", "auditor", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout)


def with_new_finding(report: dict) -> dict:
    out = copy.deepcopy(report)
    new = dict(copy.deepcopy(out["findings"][0]), fingerprint="f" * 16, severity="high")
    out["findings"].insert(0, new)
    return out


class TestReportGate:
    def test_exit_codes_of_a_saved_report(self, run_report, tmp_path):
        """report exits like run: 1 at the default, 0 with never or with a baseline of it."""
        path, report = run_report
        assert auditor("report", str(path), cwd=tmp_path).returncode == 1
        assert auditor("report", str(path), "--fail-on", "never", cwd=tmp_path).returncode == 0
        made = auditor("baseline", str(path), "-o", "b.json", "--reason", "triaged", cwd=tmp_path)
        assert made.returncode == 0 and "written to b.json" in made.stdout
        gated = auditor("report", str(path), "--baseline", "b.json", "--fail-on", "low",
                        cwd=tmp_path)
        assert gated.returncode == 0, gated.stderr
        assert f"{len(report['findings'])} known finding(s) not counted" in gated.stderr

    def test_new_finding_fails_and_stale_entries_are_named(self, run_report, tmp_path):
        """Against the baseline of an older report, a new finding fails; gone ones are stale."""
        path, report = run_report
        (tmp_path / "b.json").write_text(baseline.dumps(baseline.create([report])))
        (tmp_path / "new.json").write_text(json.dumps(with_new_finding(report)))
        proc = auditor("report", "new.json", "--baseline", "b.json", "--format", "json",
                       cwd=tmp_path)
        assert proc.returncode == 1
        assert json.loads(proc.stdout)["baseline"]["new"] == 1
        assert "1 new finding(s) at or above --fail-on medium (default)" in proc.stderr
        (tmp_path / "b2.json").write_text(baseline.dumps(baseline.create(
            [with_new_finding(report)])))
        stale = auditor("report", str(path), "--baseline", "b2.json", cwd=tmp_path)
        assert stale.returncode == 0 and "1 baseline entry not seen" in stale.stderr

    def test_outputs_by_extension(self, run_report, tmp_path):
        """-o picks the format from .html/.sarif; an unknown extension is refused up front."""
        path, _ = run_report
        for name, marker in (("r.html", "<!DOCTYPE html>"), ("r.sarif", '"version": "2.1.0"')):
            proc = auditor("report", str(path), "-o", name, "--fail-on", "never", cwd=tmp_path)
            assert proc.returncode == 0 and marker in (tmp_path / name).read_text()
            assert f"written: {name}" in proc.stderr
        bad = auditor("report", str(path), "-o", "r.xyz", cwd=tmp_path)
        assert bad.returncode == 2 and "cannot tell the format" in bad.stderr

    def test_sarif_options(self, run_report, tmp_path):
        """--docs-url and --source-root reach the SARIF."""
        path, _ = run_report
        proc = auditor("report", str(path), "--format", "sarif", "--fail-on", "never",
                       "--docs-url", "https://d.example/x", "--source-root", "file:///src/nova")
        run = json.loads(proc.stdout)["runs"][0]
        assert run["originalUriBaseIds"]["NOVASRC"]["uri"] == "file:///src/nova/"
        assert run["tool"]["driver"]["rules"][0]["helpUri"].startswith("https://d.example/x/")

    def test_trace_output_path_is_accepted(self, drive_traces):
        """The -o path given to 'auditor trace' reads every per-process file."""
        template = str(drive_traces[0]).rsplit(".", 1)[0]
        proc = auditor("report", template, "--format", "json", "--fail-on", "never")
        assert proc.returncode == 0, proc.stderr
        assert len(json.loads(proc.stdout)["runs"]) == len(drive_traces)


class TestConfigFile:
    def test_config_command_and_precedence(self, run_report, tmp_path):
        """auditor config shows each value's source; the file's fail-on applies; the command
        line wins over it."""
        (tmp_path / "auditor.toml").write_text('fail-on = "never"\nseed = 3\n')
        shown = auditor("config", cwd=tmp_path)
        assert shown.returncode == 0
        assert f"fail-on = never  ({tmp_path / 'auditor.toml'})" in shown.stdout
        assert "mode = both  (default)" in shown.stdout
        path, _ = run_report
        assert auditor("report", str(path), cwd=tmp_path).returncode == 0
        assert auditor("report", str(path), "--fail-on", "low", cwd=tmp_path).returncode == 1

    @pytest.mark.parametrize("command", [("config",), ("report", "x.json"), ("run",)])
    def test_bad_file_stops_every_command(self, tmp_path, command):
        """An unknown key: one line naming the file and key, exit 2, before any work."""
        (tmp_path / "pyproject.toml").write_text('[tool.auditor]\nfail-on = "high"\nfoo = 1\n')
        proc = auditor(*command, cwd=tmp_path)
        assert proc.returncode == 2
        assert proc.stderr.strip().splitlines() == [
            f"auditor: error: {tmp_path / 'pyproject.toml'}: key 'tool.auditor.foo': unknown "
            f"key; known keys: fail-on, categories, baseline, scenarios, mode, nodes, workers, "
            f"seed, docs-url, source-root, allow"]


class TestPolish:
    def test_python_m_auditor_and_defaults_in_help(self):
        """python -m auditor works; --help states the defaults."""
        proc = auditor("run", "--help")
        assert proc.returncode == 0
        text = " ".join(proc.stdout.split())
        for fragment in ("(default: medium", "(default: 0)", "(default: each scenario's own",
                         "-o, --output, --report PATH"):
            assert fragment in text, fragment
        assert "JSON reports, trace files" in " ".join(auditor("report", "--help").stdout.split())

    @pytest.mark.parametrize("shell", ["bash", "zsh"])
    def test_completion(self, shell):
        """A completion script naming the commands and options."""
        proc = auditor("completion", shell)
        assert proc.returncode == 0
        for word in ("baseline", "--fail-on", "--timeline"):
            assert word in proc.stdout

    def test_trace_says_where_files_go_and_takes_dash_patterns(self, tmp_path):
        """auditor trace names its files and the report command; --exclude -c is a value."""
        proc = auditor("trace", "--exclude", "-c", "-o", str(tmp_path / "t.jsonl"), "--",
                       PY, "-c", "import nova")
        assert proc.returncode == 0, proc.stderr
        assert f"read them all with: auditor report {tmp_path / 't.jsonl'}" in proc.stderr


def test_real_run_with_config_html_and_timeline(tmp_path):
    """One eventlet run: the configuration's allow entry and fail-on apply, the HTML and the
    timeline are written with lock data, start-up warnings stay off the terminal, and the
    output ends with the verdict, the files and (findings left) the next step."""
    (tmp_path / "auditor.toml").write_text(
        'fail-on = "low"\nmode = "eventlet"\n'
        '[[allow]]\nrule = "input-validation"\nreason = "planted by the scenario"\n')
    proc = auditor("run", "malformed-nodes", "-o", "r.html", "--timeline", "t.json",
                   cwd=tmp_path, timeout=900)
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    assert "Eventlet is deprecated" not in proc.stderr + proc.stdout
    assert "start-up warnings (eventlet, nova):" in proc.stderr
    assert any("new finding" in line for line in proc.stdout.strip().splitlines()[-6:])
    assert "written: r.html" in proc.stdout and "written: t.json" in proc.stdout
    page = (tmp_path / "r.html").read_text()
    assert "Holders of compute_resources" in page and "planted by the scenario" in page
    events = json.loads((tmp_path / "t.json").read_text())["traceEvents"]
    assert any(e["name"] == "hold compute_resources" for e in events)
