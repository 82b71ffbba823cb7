"""The pytest plugin, driven through pytester in subprocesses (each one a fresh pytest)."""

from __future__ import annotations

import json
import textwrap

import pytest

from auditor.pytest_plugin.plugin import (DEFAULT_FAIL_ON, MSG_ALLOW_USAGE, MSG_BAD_CATEGORY,
                                   MSG_BAD_INI, MSG_INACTIVE)
from auditor.pytest_plugin.summary import FAIL_ON_LINE, NO_FINDINGS, REPORT_LINE, TITLE

pytest_plugins = ["pytester"]

# A test module that leaks a planted canary through nova's real tracker logger.
_PRELUDE = '''
import os, pathlib
from scenarios import mode
mode.apply("threading")
from nova.compute import resource_tracker
import pytest


def leak(audit, name):
    canary = audit.plant(f"test.{name}")
    pathlib.Path(f"canary-{name}.txt").write_text(canary)
    resource_tracker.LOG.debug("node password is %s", canary)
    return canary
'''

LEAKY = _PRELUDE + '''

def test_leaks(audit):
    leak(audit, "leaks")


def test_clean(audit):
    resource_tracker.LOG.debug("nothing to hide")
'''

LEAK_RULE = "sensitive-log/canary"


def _write(pytester: pytest.Pytester, body: str, name: str = "test_subject",
           prelude: bool = False) -> None:
    pytester.makepyfile(**{name: (_PRELUDE if prelude else "") + textwrap.dedent(body)})


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)


def _report(pytester: pytest.Pytester, name: str = "audit.json") -> dict:
    return json.loads((pytester.path / name).read_text())


def _canaries(pytester: pytest.Pytester) -> list[str]:
    return [p.read_text() for p in pytester.path.glob("canary-*.txt")]


class TestOptions:
    def test_help_lists_options_and_ini_twins(self, pytester):
        """--help shows the auditor group with every option and its ini twin."""
        result = _run(pytester, "--help")
        result.stdout.fnmatch_lines([
            "nova-rt-auditor*:", "*--audit *", "*--audit-report=PATH*", "*--audit-format=*",
            "*--audit-fail-on=*", "*--audit-category=CATEGORY*"])
        result.stdout.fnmatch_lines(["*audit (bool)*", "*audit_report (string)*",
                                     "*audit_format (string)*", "*audit_fail_on (string)*",
                                     "*audit_category (args)*"])

    def test_unknown_category_is_a_usage_error(self, pytester):
        """An unknown --audit-category stops pytest with a usage error naming it."""
        _write(pytester, "def test_x(): pass")
        result = _run(pytester, "--audit", "--audit-category", "nope")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(["*" + MSG_BAD_CATEGORY.format(name="nope", choices="*")])

    def test_bad_ini_value_is_a_usage_error(self, pytester):
        """A bad ini twin value is a usage error too."""
        pytester.makeini("[pytest]\naudit = true\naudit_fail_on = sometimes\n")
        _write(pytester, "def test_x(): pass")
        result = _run(pytester)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(["*" + MSG_BAD_INI.format(
            name="audit_fail_on", value="sometimes", choices="*")])

    def test_ini_twins_activate_and_configure(self, pytester):
        """``audit = true`` audits like --audit; ini report/format/fail-on are honoured."""
        pytester.makeini("[pytest]\naudit = true\naudit_report = out.txt\n"
                         "audit_fail_on = never\n")
        _write(pytester, LEAKY)
        result = _run(pytester)
        assert result.ret == pytest.ExitCode.OK
        result.stdout.fnmatch_lines([f"*= {TITLE} =*", "*" + REPORT_LINE.format(
            fmt="text", path=str(pytester.path / "out.txt"))])
        assert LEAK_RULE in (pytester.path / "out.txt").read_text()


