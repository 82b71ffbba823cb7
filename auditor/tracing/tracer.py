"""Tracing mode: an audit session inside a live process, writing one JSON-lines trace per process.

``start`` runs when the traced process imports ``nova`` (see ``auditor.tracing.bootstrap``);
the file format is ``auditor.tracing.trace_file``.
Checks run in the process. Log records are judged as the service's logging
configuration emits them (with ``debug``, from DEBUG up whatever it says: a
full audit's cost). The trace gets what the timeline and the report need:
lock holds (with wait and hold times), placement/Ironic calls, tracker
entry points, findings (flushed as they are judged, every ``interval`` seconds
and at exit) and coverage. Log records and state accesses are judged but not
written. The file is created 0600, written with one ``os.write`` per line (span
lines: together, at the first point between operations ``SPAN_DELAY_S`` after the
oldest was recorded, and at every flush, signal and exit), reopened by forked
children, and never holds a secret: the values of ``secret=True`` options become
canaries once ``nova.config.parse_args`` returns, the secrets of
``AUDITOR_SECRETS_FILE`` are watched as keyed hashes, and findings are redacted
against every canary before they are written.
"""

from __future__ import annotations

import atexit
import collections
import functools
import os
import signal
import sys
import threading
import time
from typing import Any

from auditor.events import CallEvent, ConfigParsed, ExitEvent, LockEvent, LogEvent
from auditor.nova.runtime import MODES, concurrency, nova_version, process_conf, seed_canaries
from auditor.tracing.environment import (DEFAULT_INTERVAL_S, KEEP, kill_file as default_kill_file,
                                         kill_file_set, max_bytes, untrusted)
from auditor.tracing.spans import SpanRecorder
from auditor.tracing.trace_file import (SCHEMA, finding_fields, line_writer, open_exclusive,
                                        trace_path)

__all__ = ["Tracer", "start", "current", "DEFAULT_INTERVAL_S"]

#: Rules dropped at intermediate flushes: another thread may hold a lock right then.
_END_ONLY = ("lock-held/at-end",)
#: Events that end an operation: with no lock held, a point between operations, where new
#: findings are looked for and a window may end (not after every event: a lock acquire,
#: a state access or an entry is inside an operation; the checks see them all the same).
_ENDS = (ExitEvent, CallEvent, LogEvent)
#: Span lines wait at most this long (until a point between operations) to be written
#: together: one ``os.write`` per span line cost ~1 point of a 100-node traced pass.
SPAN_DELAY_S = 0.5

_current: "Tracer | None" = None


