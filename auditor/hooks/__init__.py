"""Install and uninstall the recording hooks: they emit events to a sink and never judge.

Surfaces (one module each): ``logging_hook`` (log records at DEBUG), ``locks``
(oslo.concurrency locks), ``external_calls`` (placement and Ironic),
``tracker`` (ResourceTracker entry points and shared state, with
``containers``), ``wire`` (credentials and transport options of HTTP requests,
database connections and message-bus transports), ``config`` (``nova.config.parse_args``, tracing only). Every
wrapper step runs through ``recorder.guarded``: an auditor error becomes an
``auditor-error`` finding, never an exception in nova. Hook points in
modules not yet imported are applied when they are imported (wrapt
post-import hooks), so installing before or after importing nova gives the
same coverage.

State is audited on trackers constructed while hooks are installed, on live
trackers an earlier installation saw (adopted again at ``install``), and on
trackers handed to ``Installation.adopt``; a tracker built before any
installation is not found otherwise (no heap scan).
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Iterable

from auditor.events import Sink
from auditor.hooks import config, external_calls, locks, logging_hook, tracker, wire
from auditor.hooks.recorder import ErrorHandler, Recorder
from auditor.hooks.ledger import Ledger
from auditor.hooks.logging_hook import DEFAULT_LOGGERS
from auditor.nova.discipline import DEFAULT, Discipline

__all__ = ["install", "Installation", "DEFAULT_LOGGERS", "SURFACES"]

#: The hook surfaces by name, in install order: each a table of targets. ``install``
#: takes all of them by default (``config`` only with ``watch_config``); the
#: benchmarks install one at a time to attribute the overhead.
SURFACES = {
    "logging": logging_hook.TARGETS,
    "locks": locks.TARGETS,
    "external": external_calls.TARGETS,
    "wire": wire.TARGETS,
    "tracker-entry": tracker.ENTRY_TARGETS,
    "tracker-state": tracker.STATE_TARGETS,
    "config": config.TARGETS,
}

_guard = threading.Lock()
_active: "Installation | None" = None


class Installation:
    """The hooks of one ``install`` call; ``uninstall`` undoes all of it."""

    def __init__(self, rec: Recorder, ledger: Ledger, tracking: tracker.Tracking):
        self._rec = rec
        self._ledger = ledger
        self._tracking = tracking

    @property
    def missing(self) -> list[str]:
        """Hook points that could not be resolved (e.g. another nova version)."""
        return self._ledger.missing

    @property
    def active(self) -> bool:
        return self._rec.active

    def gate(self, point: Callable[[Any], None] | None) -> None:
        """Call ``point(event)`` on the emitting thread after each event (None: stop)."""
        self._rec.gate = point

    def new_run(self) -> None:
        """A run begins (a scenario, a test, a tracing window): events recorded once per run
        (``Recorder.first``) are recorded again."""
        self._rec.new_run()

    def adopt(self, rt: Any) -> None:
        """State-audit a ResourceTracker constructed before ``install``."""
        if self._rec.active:
            self._tracking.adopt(rt)

    def uninstall(self) -> None:
        """Restore every original by identity and unwrap live trackers; idempotent."""
        global _active
        with _guard:
            if not self._rec.active:
                return
            self._rec.active = False
            try:
                self._ledger.close()
                self._tracking.release()
            except Exception as exc:
                self._rec.error(exc, "uninstall")
            finally:
                if _active is self:
                    _active = None


def install(sink: Sink, *, discipline: Discipline = DEFAULT,
            capture_loggers: tuple[str, ...] = DEFAULT_LOGGERS, force_debug: bool = True,
            watch_config: bool = False, on_error: ErrorHandler | None = None,
            surfaces: Iterable[str] | None = None,
            ignore_threads: tuple[str, ...] = ()) -> Installation:
    """Wrap every hook point and send events to ``sink`` (synchronously, on the emitting thread).

    ``force_debug``: capture log records from DEBUG up even where the logging
    configuration drops them; False captures only the records it emits.
    ``watch_config``: also record ``nova.config.parse_args`` returning (``ConfigParsed``).
    ``on_error(exc, where)`` receives the auditor's own errors (and the sink's);
    they never reach the audited code. ``surfaces``: names of ``SURFACES`` to install
    (default: all). ``ignore_threads``: name prefixes of threads whose events never reach
    ``sink``; the hooks do no extra work for them (``Recorder.ignored``). Raises
    RuntimeError if hooks are already installed, ValueError on an unknown surface.
    """
    global _active
    chosen = set(SURFACES) if surfaces is None else set(surfaces)
    if not watch_config:
        chosen.discard("config")
    unknown = chosen - SURFACES.keys()
    if unknown:
        raise ValueError(f"unknown hook surface(s): {', '.join(sorted(unknown))}")
    with _guard:
        if _active is not None:
            raise RuntimeError("auditor hooks are already installed; uninstall them first")
        rec = Recorder(sink, on_error, ignore_threads)
        tracking = rec.extras["tracker"] = tracker.Tracking(
            rec, discipline, state="tracker-state" in chosen)
        logging_hook.configure(capture_loggers)
        ledger = rec.extras["ledger"] = Ledger(rec)
        _active = installation = Installation(rec, ledger, tracking)
    for name, targets in SURFACES.items():
        if name in chosen:
            emitted_only = name == "logging" and not force_debug
            ledger.apply(logging_hook.EMITTED_ONLY if emitted_only else targets)
    tracking.adopt_seen()
    if "wire" in chosen:
        wire.adopt(rec)
    return installation