class TestInactive:
    def test_nothing_installed_or_imported_without_audit(self, pytester):
        """Without --audit: no hooks, no nova or auditor session imported, no summary."""
        _write(pytester, '''
            import sys

            def test_inert(pytestconfig):
                assert pytestconfig.pluginmanager.has_plugin("auditor")
                assert not pytestconfig.pluginmanager.has_plugin("auditor-active")
                for name in ("nova", "wrapt", "auditor.session", "auditor.hooks"):
                    assert name not in sys.modules, name
                from oslo_concurrency import lockutils
                assert type(lockutils.lock).__name__ == "function"
        ''')
        result = _run(pytester, "-rA")
        assert result.ret == pytest.ExitCode.OK
        result.stdout.fnmatch_lines(["PASSED*test_inert*"])
        result.stdout.no_fnmatch_line(f"*= {TITLE} =*")

    def test_hooks_installed_with_audit(self, pytester):
        """The positive control: with --audit the lock entry point is wrapped, and
        starting the session imported neither nova nor eventlet.
        """
        _write(pytester, '''
            import sys

            def test_wrapped(pytestconfig):
                assert pytestconfig.pluginmanager.has_plugin("auditor-active")
                assert sys.modules["auditor.hooks"]._active is not None
                # the session must not pick nova's concurrency mode for the tests
                assert [m for m in sys.modules if m.split(".")[0] in ("nova", "eventlet")] == []
                from oslo_concurrency import lockutils
                assert type(lockutils.lock).__name__ != "function"
        ''')
        result = _run(pytester, "--audit", "-rA")
        assert result.ret == pytest.ExitCode.OK
        result.stdout.fnmatch_lines([f"*= {TITLE} =*", NO_FINDINGS, "PASSED*test_wrapped*"])

    def test_audit_fixture_skips_without_audit(self, pytester):
        """A test that needs the audit fixture is skipped, with the reason, in a plain run."""
        _write(pytester, "def test_needs(audit): pass")
        result = _run(pytester, "-rs")
        assert result.ret == pytest.ExitCode.OK
        result.stdout.fnmatch_lines([f"SKIPPED*{MSG_INACTIVE}*"])


class TestAttribution:
    def test_finding_attributed_to_the_leaking_test_only(self, pytester):
        """The leak is one finding whose runs name the leaking test, not its neighbour;
        the canary appears in neither the report nor the terminal output.
        """
        _write(pytester, LEAKY)
        result = _run(pytester, "--audit", "--audit-report", "audit.json",
                      "--audit-fail-on", "never")
        assert result.ret == pytest.ExitCode.OK
        report = _report(pytester)
        assert [r["id"] for r in report["runs"]] == [
            "test_subject.py::test_leaks", "test_subject.py::test_clean"]
        [finding] = report["findings"]
        assert finding["rule"] == LEAK_RULE
        assert finding["runs"] == ["test_subject.py::test_leaks"]
        assert finding["evidence"]["source"] == "test.leaks"
        result.stdout.fnmatch_lines([f"*= {TITLE} =*", f"HIGH*{LEAK_RULE}*",
                                     "*tests: test_subject.py::test_leaks"])
        [canary] = _canaries(pytester)
        text = (pytester.path / "audit.json").read_text()
        assert canary not in text
        assert canary not in result.stdout.str() + result.stderr.str()


class TestExitStatus:
    @pytest.mark.parametrize("fail_on, expected", [
        (None, pytest.ExitCode.TESTS_FAILED),  # the default, medium
        ("high", pytest.ExitCode.TESTS_FAILED),
        ("never", pytest.ExitCode.OK),
    ])
    def test_findings_at_fail_on_turn_a_green_run_red(self, pytester, fail_on, expected):
        """Passing tests + a high finding: exit 1 at high and the default (medium), 0 at never."""
        _write(pytester, LEAKY)
        args = ["--audit"] + (["--audit-fail-on", fail_on] if fail_on else [])
        result = _run(pytester, *args)
        assert result.ret == expected
        result.stdout.fnmatch_lines(["*2 passed*"])
        if expected:
            result.stdout.fnmatch_lines(
                [FAIL_ON_LINE.format(count=1, fail_on=fail_on or DEFAULT_FAIL_ON)])

    def test_clean_run_exits_zero_and_failures_keep_pytest_status(self, pytester):
        """No findings: pytest's own status (0 here, 1 when a test fails)."""
        _write(pytester, "def test_ok(): pass\n")
        assert _run(pytester, "--audit").ret == pytest.ExitCode.OK
        _write(pytester, "def test_bad(): assert False\n", name="test_other")
        assert _run(pytester, "--audit").ret == pytest.ExitCode.TESTS_FAILED


