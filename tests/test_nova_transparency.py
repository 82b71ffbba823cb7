"""Transparency proof: nova's 129 tracker unit tests end the same with and without --audit."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

__all__: list[str] = []

NOVA_TESTS = "nova.tests.unit.compute.test_resource_tracker"
EXPECTED_TESTS = 129


def outcomes(junit_xml: Path) -> dict[str, str]:
    """``{classname::name: passed|failed|error|skipped}`` from a JUnit XML file."""
    result = {}
    for case in ET.parse(junit_xml).getroot().iter("testcase"):
        test_id = f"{case.get('classname')}::{case.get('name')}"
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        result[test_id] = {"failure": "failed"}.get(kinds[0], kinds[0]) if kinds else "passed"
    return result


def _run_nova_tests(workdir: Path, name: str, *extra: str) -> tuple[int, dict[str, str], str]:
    """Run nova's tests in a fresh pytest from ``workdir``, as a user would type it."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PYTEST_") and k != "OS_NOVA_DISABLE_EVENTLET_PATCHING"}
    junit = workdir / f"{name}.xml"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", NOVA_TESTS, "-p", "no:cacheprovider",
         "-q", "-rA", f"--junitxml={junit}", *extra],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=600)
    assert junit.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.returncode, outcomes(junit), proc.stdout


# nova ships its tests in the package; without them there is nothing to compare.
pytestmark = pytest.mark.skipif(importlib.util.find_spec("nova.tests") is None,
                                reason="nova's tests are not installed")


class TestNovaTransparency:
    def test_same_outcome_per_test_with_and_without_audit(self, tmp_path):
        """All 129 tests pass plain (so a broken compatibility shim, which both runs share,
        cannot hide behind equal failures); audited, each ends the same, each is a run of the
        report, and the hooks recorded nova's tracker at work (fail-on never, so findings do
        not change the status).
        """
        plain_code, plain, _ = _run_nova_tests(tmp_path, "plain")
        assert plain_code == 0 and len(plain) == EXPECTED_TESTS
        assert set(plain.values()) == {"passed"}
        audited_code, audited, out = _run_nova_tests(
            tmp_path, "audited", "--audit", "--audit-fail-on", "never",
            f"--audit-report={tmp_path / 'audit.json'}")
        differing = {t: (plain.get(t), audited.get(t)) for t in plain.keys() | audited.keys()
                     if plain.get(t) != audited.get(t)}
        assert not differing, f"outcomes differ (plain, audited): {differing}"
        assert audited_code == 0
        report = json.loads((tmp_path / "audit.json").read_text())
        assert len({r["id"] for r in report["runs"]}) == EXPECTED_TESTS
        events = report["summary"]["events"]
        assert events.get("EntryEvent", 0) > EXPECTED_TESTS and events.get("LockEvent", 0) > 0
        assert "auditor" in out

    def test_plain_run_installs_nothing_of_the_auditor(self, tmp_path):
        """Without --audit, a nova test sees no hook and no audit session (lockutils.lock is
        nova's plain function, not the auditor's wrapper).

        The compatibility shim (docs/pytest-plugin.md) is the one exception: it is what lets
        nova's unittest cases run under pytest at all, with or without --audit; the plain
        run above passing all 129 tests is its test.
        """
        (tmp_path / "test_probe.py").write_text(
            "import sys\n"
            "from nova.tests.unit.compute import test_resource_tracker as t\n"
            "class TestProbe(t.BaseTestCase):\n"
            "    def test_nothing_installed(self):\n"
            "        from oslo_concurrency import lockutils\n"
            "        assert 'auditor.hooks' not in sys.modules\n"
            "        assert 'auditor.session' not in sys.modules\n"
            "        assert type(lockutils.lock).__name__ == 'function'\n")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("PYTEST_") and k != "OS_NOVA_DISABLE_EVENTLET_PATCHING"}
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               "test_probe.py"], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-3000:]
        assert "1 passed" in proc.stdout

    def test_outcomes_parser_sees_every_kind(self, tmp_path):
        """The JUnit parser tells passed, failed, error and skipped apart (so a difference
        cannot hide behind the parser).
        """
        xml = tmp_path / "r.xml"
        xml.write_text(
            '<testsuites><testsuite>'
            '<testcase classname="m.C" name="a"/>'
            '<testcase classname="m.C" name="b"><failure message="x"/></testcase>'
            '<testcase classname="m.C" name="c"><error message="x"/></testcase>'
            '<testcase classname="m.C" name="d"><skipped message="x"/></testcase>'
            '</testsuite></testsuites>')
        assert outcomes(xml) == {"m.C::a": "passed", "m.C::b": "failed",
                                 "m.C::c": "error", "m.C::d": "skipped"}
