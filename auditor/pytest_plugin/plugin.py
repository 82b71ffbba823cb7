"""pytest plugin (entry point ``auditor``): audit nova's tracker per test; inert without --audit.

Options and hooks here; the ``audit`` fixture's object in ``fixture``, the
terminal summary in ``summary``, the shims for nova's own tests in ``nova_compat``.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import TYPE_CHECKING, Any, Generator

import pytest

from auditor.findings import FAIL_ON
from auditor.pytest_plugin.fixture import AuditHandle
from auditor.pytest_plugin.nova_compat import NovaCompat
from auditor.pytest_plugin.summary import TITLE, summary_lines
from auditor.report.formats import RUN_FORMATS, format_for
from auditor.report import gate
from auditor.report.model import failing

if TYPE_CHECKING:  # pragma: no cover
    from auditor.findings import Finding
    from auditor.session import AuditSession

__all__ = ["FORMATS", "FAIL_ON", "DEFAULT_FAIL_ON", "MARKER", "MSG_INACTIVE",
           "MSG_ALLOW_USAGE", "MSG_BAD_CATEGORY", "MSG_BAD_INI", "WORKEROUTPUT_KEY",
           "Settings", "AuditState", "STATE_KEY", "settings_from", "run_id", "audit"]

FORMATS = RUN_FORMATS
DEFAULT_FAIL_ON = gate.DEFAULT_FAIL_ON   # one default for every door (report/gate.py says why)
MARKER = "audit_allow"
MSG_INACTIVE = "the audit fixture needs an audited run: pass --audit (or set audit = true)"
MSG_ALLOW_USAGE = ("audit_allow needs one rule id or category and a non-empty reason, e.g. "
                   "@pytest.mark.audit_allow(\"sensitive-log/canary\", reason=\"why\")")
MSG_BAD_CATEGORY = "unknown audit category {name!r}; choose from {choices}"
MSG_BAD_INI = "bad ini value {name} = {value!r}; choose from {choices}"
WORKEROUTPUT_KEY = "auditor_report"
_OUTCOME_RANK = {"passed": 0, "skipped": 1, "failed": 2, "error": 3}


@dataclasses.dataclass(frozen=True)
class Settings:
    """The plugin's options after command line over ini over defaults."""

    active: bool = False
    report: str | None = None
    fmt: str = "json"
    fail_on: str = DEFAULT_FAIL_ON
    categories: tuple[str, ...] = ()
    timeline: str | None = None
    #: the effective ``auditor.config.Config`` (baseline, allow entries, SARIF/HTML links)
    conf: Any = None


@dataclasses.dataclass
class AuditState:
    """Per-process plugin state (kept under ``STATE_KEY`` in ``config.stash``)."""

    settings: Settings
    role: str = "local"  # local | worker | controller
    session: "AuditSession | None" = None
    current: str | None = None
    outcome: str = "passed"
    started: float = 0.0
    allowed: tuple[str, ...] = ()
    conf_canaries: bool = False
    worker_reports: list[dict] = dataclasses.field(default_factory=list)
    report: dict | None = None
    written: tuple[str, str] | None = None
    spans: Any = None    # the SpanFile recording the timeline


STATE_KEY = pytest.StashKey[AuditState]()
_COMPAT_KEY = pytest.StashKey[NovaCompat]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("auditor", "nova-rt-auditor (runtime audit of nova's tracker)")
    group.addoption("--audit", action="store_true", default=None, dest="audit",
                    help="audit every test (hooks on; per-test findings, summary, exit status)")
    parser.addini("audit", type="bool", default=False, help="like --audit")
    group.addoption("--audit-report", metavar="PATH", dest="audit_report",
                    help="write the report to PATH")
    parser.addini("audit_report", default="", help="like --audit-report")
    group.addoption("--audit-format", choices=FORMATS, dest="audit_format",
                    help="report format (default: from PATH's extension, else json)")
    parser.addini("audit_format", default="", help="like --audit-format")
    group.addoption("--audit-fail-on", choices=FAIL_ON, dest="audit_fail_on",
                    help=f"exit 1 when tests pass but a finding is at or above this severity "
                         f"(default: {DEFAULT_FAIL_ON})")
    parser.addini("audit_fail_on", default="", help="like --audit-fail-on")
    group.addoption("--audit-category", action="append", metavar="CATEGORY",
                    dest="audit_category", help="only report this category (repeatable)")
    parser.addini("audit_category", type="args", default=[], help="like --audit-category")
    group.addoption("--audit-baseline", metavar="FILE", dest="audit_baseline",
                    help="findings this baseline knows do not count toward --audit-fail-on")
    parser.addini("audit_baseline", default="", help="like --audit-baseline")
    group.addoption("--audit-timeline", metavar="PATH", dest="audit_timeline",
                    help="also write the Perfetto/Chrome trace of lock holds, waits and "
                         "external calls to PATH (not with xdist)")
    parser.addini("audit_timeline", default="", help="like --audit-timeline")


