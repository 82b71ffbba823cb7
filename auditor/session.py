"""An audit session: install hooks, take events, run fresh checks per run, collect findings.

The one object every front door (scenario runs, the pytest plugin, tracing,
benchmarks) drives, through its public methods only.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import threading
import traceback
from typing import Any, Callable, Mapping

from auditor import __version__
from auditor.canaries import CanaryRegistry
from auditor.checks import categories, make_checks
from auditor.checks.internal import AUDITOR_ERROR
from auditor.checks.registry import Check, RunContext
from auditor.coverage import CoverageCounter, universe
from auditor.events import Event, Site
from auditor.findings import Finding
from auditor.nova.discipline import DEFAULT, Discipline
from auditor.nova.expected import ENTRY_POINT_EXPECTED
from auditor.redact import Redactor
from auditor.report.model import build_report, finding_record

__all__ = ["AuditConfig", "AuditSession"]

#: events buffered before the emitting thread judges them: few enough that most die young
#: (promoted to the collector's oldest generation per audited pass at 100 nodes, over plain:
#: +15 % at 256, +10 % at 64, +8 % at 32 and at 16, where tracing, which judges at every
#: point between operations, is too; each promotion brings the next full collection closer)
_DRAIN_AT = 32
#: a check that fails this often in one run is switched off for the rest of it
CHECK_FAILURES_OFF = 10


@dataclasses.dataclass(frozen=True)
class AuditConfig:
    """What to audit. ``audit=False``: no hooks (a plain run), snapshots are still judged."""

    audit: bool = True
    categories: frozenset[str] = dataclasses.field(
        default_factory=lambda: frozenset(categories()))
    discipline: Discipline = DEFAULT
    expected: Mapping[str, tuple[str, ...]] = dataclasses.field(
        default_factory=lambda: dict(ENTRY_POINT_EXPECTED))
    wait_threshold_s: float = 1.0
    #: capture log records from DEBUG up whatever the logging configuration (tracing: False)
    force_debug: bool = True
    #: events from threads named so are not the audited process (in-process placement)
    ignore_threads: tuple[str, ...] = ("placement-server-",)
    #: also record ``nova.config.parse_args`` returning (tracing: the config's secrets)
    watch_config: bool = False
    #: the hook surfaces installed (``hooks.SURFACES`` names; None: all of them)
    surfaces: tuple[str, ...] | None = None


class AuditSession:
    """Hooks in, findings out. One per process; runs are scenarios or tests."""

    def __init__(self, config: AuditConfig | None = None,
                 canaries: CanaryRegistry | None = None,
                 observer: Callable[[Event], None] | None = None):
        """``observer``: also called with each event, on the emitting thread (the tracer, a
        timeline); its errors become ``auditor-error`` findings."""
        self.config = config or AuditConfig()
        self._observer = observer
        self.canaries = canaries or CanaryRegistry()
        self.findings: list[Finding] = []
        self.runs: list[dict] = []
        self.event_counts: collections.Counter[str] = collections.Counter()
        self.coverage = CoverageCounter(universe())
        self._installation = None
        self._buffer: collections.deque[Event] = collections.deque()
        self._drain_lock = threading.Lock()
        self._checks: list[Check] = []
        self._counted: list[Check] = []   # the checks with a ``made`` count (``fresh``)
        self._context: RunContext | None = None
        #: event type -> the checks that observe it (by their ``EVENTS``)
        self._dispatch: dict[type, list[Check]] = {}
        self._pending: list[Finding] = []
        self._made = 0   # distinct findings made this run when ``fresh`` last looked
        self._run_id = ""
        self.redactor = Redactor(self.canaries)
        #: where -> [index in _pending of its one auditor-error finding, count] (this run)
        self._errors: dict[str, list[int]] = {}
        self._errors_lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> "AuditSession":
        if self.config.audit and self._installation is None:
            from auditor import hooks

            self._installation = hooks.install(
                self.sink, discipline=self.config.discipline,
                force_debug=self.config.force_debug, watch_config=self.config.watch_config,
                on_error=self.internal_error, surfaces=self.config.surfaces,
                ignore_threads=self.config.ignore_threads)
        return self

    def stop(self) -> None:
        if self._installation is not None:
            self._installation.uninstall()
            self._installation = None

    def adopt(self, tracker) -> None:
        """State-audit a ResourceTracker built before ``start`` (see ``Installation.adopt``)."""
        if self._installation is not None:
            self._installation.adopt(tracker)

    def gate(self, point: Callable[[Event], None] | None) -> bool:
        """Route every hook event through ``point`` (the explorer); False when not auditing."""
        if self._installation is None:
            return False
        self._installation.gate(point)
        return True

    @property
    def missing_hook_points(self) -> list[str]:
        return list(getattr(self._installation, "missing", []) or [])

    # -- events --------------------------------------------------------------------

    def sink(self, event: Event) -> None:
        """Called by hooks from any thread (not ``ignore_threads``'); cheap, never raises."""
        self._buffer.append(event)
        if self._observer is not None:
            try:
                self._observer(event)
            except Exception as exc:  # noqa: BLE001 - the audited code never sees our errors
                self.internal_error(exc, "session.observer")
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
                    c for c in self._checks if issubclass(kind, c.EVENTS)]
            for check in checks:
                try:
                    found = check.observe(event)
                    if found:
                        self._pending.extend(found)
                except Exception as exc:  # noqa: BLE001 - a broken check must not stop the run
                    where = f"{type(check).__name__}.observe"
                    if self.internal_error(exc, where) >= CHECK_FAILURES_OFF:
                        self._switch_off(check)

    def _switch_off(self, check: Check) -> None:
        """Stop dispatching events to ``check`` for the rest of the run."""
        self._checks = [c for c in self._checks if c is not check]
        self._counted = [c for c in self._counted if c is not check]
        for checks in self._dispatch.values():
            if check in checks:
                checks.remove(check)

    def internal_error(self, exc: BaseException, where: str) -> int:
        """An auditor failure becomes a finding, never an exception in the audited code.

        One finding per ``where`` and run, its ``count`` evidence growing; the
        message is redacted (it may quote audited data). Returns the count.
        """
        with self._errors_lock:
            seen = self._errors.get(where)
            if (seen is not None and seen[0] < len(self._pending)
                    and self._pending[seen[0]].key == where):
                seen[1] += 1
                old = self._pending[seen[0]]
                self._pending[seen[0]] = dataclasses.replace(
                    old, evidence={**old.evidence, "count": str(seen[1])})
                return seen[1]
            tb = traceback.extract_tb(exc.__traceback__)
            last = tb[-1] if tb else None
            site = Site(_relative(last.filename) if last else "auditor",
                        last.lineno if last else 0, where)
            message = self.redactor.text(f"{type(exc).__name__} in {where}: {exc}")[:300]
            self._errors[where] = [len(self._pending), 1]
            self._pending.append(Finding(
                AUDITOR_ERROR, message, site,
                {"where": where, "exception": type(exc).__name__, "count": "1"}, key=where))
            return 1

    # -- runs ------------------------------------------------------------------------

    def begin_run(self, run_id: str) -> None:
        with self._drain_lock:
            self._drain()
            self._run_id = run_id
            self._context = RunContext(run_id, self.canaries, self.config.discipline,
                                       self.config.expected, self.config.wait_threshold_s)
            self._checks = make_checks(self._context)
            self._counted = [c for c in self._checks if hasattr(type(c), "made")]
            self._dispatch = {}
            self._errors = {}
            if self._installation is not None:
                self._installation.new_run()

    def preview(self) -> list[Finding]:
        """The current run's findings as ``end_run`` would return them now, without ending it.

        Checks are judged on deep copies (their ``RunContext``'s objects shared,
        not copied), so the run goes on unchanged. End-of-run
        rules see the moment of the call: a lock held right now counts as held.
        """
        with self._drain_lock:
            self._drain()
            found = list(self._pending)
            ctx = self._context
            shared = [] if ctx is None else [getattr(ctx, f.name)
                                             for f in dataclasses.fields(ctx)]
            for check in self._checks:
                try:
                    found.extend(copy.deepcopy(check, {id(o): o for o in shared}).finish())
                except Exception as exc:  # noqa: BLE001 - a preview must not break the test
                    self.internal_error(exc, f"{type(check).__name__}.preview")
        return [dataclasses.replace(f, run=self._run_id) for f in found
                if f.category in self.config.categories]

    def end_run(self, outcome: str, duration_s: float, *,
                drop: Callable[[Finding], bool] | None = None, **fields: Any) -> list[Finding]:
        """Judge the run's events; return its findings (also kept for the report).

        ``drop``: findings it returns true for are discarded (pytest's ``audit_allow``).
        ``fields``: extra keys of the report's run entry (a scenario's ``errors``, ``stats``).
        """
        if self._installation is not None:
            self._scan_loaded_code()
        with self._drain_lock:
            self._drain()
            found, self._pending, self._made = self._pending, [], 0
            self._errors = {}
            for check in self._checks:
                try:
                    found.extend(check.finish())
                except Exception as exc:  # noqa: BLE001
                    self.internal_error(exc, f"{type(check).__name__}.finish")
                    found.extend(self._pending)
                    self._pending, self._errors = [], {}
            self._checks, self._counted = [], []
            self._dispatch = {}
        found = [dataclasses.replace(f, run=self._run_id) for f in found
                 if f.category in self.config.categories and not (drop and drop(f))]
        self.findings.extend(found)
        self.runs.append({"id": self._run_id, "outcome": outcome,
                          "duration_s": round(duration_s, 3), **fields})
        return found

    def _scan_loaded_code(self) -> None:
        """Once per run: the literals of the tracker's, driver's and client's loaded code."""
        from auditor.events import stamp
        from auditor.hooks import loaded_code

        try:
            self.sink(loaded_code.collect(stamp()))
        except Exception as exc:  # noqa: BLE001 - the scan must not break the run
            self.internal_error(exc, "loaded_code.collect")

    def fresh(self) -> list[Finding]:
        """The current run's findings as ``preview`` gives them, if one was made since the
        last call (a check's ``made``, its count of distinct findings, grew), else none.
        Judges the buffered events first; skipped while another thread is judging."""
        if not self._drain_lock.acquire(blocking=False):
            return []
        try:
            self._drain()
            made = len(self._pending)
            for check in self._counted:
                made += check.made
            if made == self._made:
                return []
            self._made = made
        finally:
            self._drain_lock.release()
        return self.preview()

    def busy(self) -> bool:
        """Whether some thread is judging events right now (a signal handler must not wait)."""
        return self._drain_lock.locked()

    def reset(self) -> None:
        """Forget the findings and runs kept so far (a tracer wrote them out)."""
        with self._drain_lock:
            self.findings.clear()
            self.runs.clear()

    def statistics(self) -> dict[str, int]:
        """Entries held by the session and its current checks (what could grow with a run)."""
        sizes = {"buffer": len(self._buffer), "pending": len(self._pending)}
        for check in self._checks:
            name = type(check).__name__
            for attr, value in vars(check).items():
                if isinstance(value, (dict, list, set)):
                    sizes[f"{name}.{attr}"] = len(value)
        return sizes

    def report(self, target: Mapping[str, str]) -> dict:
        """The JSON report (schema ``auditor.report/1``) of everything so far."""
        with self._drain_lock:
            self._drain()
        return self.redactor.report(build_report(
            findings=map(finding_record, self.findings), runs=self.runs,
            coverage=self.coverage.report(self.missing_hook_points),
            target=dict(target), events=dict(self.event_counts), tool_version=__version__))


def _relative(path: str) -> str:
    for marker in ("/site-packages/", "/auditor/"):
        if marker in path:
            head, _, tail = path.rpartition(marker)
            return ("auditor/" if marker == "/auditor/" else "") + tail
    return path
