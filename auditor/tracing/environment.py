"""The environment variables that configure tracing (set by ``auditor trace``, read at start-up)."""

from __future__ import annotations

import os

__all__ = ["ENV_TRACE", "ENV_DISABLE", "ENV_DISABLE_FILE", "ENV_EXCLUDE", "ENV_INTERVAL",
           "ENV_DEBUG", "ENV_HOME", "DEFAULT_EXCLUDE", "KILL_FILE_NAME", "DEFAULT_INTERVAL_S",
           "truthy", "kill_file", "interval"]

ENV_TRACE = "AUDITOR_TRACE"                  # trace path template; its presence turns tracing on
ENV_DISABLE = "AUDITOR_TRACE_DISABLE"        # kill switch: any value but "", "0", "false", "no"
ENV_DISABLE_FILE = "AUDITOR_TRACE_DISABLE_FILE"  # kill switch file (default: next to the trace)
ENV_EXCLUDE = "AUDITOR_TRACE_EXCLUDE"        # extra program names (fnmatch patterns), comma-separated
ENV_INTERVAL = "AUDITOR_TRACE_INTERVAL"      # seconds between finding flushes (default 60)
ENV_DEBUG = "AUDITOR_TRACE_DEBUG"            # capture DEBUG records logging drops (full audit cost)
ENV_HOME = "AUDITOR_TRACE_HOME"              # where ``auditor`` is, for interpreters lacking it

#: Programs never traced: installers and the auditor's own command.
DEFAULT_EXCLUDE = ("pip", "pip3", "pip3.*", "auditor", "auditor.cli")
KILL_FILE_NAME = "auditor-trace.disable"

DEFAULT_INTERVAL_S = 60.0

_FALSE = ("", "0", "false", "no", "off")


def truthy(name: str) -> bool:
    """Whether environment variable ``name`` is set to anything but "", "0", "false", "no", "off"."""
    return os.environ.get(name, "").strip().lower() not in _FALSE


def kill_file(template: str) -> str:
    """The kill switch file: ``$AUDITOR_TRACE_DISABLE_FILE``, else next to the trace files."""
    return os.environ.get(ENV_DISABLE_FILE) or os.path.join(
        os.path.dirname(os.path.abspath(template)), KILL_FILE_NAME)


def interval() -> float:
    """Seconds between finding flushes: ``$AUDITOR_TRACE_INTERVAL`` if a positive number."""
    try:
        value = float(os.environ.get(ENV_INTERVAL, DEFAULT_INTERVAL_S))
    except ValueError:
        return DEFAULT_INTERVAL_S
    return value if value > 0 else DEFAULT_INTERVAL_S
