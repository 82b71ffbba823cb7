"""The environment variables that configure tracing (set by ``auditor trace``, read at start-up)."""

from __future__ import annotations

import os
import stat
import sys

__all__ = ["ENV_TRACE", "ENV_DISABLE", "ENV_DISABLE_FILE", "ENV_EXCLUDE", "ENV_INTERVAL",
           "ENV_DEBUG", "ENV_SURFACES", "ENV_HOME", "ENV_MAX_BYTES", "DEFAULT_MAX_BYTES", "KEEP", "max_bytes", "DEFAULT_EXCLUDE", "KILL_FILE_NAME", "DEFAULT_INTERVAL_S",
           "truthy", "kill_file", "kill_file_set", "untrusted", "interval", "surfaces"]

ENV_TRACE = "AUDITOR_TRACE"                  # trace path template; its presence turns tracing on
ENV_DISABLE = "AUDITOR_TRACE_DISABLE"        # kill switch: any value but "", "0", "false", "no"
ENV_DISABLE_FILE = "AUDITOR_TRACE_DISABLE_FILE"  # kill switch file (default: next to the trace)
ENV_EXCLUDE = "AUDITOR_TRACE_EXCLUDE"        # extra program names (fnmatch patterns), comma-separated
ENV_INTERVAL = "AUDITOR_TRACE_INTERVAL"      # seconds between finding flushes (default 60)
ENV_DEBUG = "AUDITOR_TRACE_DEBUG"            # capture DEBUG records logging drops (full audit cost)
ENV_SURFACES = "AUDITOR_TRACE_SURFACES"      # hook surfaces, comma-separated (default: all)
ENV_MAX_BYTES = "AUDITOR_TRACE_MAX_BYTES"    # rotate a trace file past this size
ENV_HOME = "AUDITOR_TRACE_HOME"              # where ``auditor`` is, for interpreters lacking it

#: Programs never traced: installers and the auditor's own command.
DEFAULT_EXCLUDE = ("pip", "pip3", "pip3.*", "auditor", "auditor.cli")
KILL_FILE_NAME = "auditor-trace.disable"

DEFAULT_INTERVAL_S = 60.0
#: A trace file is rotated at the first flush after it passes this size; ``KEEP`` old ones stay.
DEFAULT_MAX_BYTES = 64 * 2**20
KEEP = 3

_FALSE = ("", "0", "false", "no", "off")


def truthy(name: str) -> bool:
    """Whether environment variable ``name`` is set to anything but "", "0", "false", "no", "off"."""
    return os.environ.get(name, "").strip().lower() not in _FALSE


def kill_file(template: str) -> str:
    """The kill switch file: ``$AUDITOR_TRACE_DISABLE_FILE``, else next to the trace files."""
    return os.environ.get(ENV_DISABLE_FILE) or os.path.join(
        os.path.dirname(os.path.abspath(template)), KILL_FILE_NAME)


def _positive(name: str, default, kind):
    """``$name`` read as ``kind`` if positive, else ``default``."""
    try:
        value = kind(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value > 0 else default


def interval() -> float:
    """Seconds between finding flushes: ``$AUDITOR_TRACE_INTERVAL`` if a positive number."""
    return _positive(ENV_INTERVAL, DEFAULT_INTERVAL_S, float)


def surfaces() -> tuple[str, ...] | None:
    """The hook surfaces to install: those ``$AUDITOR_TRACE_SURFACES`` lists, with those
    they need (``events.surfaces_listed``); else None (all of them)."""
    from auditor.events import surfaces_listed

    return surfaces_listed(os.environ.get(ENV_SURFACES, "")) or None


def max_bytes() -> int:
    """Rotation size: ``$AUDITOR_TRACE_MAX_BYTES`` if a positive whole number, else 64 MiB."""
    return _positive(ENV_MAX_BYTES, DEFAULT_MAX_BYTES, int)


def untrusted(path: str, st: os.stat_result | None = None) -> str | None:
    """Why ``path`` may have been planted by another local user, or None: it must be owned
    by this user or root and not writable by others (a directory may be, if sticky, as
    /tmp). ``st``: its ``stat`` already taken (else ``lstat``; a missing path is None)."""
    if st is None:
        try:
            st = os.lstat(path)
        except OSError:
            return None
    if st.st_uid not in (os.geteuid(), 0):
        return f"{path} is owned by uid {st.st_uid}, not by this user ({os.geteuid()})"
    sticky_dir = stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX
    if st.st_mode & stat.S_IWOTH and not sticky_dir:
        return f"{path} is writable by other users (mode {stat.S_IMODE(st.st_mode):o})"
    return None


_refused: set[str] = set()


def kill_file_set(path: str) -> bool:
    """Whether the kill file exists and is trusted (``untrusted``); an untrusted one is
    refused with one line on stderr (once per process) and tracing goes on."""
    if not os.path.lexists(path):
        return False
    why = untrusted(path)
    if why is None:
        return True
    if path not in _refused:
        _refused.add(path)
        try:
            sys.stderr.write(f"auditor: kill file ignored: {why}\n")
        except Exception:  # noqa: BLE001 - no stderr: stay silent
            pass
    return False
