"""An audit session: install hooks, take events, run fresh checks per run, collect findings."""

from __future__ import annotations

import collections
import copy
import dataclasses
import threading
import traceback
from typing import Callable, Iterable, Mapping

from auditor import __version__
from auditor.canaries import CanaryRegistry
from auditor.checks.accounting import AccountingCheck
from auditor.checks.exceptions import ExceptionsCheck
from auditor.checks.input_validation import InputValidationCheck
from auditor.checks.locking import LockingCheck
from auditor.checks.secrets_scan import Scanner
from auditor.checks.sensitive_log import SensitiveLogCheck
from auditor.coverage import CoverageCounter, definition_line, universe
from auditor.discipline import DEFAULT, ENTRY_POINT_EXPECTED, Discipline
from auditor.events import Event, Site
from auditor.findings import Finding, Rule, Severity
from auditor.report.model import build_report

__all__ = ["AuditConfig", "AuditSession", "AUDITOR_ERROR", "CATEGORIES"]

AUDITOR_ERROR = Rule("auditor-error/internal", Severity.LOW,
                     "The auditor itself failed; the audited code was not affected")
CATEGORIES = ("sensitive-log", "unheld-lock", "lock-order", "lock-held", "lock-io",
              "lock-wait", "leaked-exception", "accounting", "input-validation", "auditor-error")
_DRAIN_AT = 4096


@dataclasses.dataclass(frozen=True)
class AuditConfig:
    """What to audit. ``audit=False``: no hooks (a plain run), snapshots are still judged."""

    audit: bool = True
    categories: frozenset[str] = frozenset(CATEGORIES)
    discipline: Discipline = DEFAULT
    expected: Mapping[str, tuple[str, ...]] = dataclasses.field(
        default_factory=lambda: dict(ENTRY_POINT_EXPECTED))
    wait_threshold_s: float = 1.0
    #: capture log records from DEBUG up whatever the logging configuration (tracing: False)
    force_debug: bool = True
    #: events from threads named so are not the audited process (in-process placement)
    ignore_threads: tuple[str, ...] = ("placement-server-",)