def _choice(config: pytest.Config, name: str, choices: tuple[str, ...], default: str) -> str:
    value = config.getoption(name)
    if value:
        return value
    value = config.getini(name) or default
    if value not in choices:
        raise pytest.UsageError(MSG_BAD_INI.format(name=name, value=value,
                                                   choices=", ".join(choices)))
    return value


def settings_from(config: pytest.Config) -> Settings:
    """Read and validate the options (``pytest.UsageError`` on a bad value)."""
    active = bool(config.getoption("audit") or config.getini("audit"))
    if not active:
        return Settings()
    from auditor.checks import categories as known

    from auditor import config as auditor_config
    from auditor.report import baseline

    here = config.invocation_params.dir
    try:   # [tool.auditor] / auditor.toml: under the command line and the ini file
        conf = auditor_config.discover(here)
    except auditor_config.ConfigError as e:
        raise pytest.UsageError(str(e)) from None
    report = config.getoption("audit_report") or config.getini("audit_report") or None
    fmt = _choice(config, "audit_format", FORMATS, format_for(report))
    fail_on = _choice(config, "audit_fail_on", FAIL_ON, conf["fail-on"])
    categories = tuple(config.getoption("audit_category") or config.getini("audit_category")
                       or conf["categories"])
    for name in categories:
        if name not in known():
            raise pytest.UsageError(MSG_BAD_CATEGORY.format(name=name,
                                                            choices=", ".join(known())))
    base = config.getoption("audit_baseline") or config.getini("audit_baseline") or None
    conf = conf.with_command_line({"fail-on": fail_on if fail_on != conf["fail-on"] else None,
                                   "baseline": str(here / base) if base else None})
    if conf["baseline"]:
        try:
            baseline.load(conf["baseline"])
        except baseline.BaselineError as e:
            raise pytest.UsageError(str(e)) from None
    timeline = config.getoption("audit_timeline") or config.getini("audit_timeline") or None
    if timeline and not (here / timeline).resolve().parent.is_dir():
        raise pytest.UsageError(f"cannot write {timeline!r}: its directory does not exist")
    return Settings(True, report, fmt, fail_on, categories,
                    str(here / timeline) if timeline else None, conf)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(rule, reason): drop the auditor's findings of RULE (a rule id "
                   "or a category) for this test; reason= is required")
    config.stash[_COMPAT_KEY] = NovaCompat()
    settings = settings_from(config)
    if settings.active:
        state = config.stash[STATE_KEY] = AuditState(settings)
        config.pluginmanager.register(_AuditPlugin(config, state), "auditor-active")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    config.stash[_COMPAT_KEY].adapt(items)


def pytest_unconfigure(config: pytest.Config) -> None:
    compat = config.stash.get(_COMPAT_KEY, None)
    if compat is not None:
        compat.restore()
    state = config.stash.get(STATE_KEY, None)
    if state is not None and state.session is not None:
        state.session.stop()
        state.session = None


@pytest.fixture
def audit(request: pytest.FixtureRequest) -> AuditHandle:
    """This test's view of the audit (``plant``, ``findings``, ``assert_none``, ``assert_one``);
    skips the test when the run is not audited.
    """
    state = request.config.stash.get(STATE_KEY, None)
    if state is None or state.session is None:
        pytest.skip(MSG_INACTIVE)
    return AuditHandle(state.session, run_id(request.node))


def _allowed(item: pytest.Item) -> tuple[str, ...]:
    rules = []
    for mark in item.iter_markers(MARKER):
        rule = mark.args[0] if len(mark.args) == 1 else mark.kwargs.get("rule")
        reason = mark.kwargs.get("reason")
        if (not isinstance(rule, str) or not rule or not isinstance(reason, str)
                or not reason.strip() or len(mark.args) > 1):
            raise pytest.UsageError(f"{item.nodeid}: {MSG_ALLOW_USAGE}")
        rules.append(rule)
    return tuple(rules)


def run_id(item: pytest.Item) -> str:
    """The test id for the report: pytest's node id; for a test file outside the rootdir
    (``--pyargs`` from another directory: node id ``::Class::test``) the path is
    prefixed, relative to its ``site-packages`` when installed there.
    """
    nodeid = item.nodeid
    if not nodeid.startswith("::"):
        return nodeid
    path = str(item.path).replace("\\", "/")
    head, sep, tail = path.rpartition("/site-packages/")
    return (tail if sep else path) + nodeid


