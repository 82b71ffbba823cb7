"""What the built wheel ships and needs: package data present, pytest not required for tracing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The wheel built from this checkout, installed (not editable, no dependencies) into a
    fresh venv: its site-packages directory."""
    tmp = tmp_path_factory.mktemp("wheel")
    subprocess.run([PY, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp / "dist"),
                    str(ROOT)], check=True, capture_output=True, timeout=600)
    wheel = next((tmp / "dist").glob("nova_rt_auditor-*.whl"))
    subprocess.run([PY, "-m", "venv", str(tmp / "venv")], check=True, timeout=300)
    pip = tmp / "venv" / "bin" / "pip"
    subprocess.run([str(pip), "install", "-q", "--no-deps", str(wheel)], check=True,
                   capture_output=True, timeout=300)
    purelib = subprocess.run([str(tmp / "venv" / "bin" / "python"), "-c",
                              "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    return Path(purelib)


class TestWheel:
    def test_schemas_and_html_assets_are_installed(self, installed):
        """The JSON Schemas, the HTML report's stylesheet and the trace bootstrap are in it."""
        package = installed / "auditor"
        for name in ("report.schema.json", "trace-line.schema.json"):
            doc = json.loads((package / "report" / "schemas" / name).read_text())
            assert doc["$schema"].startswith("https://json-schema.org/")
        assert "svg.chart" in (package / "report" / "assets" / "report.css").read_text()
        assert list(package.rglob("site/sitecustomize.py"))
        assert not (installed / "__editable__").exists() and not list(
            installed.glob("__editable__*"))

    def test_pytest_is_an_extra(self, installed):
        """pytest is required only by the ``pytest`` and ``test`` extras, not by the package."""
        meta = next(installed.glob("nova_rt_auditor-*.dist-info")) / "METADATA"
        requires = Parser().parsestr(meta.read_text()).get_all("Requires-Dist")
        pytest_reqs = [r for r in requires if r.startswith("pytest")]
        assert pytest_reqs and all("extra ==" in r for r in pytest_reqs), pytest_reqs
        assert "Documentation" in meta.read_text()

    def test_nova_and_placement_are_an_extra(self, installed):
        """No runtime dependency names nova or placement: installing into a service's venv
        leaves its nova alone; the runner gets them from the ``runner`` extra (versions
        from constraints.txt)."""
        meta = next(installed.glob("nova_rt_auditor-*.dist-info")) / "METADATA"
        requires = Parser().parsestr(meta.read_text()).get_all("Requires-Dist")
        target = [r for r in requires if r.split()[0].split(">")[0].split("=")[0]
                  in ("nova", "openstack-placement")]
        assert target and all('extra == "runner"' in r for r in target), target


@pytest.mark.full
def test_pip_leaves_another_nova_alone(tmp_path):
    """``pip install --dry-run`` of the auditor into a venv holding another nova release
    (as a devstack venv does) installs no nova and no placement."""
    venv = tmp_path / "venv"
    subprocess.run([PY, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    vpy = str(venv / "bin" / "python")
    purelib = Path(subprocess.run([vpy, "-c", "import sysconfig; print(sysconfig.get_paths()"
                                   "['purelib'])"], check=True, capture_output=True,
                                  text=True).stdout.strip())
    dist = purelib / "nova-33.0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: nova\nVersion: 33.0.0\n")
    (dist / "RECORD").write_text("")
    report = tmp_path / "report.json"
    subprocess.run([PY, "-m", "pip", "--python", vpy, "install", "--dry-run", "-q",
                    "-c", str(ROOT / "constraints.txt"), "--report", str(report), str(ROOT)],
                   check=True, capture_output=True, timeout=1200)
    names = {i["metadata"]["name"].lower() for i in json.loads(report.read_text())["install"]}
    assert "nova-rt-auditor" in names
    assert not names & {"nova", "openstack-placement"}, names


def test_tracing_runs_without_pytest(tmp_path):
    """A traced process where pytest cannot be imported still writes findings and ends cleanly."""
    blocker = tmp_path / "blocked" / "pytest"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('pytest is not installed here')\n")
    script = tmp_path / "leaky.py"
    script.write_text("import logging, sys\nimport nova\n"
                      "logging.getLogger('nova.x').warning('password=%s', 'hunter2hunter2')\n"
                      "assert 'pytest' not in sys.modules\nprint('ok')\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUDITOR_TRACE")}
    env["PYTHONPATH"] = str(tmp_path / "blocked")
    out = tmp_path / "t.jsonl"
    proc = subprocess.run([PY, "-m", "auditor.cli", "trace", "--output", str(out), "--", PY,
                           str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-2000:]
    records = [json.loads(line) for p in tmp_path.glob("t.jsonl*")
               for line in p.read_text().splitlines()]
    rules = {r.get("rule") for r in records if r["event"] == "finding"}
    assert "sensitive-log/pattern" in rules and "auditor-error/internal" not in rules
    assert records[-1]["event"] == "trace-end"