class Tracer:
    """One traced process: its session, its file, and the records between them."""

    def __init__(self, template: str, program: str, interval_s: float = DEFAULT_INTERVAL_S,
                 debug: bool = False, kill_file: str | None = None,
                 surfaces: tuple[str, ...] | None = None):
        """``kill_file``: stop at the next flush once it exists (default:
        ``environment.kill_file``). ``surfaces``: the hook surfaces (default: all;
        ``auditor trace --surfaces``; the benchmarks trace one at a time)."""
        self.template = template
        self.program = program
        self.interval_s = interval_s
        self.debug = debug
        self.surfaces = surfaces
        self.kill_file = kill_file or default_kill_file(template)
        self.path: str | None = None
        self.session = None
        self._fd: int | None = None
        self._log = None
        self._io = threading.Lock()
        self._flushing = threading.Lock()
        self._spans = SpanRecorder(self._span)
        self._span_lines: collections.deque[tuple[str, dict]] = collections.deque()
        self._span_t = 0.0   # when the oldest waiting span line was recorded
        self._written: set[str] = set()    # fingerprints on file: later ones wait for a flush
        self._carry: dict[str, tuple[dict, int]] = {}   # fingerprint -> (last line, windows)
        self._segment = 0
        self.max_bytes = max_bytes()
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
        why = untrusted(os.path.dirname(os.path.abspath(self.template)))
        if why:
            raise PermissionError(f"trace directory refused: {why}")
        session = _session(self, canaries)
        session.canaries.add_file()   # a secrets file readable by others stops us here
        self._ensure_open()   # a file that cannot be created stops us before any hook
        self.session = session
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
        self._span_lines = collections.deque()   # the parent's: the parent writes them
        self._written, self._carry, self._segment = set(), {}, 0
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
        self._write_spans()
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
        self._head()

    def _head(self) -> None:
        from auditor import __version__

        extra = {"segment": self._segment} if self._segment else {}
        if self.surfaces is not None:
            extra["surfaces"] = list(self.surfaces)
        self.write("trace-start", schema=SCHEMA, program=self.program, ppid=os.getppid(),
                   run=self.run_id, wall=self._wall0, t=self._mono0, nova=nova_version(),
                   auditor=__version__, python=sys.version.split()[0],
                   interval_s=self.interval_s, debug=self.debug, **extra)

    def _rotate(self) -> None:
        """Past ``max_bytes``: the file becomes ``PATH.old1`` (older ones shift up, ``KEEP``
        kept) and a new ``PATH`` starts with every finding so far (``carried``: windows)."""
        with self._io:
            if self._fd is None or os.fstat(self._fd).st_size < self.max_bytes:
                return
            os.close(self._fd)
            for n in range(KEEP, 1, -1):   # the oldest is replaced: KEEP stay
                try:
                    os.replace(f"{self.path}.old{n - 1}", f"{self.path}.old{n}")
                except FileNotFoundError:
                    pass
            os.replace(self.path, f"{self.path}.old1")
            self._fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_APPEND
                               | getattr(os, "O_CLOEXEC", 0), 0o600)
            self._log = line_writer(self._fd, self.pid)
        self._segment += 1
        self._head()
        for fields, windows in self._carry.values():
            self.write("finding", carried=windows, **fields)

    def _span(self, event: str, **fields: Any) -> None:
        """Keep a span line's fields for ``_write_spans``, which encodes them."""
        if self._stopped:
            return
        if not self._span_lines:
            self._span_t = time.monotonic()
        self._span_lines.append((event, fields))

    def _write_spans(self) -> None:
        """Encode the waiting span lines and write them in one ``os.write`` (each line whole):
        encoded together, not one by one between the audited code's operations."""
        waiting, batch = self._span_lines, []
        while waiting:
            batch.append(waiting.popleft())
        if not batch:
            return
        self._ensure_open()
        log = self._log
        if log is not None:
            line = log.line
            log.lines([line(event, **fields) for event, fields in batch])

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
            self._announce()
            return
        self._spans.observe(ev)
        if kind in _ENDS and not ev.held:
            # Between operations (the emitting owner holds no lock): judge, maybe flush.
            self._announce()
            if ev.t - self._last_flush >= self.interval_s:
                self.flush()
        elif kind is LockEvent and ev.action == "release" and ev.held == (ev.name,):
            self._announce()   # the owner's last lock is being released
        else:
            return
        if self._span_lines and ev.t - self._span_t >= SPAN_DELAY_S:
            self._write_spans()

    # -- findings -------------------------------------------------------------------

    def _announce(self) -> None:
        """Write each finding never written before at the first point between operations
        after a check makes it (durable from then on: a SIGKILL cannot take it back), marked
        ``first_seen``: the flush writes it again with its counts, and readers keep that
        one instead."""
        if not self._flushing.acquire(blocking=False):
            return   # a flush is writing them
        try:
            for finding in self.session.fresh():
                fp = finding.fingerprint
                if fp in self._written or finding.rule.id in _END_ONLY:
                    continue
                self._written.add(fp)
                self.write("finding", first_seen=True,
                           **finding_fields(finding, self.session.redactor))
        finally:
            self._flushing.release()

    def on_signal(self, signum: int, final: bool) -> None:
        """SIGTERM/SIGINT: flush (``final``: close, the process is about to end). Skipped
        when this thread is judging or flushing right now (waiting would hang the host);
        the findings made so far are on file already."""
        if not self._can_write_now():
            return
        if final:
            self.close(f"signal {signal.Signals(signum).name}")
        else:
            self.flush()

    def end_now(self, reason: str) -> None:
        """The process ends without atexit (``os._exit``): close, unless that could hang."""
        if self._can_write_now():
            self.close(reason)

    def _can_write_now(self) -> bool:
        if self.session is None or self._stopped or self.session.busy():
            return False
        if not self._flushing.acquire(blocking=False):
            return False
        self._flushing.release()
        return True

    def flush(self, final: bool = False) -> None:
        """End the current window: judge it, write its findings and coverage, start the next."""
        if self.session is None or self._stopped:
            return
        if not self._flushing.acquire(blocking=final):
            return
        try:
            self._write_spans()
            self._last_flush = now = time.monotonic()
            _refresh_canaries(self.session)
            drop = None if final else (lambda f: f.rule.id in _END_ONLY)
            found = self.session.end_run("passed", now - self._mono0, drop=drop)
            self.session.reset()
            for finding in found:
                fp = finding.fingerprint
                self._written.add(fp)
                fields = finding_fields(finding, self.session.redactor)
                self._carry[fp] = (fields, self._carry.get(fp, ({}, 0))[1] + 1)
                self.write("finding", **fields)
            self.write("coverage", t=now, concurrency=concurrency() or MODES[0],
                       coverage=self.session.coverage.report(self.session.missing_hook_points),
                       events=dict(self.session.event_counts))
            if not final:
                self.session.begin_run(self.run_id)
                self._rotate()
        finally:
            self._flushing.release()
        if not final and kill_file_set(self.kill_file):
            self.close("kill-file")   # here, on the emitting thread: no helper thread to wait for