def _timeline(state: AuditState) -> list:
    """The recorded timeline as a trace (empty when none was recorded)."""
    if state.spans is None:
        return []
    import shutil

    from auditor.tracing.trace_file import read_trace

    state.spans.close()
    try:
        return [read_trace(state.spans.path)]
    finally:
        shutil.rmtree(state.spans.path.rsplit("/", 1)[0], ignore_errors=True)


class _AuditPlugin:
    """The hooks of an audited run (registered only with --audit)."""

    def __init__(self, config: pytest.Config, state: AuditState) -> None:
        self.config = config
        self.state = state

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        from auditor.session import AuditConfig, AuditSession

        state = self.state
        if hasattr(self.config, "workerinput"):
            state.role = "worker"
        elif self.config.pluginmanager.has_plugin("dsession"):
            state.role = "controller"  # xdist: workers audit, this process merges
            return
        config = (AuditConfig(categories=frozenset(state.settings.categories))
                  if state.settings.categories else AuditConfig())
        if state.settings.timeline and state.role == "local":
            import tempfile

            from auditor.tracing.spans import SpanFile

            spans_dir = tempfile.mkdtemp(prefix="auditor-timeline-")
            state.spans = SpanFile(f"{spans_dir}/spans.jsonl", "pytest", "pytest --audit")
        state.session = AuditSession(
            config, observer=state.spans.observe if state.spans else None).start()

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            _allowed(item)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Generator[None, Any, Any]:
        self._begin(item)
        try:
            return (yield)
        finally:
            self._end()

    def _begin(self, item: pytest.Item) -> None:
        state, session = self.state, self.state.session
        if session is None:
            return
        if not state.conf_canaries:
            from auditor.nova.runtime import process_conf, seed_canaries

            conf = process_conf()
            if conf is not None:
                state.conf_canaries = True
                seed_canaries(session, conf, "pytest_plugin.conf_canaries")
        state.current, state.outcome, state.allowed = item.nodeid, "passed", _allowed(item)
        state.started = time.monotonic()
        session.begin_run(run_id(item))

    def _end(self) -> None:
        state, session = self.state, self.state.session
        if session is None or state.current is None:
            return
        allowed = state.allowed

        def drop(finding: "Finding") -> bool:
            return finding.rule.id in allowed or finding.category in allowed

        session.end_run(state.outcome, time.monotonic() - state.started,
                        drop=drop if allowed else None)
        state.current = None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        state = self.state
        if state.current is None or report.nodeid != state.current:
            return
        if report.failed:
            outcome = "failed" if report.when == "call" else "error"
        else:
            outcome = "skipped" if report.skipped else "passed"
        if _OUTCOME_RANK[outcome] > _OUTCOME_RANK[state.outcome]:
            state.outcome = outcome

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        data = getattr(node, "workeroutput", {}).get(WORKEROUTPUT_KEY)
        if data:
            self.state.worker_reports.append(json.loads(data))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        state = self.state
        if state.role == "controller":
            if state.worker_reports:
                from auditor.report.model import merge_reports

                state.report = merge_reports(state.worker_reports)
        elif state.session is not None:
            from auditor.nova.runtime import target

            state.report = state.session.report(target())
        if state.report is None:
            return
        if state.role == "worker":
            self.config.workeroutput[WORKEROUTPUT_KEY] = json.dumps(state.report)
            return
        from auditor.report.formats import render

        conf = state.settings.conf
        from auditor.report.baseline import apply_known

        state.report = apply_known(state.report, conf)
        traces = _timeline(state)
        options = {"docs": conf["docs-url"], "source_root": conf["source-root"]}
        if state.settings.report:
            path = self.config.invocation_params.dir / state.settings.report
            path.write_text(render(state.settings.fmt, state.report, traces, **options) + "\n",
                            encoding="utf-8")
            state.written = (str(path), state.settings.fmt)
        if traces:
            with open(state.settings.timeline, "w", encoding="utf-8") as f:
                f.write(render("perfetto", state.report, traces))
        if (session.exitstatus == pytest.ExitCode.OK
                and failing(state.report, state.settings.fail_on)):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        state = self.state
        if state.role == "worker":
            return
        terminalreporter.write_sep("=", TITLE)
        for line in summary_lines(state.report, fail_on=state.settings.fail_on,
                                  written=state.written):
            terminalreporter.write_line(line)
        if state.spans is not None:
            terminalreporter.write_line(f"timeline written to {state.settings.timeline} "
                                        f"(open in ui.perfetto.dev)")
