"""Tracing mode: an audit session inside a live process, writing one JSON-lines trace per process.

``start`` runs when the traced process imports ``nova`` (see ``auditor.tracing.bootstrap``);
the file format is ``auditor.tracing.trace_file``.
Checks run in the process. Log records are judged as the service's logging
configuration emits them (with ``debug``, from DEBUG up whatever it says: a
full audit's cost). The trace gets what the timeline and the report need:
lock holds (with wait and hold times), placement/Ironic calls, tracker
entry points, findings (flushed as they are judged, every ``interval`` seconds
and at exit) and coverage. Log records and state accesses are judged but not
written. The file is created 0600, written with one ``os.write`` per line,
reopened by forked children, and never holds a secret: the values of
``secret=True`` options become canaries once ``nova.config.parse_args`` returns,
and findings are redacted against every canary before they are written.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
from typing import Any

from auditor.events import CallEvent, ConfigParsed, ExitEvent, LogEvent
from auditor.nova.runtime import MODES, concurrency, nova_version, process_conf, seed_canaries
from auditor.tracing.environment import DEFAULT_INTERVAL_S, kill_file as default_kill_file
from auditor.tracing.spans import SpanRecorder
from auditor.tracing.trace_file import (SCHEMA, finding_fields, line_writer, open_exclusive,
                                        trace_path)

__all__ = ["Tracer", "start", "current", "DEFAULT_INTERVAL_S"]

#: Rules dropped at intermediate flushes: another thread may hold a lock right then.
_END_ONLY = ("lock-held/at-end",)

_current: "Tracer | None" = None


class Tracer:
    """One traced process: its session, its file, and the records between them."""

    def __init__(self, template: str, program: str, interval_s: float = DEFAULT_INTERVAL_S,
                 debug: bool = False, kill_file: str | None = None):
        """``kill_file``: stop at the next flush once it exists (default:
        ``environment.kill_file``)."""
        self.template = template
        self.program = program
        self.interval_s = interval_s
        self.debug = debug
        self.kill_file = kill_file or default_kill_file(template)
        self.path: str | None = None
        self.session = None
        self._fd: int | None = None
        self._log = None
        self._io = threading.Lock()
        self._flushing = threading.Lock()
        self._spans = SpanRecorder(self.write)
        self._reset_clock()
        self._stopped = False

    # -- lifecycle ------------------------------------------------------------------

    def _reset_clock(self) -> None:
        self.pid = os.getpid()
        self.run_id = f"{self.program}[pid={self.pid}]"
        self._mono0, self._wall0 = time.monotonic(), time.time()
        self._last_flush = self._mono0

    def start(self, canaries=None) -> "Tracer":
        """Open the trace, then install the hooks (through a fresh session).

        ``canaries``: a ``CanaryRegistry`` to start from (live mode adds the
        config's secrets to it once ``parse_args`` returns).
        """
        self._ensure_open()   # a file that cannot be created stops us before any hook
        self.session = _session(self, canaries)
        try:
            self.session.start()
            self.session.begin_run(self.run_id)
        except BaseException:
            self.session.stop()
            self._stopped = True
            raise
        return self

    def after_fork_in_child(self) -> None:
        """A forked child: its own file, fresh hooks and checks, nothing of the parent's."""
        old, self._fd, self._log = self._fd, None, None
        self._io, self._flushing = threading.Lock(), threading.Lock()
        self._spans.reset()
        self.path = None
        if old is not None:
            try:
                os.close(old)
            except OSError:
                pass
        self._reset_clock()
        if self._stopped or self.session is None:
            return
        canaries = self.session.canaries
        try:
            self.session.stop()
        except Exception:  # noqa: BLE001
            pass
        self.session = _session(self, canaries)
        self.session.start()
        self.session.begin_run(self.run_id)

    def close(self, reason: str = "exit") -> None:
        """Judge the last window, write the end record, uninstall; idempotent."""
        if self._stopped or self.session is None:
            return
        self.flush(final=True)
        self._stopped = True
        self.write("trace-end", reason=reason, t=time.monotonic(),
                   duration_s=round(time.monotonic() - self._mono0, 6))
        try:
            self.session.stop()
        finally:
            with self._io:
                if self._fd is not None:
                    os.close(self._fd)
                    self._fd, self._log = None, None

    # -- writing --------------------------------------------------------------------

    def _ensure_open(self) -> None:
        if self._log is not None:
            return
        with self._io:
            if self._log is not None:
                return
            self.path, self._fd = open_exclusive(trace_path(self.template, self.pid, self.program))
            self._log = line_writer(self._fd, self.pid)
        from auditor import __version__

        self.write("trace-start", schema=SCHEMA, program=self.program, ppid=os.getppid(),
                   run=self.run_id, wall=self._wall0, t=self._mono0, nova=nova_version(),
                   auditor=__version__, python=sys.version.split()[0],
                   interval_s=self.interval_s, debug=self.debug)

    def write(self, event: str, **fields: Any) -> None:
        """One line, written through and flushed before returning."""
        if self._stopped and event != "trace-end":
            return
        self._ensure_open()
        log = self._log
        if log is not None:
            log.msg(event, **fields)

    # -- events (called by the session's sink on the emitting thread) ------------------

    def observe(self, ev) -> None:
        kind = type(ev)
        if kind is ConfigParsed:
            _refresh_canaries(self.session)
        else:
            self._spans.observe(ev)
        # Flush between operations only (the emitting owner holds no lock).
        if (ev.t - self._last_flush >= self.interval_s and kind in (ExitEvent, CallEvent, LogEvent)
                and not ev.held):
            self.flush()

    # -- findings -------------------------------------------------------------------

    def flush(self, final: bool = False) -> None:
        """End the current window: judge it, write its findings and coverage, start the next."""
        if self.session is None or self._stopped:
            return
        if not self._flushing.acquire(blocking=final):
            return
        try:
            self._last_flush = now = time.monotonic()
            _refresh_canaries(self.session)
            drop = None if final else (lambda f: f.rule.id in _END_ONLY)
            found = self.session.end_run("passed", now - self._mono0, drop=drop)
            self.session.reset()
            secrets = self.session.canaries.secrets()
            for finding in found:
                self.write("finding", **finding_fields(finding, secrets))
            self.write("coverage", t=now, concurrency=concurrency() or MODES[0],
                       coverage=self.session.coverage.report(self.session.missing_hook_points),
                       events=dict(self.session.event_counts))
            if not final:
                self.session.begin_run(self.run_id)
                if os.path.exists(self.kill_file):
                    threading.Thread(target=self.close, args=("kill-file",), daemon=True,
                                     name="auditor-trace-stop").start()
        finally:
            self._flushing.release()


def _refresh_canaries(session) -> None:
    """Live mode: the values of nova's ``secret=True`` options are canaries (once parsed)."""
    conf = process_conf(parsed=True)
    if conf is not None:
        seed_canaries(session, conf, "trace.canaries")


def _session(tracer: Tracer, canaries=None):
    """An ``AuditSession`` whose events also feed ``tracer``."""
    from auditor.session import AuditConfig, AuditSession

    return AuditSession(AuditConfig(force_debug=tracer.debug, watch_config=True),
                        canaries=canaries, observer=tracer.observe)


def current() -> Tracer | None:
    """The process's tracer, if tracing started."""
    return _current


def start(template: str, program: str, *, interval_s: float = DEFAULT_INTERVAL_S,
          debug: bool = False, kill_file: str | None = None) -> Tracer:
    """Start tracing this process (once): hooks, trace file, fork and exit handlers."""
    global _current
    if _current is not None:
        return _current
    tracer = Tracer(template, program, interval_s, debug=debug, kill_file=kill_file).start()
    _current = tracer
    os.register_at_fork(after_in_child=_after_fork)
    atexit.register(_at_exit)
    return tracer


def _after_fork() -> None:
    try:
        if _current is not None:
            _current.after_fork_in_child()
    except Exception as exc:  # noqa: BLE001
        sys.stderr.write(f"auditor: tracing stopped in forked child: {exc}\n")


def _at_exit() -> None:
    try:
        if _current is not None:
            _current.close("exit")
    except Exception as exc:  # noqa: BLE001
        sys.stderr.write(f"auditor: trace not closed cleanly: {exc}\n")