class TestFixture:
    def test_helpers(self, pytester):
        """findings() sees the leak mid-test; assert_one returns it; assert_none passes
        when clean, fails when not, and filters by category.
        """
        _write(pytester, prelude=True, body='''

            @pytest.mark.audit_allow("sensitive-log", reason="this test leaks on purpose")
            def test_sees_own_leak(audit):
                audit.assert_none()
                leak(audit, "mid")
                [found] = audit.findings()
                assert found.rule.id == "sensitive-log/canary"
                assert audit.findings("unheld-lock") == []
                assert audit.assert_one("sensitive-log/canary") is not None
                audit.assert_none(category="unheld-lock")
                with pytest.raises(AssertionError, match="1 audit finding"):
                    audit.assert_none()
                with pytest.raises(AssertionError, match="expected exactly one"):
                    audit.assert_one("unheld-lock/declared")

            def test_next_test_starts_clean(audit):
                audit.assert_none()
        ''')
        result = _run(pytester, "--audit", "-rA")
        assert result.ret == pytest.ExitCode.OK, result.stdout.str()
        result.stdout.fnmatch_lines(["*2 passed*"])


class TestMarker:
    @pytest.mark.parametrize("allowed", ["sensitive-log/canary", "sensitive-log"])
    def test_allow_drops_the_rule_for_that_test(self, pytester, allowed):
        """audit_allow(rule or category) keeps that test's findings out of the report
        and of --audit-fail-on; other tests' findings stay.
        """
        _write(pytester, prelude=True, body=f'''

            @pytest.mark.audit_allow("{allowed}", reason="known, tracked in bug 1")
            def test_allowed(audit):
                leak(audit, "allowed")

            def test_not_allowed(audit):
                leak(audit, "other")
        ''')
        result = _run(pytester, "--audit", "--audit-report", "audit.json")
        assert result.ret == pytest.ExitCode.TESTS_FAILED
        [finding] = _report(pytester)["findings"]
        assert finding["runs"] == ["test_subject.py::test_not_allowed"]

    def test_allow_alone_keeps_the_run_green(self, pytester):
        """With every finding allowed, a --audit-fail-on=high run exits 0."""
        _write(pytester, prelude=True, body='''

            @pytest.mark.audit_allow("sensitive-log/canary", reason="on purpose")
            def test_allowed(audit):
                leak(audit, "allowed")
        ''')
        result = _run(pytester, "--audit", "--audit-fail-on", "high")
        assert result.ret == pytest.ExitCode.OK
        result.stdout.fnmatch_lines([NO_FINDINGS])

    @pytest.mark.parametrize("mark", [
        '@pytest.mark.audit_allow("sensitive-log/canary")',
        '@pytest.mark.audit_allow("sensitive-log/canary", reason="")',
        '@pytest.mark.audit_allow(reason="no rule")',
    ])
    def test_allow_without_reason_or_rule_is_a_usage_error(self, pytester, mark):
        """A marker without a rule or a non-empty reason stops the run: usage error."""
        _write(pytester, f"import pytest\n\n{mark}\ndef test_x():\n    pass\n")
        result = _run(pytester, "--audit")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines([f"*test_subject.py::test_x: {MSG_ALLOW_USAGE}"])


class TestFormats:
    @pytest.mark.parametrize("fmt, name", [("json", "r.out"), ("sarif", "r.sarif"),
                                           ("text", "r.txt")])
    def test_report_formats(self, pytester, fmt, name):
        """--audit-format (or the file extension) picks json, SARIF 2.1.0 or text;
        none of them contains the canary.
        """
        _write(pytester, LEAKY)
        args = ["--audit", "--audit-report", name, "--audit-fail-on", "never"]
        result = _run(pytester, *args, *(["--audit-format", fmt] if fmt == "json" else []))
        assert result.ret == pytest.ExitCode.OK
        result.stdout.fnmatch_lines(["*" + REPORT_LINE.format(fmt=fmt, path="*" + name)])
        text = (pytester.path / name).read_text()
        if fmt == "json":
            assert json.loads(text)["findings"][0]["rule"] == LEAK_RULE
        elif fmt == "sarif":
            sarif = json.loads(text)
            assert sarif["version"] == "2.1.0"
            assert sarif["runs"][0]["results"][0]["ruleId"] == LEAK_RULE
        else:
            assert LEAK_RULE in text
        [canary] = _canaries(pytester)
        assert canary not in text


