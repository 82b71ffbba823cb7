"""Timeline spans: lock holds (acquire and release paired per owner), placement and Ironic calls,
tracker entry points, as ``auditor.trace/1`` records; and a span-only trace file for the doors
that are not tracing (``auditor run --timeline``, ``pytest --audit-timeline``).

A span file is a valid ``auditor.trace/1`` file without findings: ``auditor report`` reads it,
the Perfetto and HTML renderers draw it.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Callable

from auditor.events import CallEvent, ExitEvent, LockEvent
from auditor.tracing.trace_file import SCHEMA, line_writer, open_exclusive, site_fields

__all__ = ["SpanRecorder", "SpanFile"]


class SpanRecorder:
    """Turns events into span records passed to ``write(event, **fields)``; call ``observe``
    from the emitting thread (holds are paired per owner and lock name)."""

    def __init__(self, write: Callable[..., None]):
        self._write = write
        self._holds: dict[tuple[int, str], list] = {}

    def reset(self) -> None:
        """Forget open holds (a forked child starts with none of its parent's)."""
        self._holds = {}

    def observe(self, ev) -> None:
        kind = type(ev)
        if kind is LockEvent:
            self._lock(ev)
        elif kind is CallEvent:
            self._write("call", surface=ev.surface, name=ev.name, t=ev.t - ev.duration_s,
                        dur_s=ev.duration_s, exc=ev.exc_type, owner=ev.owner,
                        thread=ev.thread, held=list(ev.held), site=site_fields(ev.site))
        elif kind is ExitEvent:
            self._write("entry", name=ev.name, t=ev.t - ev.duration_s, dur_s=ev.duration_s,
                        exc=ev.exc_type, owner=ev.owner, thread=ev.thread)

    def _lock(self, ev) -> None:
        key = (ev.owner, ev.name)
        if ev.action == "acquire":
            self._holds.setdefault(key, []).append((ev.t, ev.wait_s, ev.site))
            return
        stack = self._holds.get(key)
        if not stack:
            return   # acquired before recording started
        t0, wait_s, site = stack.pop()
        if not stack:
            self._holds.pop(key, None)
        self._write("lock", name=ev.name, t=t0, wait_s=wait_s, hold_s=ev.hold_s,
                    owner=ev.owner, thread=ev.thread, site=site_fields(site))


class SpanFile:
    """A span-only ``auditor.trace/1`` file (created 0600, one write per line); ``observe``
    is the sink to give the hooks or a session."""

    def __init__(self, path: str, program: str, run: str):
        from auditor import __version__
        from auditor.nova.runtime import nova_version

        self.path, fd = open_exclusive(path)
        self._fd: int | None = fd
        self._log = line_writer(fd, os.getpid())
        self._t0 = time.monotonic()
        self._recorder = SpanRecorder(self.write)
        self.observe = self._recorder.observe
        self.write("trace-start", schema=SCHEMA, program=program, ppid=os.getppid(), run=run,
                   wall=time.time(), t=self._t0, nova=nova_version(), auditor=__version__,
                   python=sys.version.split()[0])

    def write(self, event: str, **fields: Any) -> None:
        if self._fd is not None:
            self._log.msg(event, **fields)

    def close(self) -> None:
        """Write the end record and close; idempotent."""
        if self._fd is None:
            return
        now = time.monotonic()
        self.write("trace-end", reason="exit", t=now, duration_s=round(now - self._t0, 6))
        fd, self._fd = self._fd, None
        os.close(fd)