class AuditSession:
    """Hooks in, findings out. One per process; runs are scenarios or tests."""

    def __init__(self, config: AuditConfig = AuditConfig(), canaries: CanaryRegistry | None = None):
        self.config = config
        self.canaries = canaries or CanaryRegistry()
        self.findings: list[Finding] = []
        self.runs: list[dict] = []
        self.event_counts: collections.Counter[str] = collections.Counter()
        self.coverage = CoverageCounter(universe())
        self._installation = None
        self._buffer: collections.deque[Event] = collections.deque()
        self._drain_lock = threading.Lock()
        self._checks: list = []
        #: event type -> the checks that observe it (a check's ``EVENTS``; all if it has none)
        self._dispatch: dict[type, list] = {}
        self._pending: list[Finding] = []
        self._run_id = ""

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> "AuditSession":
        if self.config.audit and self._installation is None:
            from auditor import hooks

            self._installation = hooks.install(
                self.sink, discipline=self.config.discipline,
                force_debug=self.config.force_debug, on_error=self.internal_error)
        return self

    def stop(self) -> None:
        if self._installation is not None:
            self._installation.uninstall()
            self._installation = None

    def adopt(self, tracker) -> None:
        """State-audit a ResourceTracker built before ``start`` (see ``Installation.adopt``)."""
        if self._installation is not None:
            self._installation.adopt(tracker)

    @property
    def missing_hook_points(self) -> list[str]:
        return list(getattr(self._installation, "missing", []) or [])

    # -- events --------------------------------------------------------------------

    def sink(self, event: Event) -> None:
        """Called by hooks from any thread; cheap, never raises."""
        if event.thread.startswith(self.config.ignore_threads):
            return
        self._buffer.append(event)
        if len(self._buffer) >= _DRAIN_AT and self._drain_lock.acquire(blocking=False):
            try:
                self._drain()
            finally:
                self._drain_lock.release()

    def _drain(self) -> None:
        while self._buffer:
            event = self._buffer.popleft()
            self.event_counts[type(event).__name__] += 1
            self.coverage.observe(event)
            kind = type(event)
            checks = self._dispatch.get(kind)
            if checks is None:
                checks = self._dispatch[kind] = [
                    c for c in self._checks
                    if getattr(c, "EVENTS", None) is None or issubclass(kind, c.EVENTS)]
            for check in checks:
                try:
                    found = check.observe(event)
                    if found:
                        self._pending.extend(found)
                except Exception as exc:  # noqa: BLE001 - a broken check must not stop the run
                    self.internal_error(exc, f"{type(check).__name__}.observe")

    def internal_error(self, exc: BaseException, where: str) -> None:
        """An auditor failure becomes a finding, never an exception in the audited code."""
        tb = traceback.extract_tb(exc.__traceback__)
        last = tb[-1] if tb else None
        site = Site(_relative(last.filename) if last else "auditor", last.lineno if last else 0,
                    where)
        self._pending.append(Finding(
            AUDITOR_ERROR, f"{type(exc).__name__} in {where}: {exc}"[:300], site,
            {"where": where, "exception": type(exc).__name__}, key=where))

    # -- runs ------------------------------------------------------------------------

    def begin_run(self, run_id: str) -> None:
        with self._drain_lock:
            self._drain()
            self._run_id = run_id
            self._checks = [
                SensitiveLogCheck(self.canaries, run=run_id),
                LockingCheck(self.config.discipline, self.config.wait_threshold_s),
                ExceptionsCheck(self.canaries, self.config.expected),
                AccountingCheck(),
                InputValidationCheck(),
            ]
            self._dispatch = {}

    def preview(self) -> list[Finding]:
        """The current run's findings as ``end_run`` would return them now, without ending it.

        Checks are judged on deep copies (the canary registry, discipline and
        scanners shared, not copied), so the run goes on unchanged. End-of-run
        rules see the moment of the call: a lock held right now counts as held.
        """
        with self._drain_lock:
            self._drain()
            found = list(self._pending)
            for check in self._checks:
                shared = [self.canaries, self.config.discipline, self.config.expected,
                          *(v for v in vars(check).values() if isinstance(v, Scanner))]
                try:
                    found.extend(copy.deepcopy(check, {id(o): o for o in shared}).finish())
                except Exception as exc:  # noqa: BLE001 - a preview must not break the test
                    self.internal_error(exc, f"{type(check).__name__}.preview")
        return [dataclasses.replace(f, run=self._run_id) for f in found
                if f.category in self.config.categories]

    def end_run(self, outcome: str, duration_s: float, *,
                drop: Callable[[Finding], bool] | None = None) -> list[Finding]:
        """Judge the run's events; return its findings (also kept for the report).

        ``drop``: findings it returns true for are discarded (pytest's ``audit_allow``).
        """
        with self._drain_lock:
            self._drain()
            found, self._pending = self._pending, []
            for check in self._checks:
                try:
                    found.extend(check.finish())
                except Exception as exc:  # noqa: BLE001
                    self.internal_error(exc, f"{type(check).__name__}.finish")
                    found.extend(self._pending)
                    self._pending = []
            self._checks = []
            self._dispatch = {}
        found = [dataclasses.replace(f, run=self._run_id) for f in found
                 if f.category in self.config.categories and not (drop and drop(f))]
        self.findings.extend(found)
        self.runs.append({"id": self._run_id, "outcome": outcome,
                          "duration_s": round(duration_s, 3)})
        return found

    def report(self, target: Mapping[str, str]) -> dict:
        """The JSON report (schema ``auditor.report/1``) of everything so far."""
        with self._drain_lock:
            self._drain()
        return build_report(findings=self.findings, runs=self.runs,
                            coverage=self.coverage.report(self.missing_hook_points),
                            target=dict(target), events=dict(self.event_counts),
                            tool_version=__version__)


def _located(site: Site) -> Site:
    """Checks that judge a whole function give line 0; point at its ``def`` instead."""
    if site.line:
        return site
    return dataclasses.replace(site, line=definition_line(site.path, site.function))


def _relative(path: str) -> str:
    for marker in ("/site-packages/", "/auditor/"):
        if marker in path:
            head, _, tail = path.rpartition(marker)
            return ("auditor/" if marker == "/auditor/" else "") + tail
    return path
