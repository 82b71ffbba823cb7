"""``auditor trace -- COMMAND``: the environment a traced command gets, and the exec into it."""

from __future__ import annotations

import os
import shutil
import sys
from typing import Mapping

import auditor
from auditor.tracing.bootstrap import SITE_DIR, pythonpath_with
from auditor.tracing.environment import (ENV_DEBUG, ENV_EXCLUDE, ENV_HOME, ENV_INTERVAL,
                                         ENV_SURFACES, ENV_TRACE)

__all__ = ["HOME", "traced_env", "resolve", "exec_traced"]

#: The directory holding the ``auditor`` package (for interpreters that do not have it).
HOME = os.path.dirname(os.path.dirname(os.path.abspath(auditor.__file__)))


def traced_env(base: Mapping[str, str], output: str, *, interval_s: float | None = None,
               exclude: tuple[str, ...] = (), debug: bool = False,
               surfaces: tuple[str, ...] | None = None) -> dict[str, str]:
    """``base`` plus what turns tracing on in every Python process started from it."""
    env = dict(base)
    env[ENV_TRACE] = os.path.abspath(output)
    env["PYTHONPATH"] = pythonpath_with(base.get("PYTHONPATH"), SITE_DIR)
    env[ENV_HOME] = HOME
    if interval_s is not None:
        env[ENV_INTERVAL] = str(interval_s)
    if debug:
        env[ENV_DEBUG] = "1"
    if surfaces:
        env[ENV_SURFACES] = ",".join(surfaces)
    if exclude:
        have = [p for p in base.get(ENV_EXCLUDE, "").split(",") if p]
        env[ENV_EXCLUDE] = ",".join([*have, *exclude])
    return env


def resolve(command: str) -> str | None:
    """The executable ``command`` names: a path, else looked up on PATH, else in the ``bin/``
    of the venv this auditor runs from (``.venv/bin/auditor trace -- nova-compute`` works
    with the venv not activated)."""
    if os.sep in command:
        return command if os.access(command, os.X_OK) and os.path.isfile(command) else None
    return shutil.which(command) or shutil.which(command, path=os.path.dirname(sys.executable))


def exec_traced(argv: list[str], env: dict[str, str]) -> None:
    """Replace this process with ``argv`` under ``env`` (like ``opentelemetry-instrument``)."""
    os.execvpe(argv[0], argv, env)