def _refresh_canaries(session) -> None:
    """Live mode: the values of nova's ``secret=True`` options are canaries (once parsed)."""
    conf = process_conf(parsed=True)
    if conf is not None:
        seed_canaries(session, conf, "trace.canaries")


def _session(tracer: Tracer, canaries=None):
    """An ``AuditSession`` whose events also feed ``tracer``."""
    from auditor.session import AuditConfig, AuditSession

    surfaces = None if tracer.surfaces is None else (*tracer.surfaces, "config")
    return AuditSession(AuditConfig(force_debug=tracer.debug, watch_config=True,
                                    surfaces=surfaces),
                        canaries=canaries, observer=tracer.observe)


def current() -> Tracer | None:
    """The process's tracer, if tracing started."""
    return _current


def start(template: str, program: str, *, interval_s: float = DEFAULT_INTERVAL_S,
          debug: bool = False, kill_file: str | None = None,
          surfaces: tuple[str, ...] | None = None) -> Tracer:
    """Start tracing this process (once): hooks (``surfaces``: default all), trace file,
    fork and exit handlers."""
    global _current
    if _current is not None:
        return _current
    tracer = Tracer(template, program, interval_s, debug=debug, kill_file=kill_file,
                    surfaces=surfaces).start()
    _current = tracer
    os.register_at_fork(after_in_child=_after_fork)
    atexit.register(_at_exit)
    _chain_signals()
    _close_before_os_exit()
    return tracer


#: Signals that end a service: flushed, then handled as before.
SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _chain_signals() -> None:
    """Put a flushing handler in front of the host's SIGTERM/SIGINT handlers (main thread
    only; a handler the host sets later replaces ours, and findings are on file anyway)."""
    for signum in SIGNALS:
        try:
            previous = signal.getsignal(signum)
            if previous is not None:   # None: set outside Python, left alone
                signal.signal(signum, functools.partial(_on_signal, previous))
        except (ValueError, OSError):
            return   # not the main thread


def _on_signal(previous, signum, frame) -> None:
    """Flush, then do what the host's handler ``previous`` would have done."""
    try:
        if _current is not None:
            _current.on_signal(signum, final=previous == signal.SIG_DFL)
    except Exception as exc:  # noqa: BLE001
        sys.stderr.write(f"auditor: trace not flushed at signal {signum}: {exc}\n")
    if previous == signal.SIG_IGN:
        return
    if callable(previous):
        previous(signum, frame)
        return
    signal.signal(signum, signal.SIG_DFL)   # the default action: die of this signal
    os.kill(os.getpid(), signum)


def _after_fork() -> None:
    try:
        if _current is not None:
            _current.after_fork_in_child()
    except Exception as exc:  # noqa: BLE001
        sys.stderr.write(f"auditor: tracing stopped in forked child: {exc}\n")


def _close_before_os_exit() -> None:
    """``os._exit`` runs no atexit handler; nova's threading-mode services end that way
    (cotyledon's worker, after its own SIGTERM handler replaced ours): close the trace
    first, then exit as asked."""
    real_exit = os._exit

    @functools.wraps(real_exit)
    def _exit(status):
        try:
            if _current is not None:
                _current.end_now("os._exit")
        except Exception as exc:  # noqa: BLE001
            sys.stderr.write(f"auditor: trace not closed cleanly: {exc}\n")
        real_exit(status)

    os._exit = _exit


def _at_exit() -> None:
    try:
        if _current is not None:
            _current.close("exit")
    except Exception as exc:  # noqa: BLE001
        sys.stderr.write(f"auditor: trace not closed cleanly: {exc}\n")