class TestXdist:
    def test_workers_reports_merged_into_one(self, pytester):
        """-n 2: every worker audits its tests; the controller writes one merged report
        (runs of both workers) and prints one summary.
        """
        tests = "\n".join(f'''
def test_leak_{i}(audit):
    leak(audit, "w" + os.environ["PYTEST_XDIST_WORKER"] + "-{i}")
''' for i in range(6))
        _write(pytester, tests, prelude=True)
        result = _run(pytester, "-n", "2", "--audit", "--audit-report", "audit.json",
                      "--audit-fail-on", "never")
        assert result.ret == pytest.ExitCode.OK
        report = _report(pytester)
        assert sorted(r["id"] for r in report["runs"]) == sorted(
            f"test_subject.py::test_leak_{i}" for i in range(6))
        sources = {f["evidence"]["source"].split("-")[0] for f in report["findings"]}
        assert sources == {"test.wgw0", "test.wgw1"}
        assert sum(f["count"] for f in report["findings"]) == 6
        assert result.stdout.str().count(f" {TITLE} ") == 1
        result.stdout.fnmatch_lines(["audited 6 test(s)*: 6 finding(s)*"])


LOCKING = _PRELUDE + '''
from oslo_concurrency import lockutils


def test_takes_the_semaphore(audit):
    leak(audit, "locks")
    with lockutils.lock("compute_resources"):
        pass
'''


class TestGate:
    def test_baseline_makes_known_findings_pass(self, pytester):
        """A baseline of the run's own findings turns the red run green and is summarised."""
        from auditor.report import baseline

        _write(pytester, LEAKY)
        assert _run(pytester, "--audit", "--audit-report", "audit.json").ret == 1
        (pytester.path / "b.json").write_text(baseline.dumps(baseline.create(
            [_report(pytester)], reason="known leak")))
        result = _run(pytester, "--audit", "--audit-baseline", "b.json")
        assert result.ret == pytest.ExitCode.OK
        result.stdout.fnmatch_lines(["*[[]baselined[]]*", "baseline *b.json: 0 new, 1 known*"])

    def test_bad_baseline_is_a_usage_error(self, pytester):
        """A baseline that is not one stops pytest with one line naming the file."""
        _write(pytester, LEAKY)
        (pytester.path / "b.json").write_text("{")
        result = _run(pytester, "--audit", "--audit-baseline", "b.json")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(["*b.json is not JSON*"])

    def test_configuration_file_is_honoured(self, pytester):
        """[tool.auditor] fail-on and allow entries apply; a bad key is a usage error."""
        _write(pytester, LEAKY)
        pytester.makefile(".toml", auditor='[[allow]]\nrule = "sensitive-log"\n'
                                           'reason = "planted on purpose"\n')
        result = _run(pytester, "--audit")
        assert result.ret == pytest.ExitCode.OK
        result.stdout.fnmatch_lines(["*[[]allowed[]]*"])
        pytester.makefile(".toml", auditor='fail_on = "high"\n')
        result = _run(pytester, "--audit")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(["*auditor.toml: key 'fail_on': unknown key*"])

    def test_timeline(self, pytester):
        """--audit-timeline writes the Perfetto trace of the session's lock holds."""
        _write(pytester, LOCKING)
        result = _run(pytester, "--audit", "--audit-timeline", "t.json", "--audit-fail-on",
                      "never", "--audit-report", "r.html")
        assert result.ret == pytest.ExitCode.OK
        result.stdout.fnmatch_lines(["timeline written to *t.json*"])
        doc = json.loads((pytester.path / "t.json").read_text())
        assert "hold compute_resources" in {e["name"] for e in doc["traceEvents"]}
        assert "Holders of compute_resources" in (pytester.path / "r.html").read_text()
