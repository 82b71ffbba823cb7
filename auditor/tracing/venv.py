"""``auditor trace install|uninstall --venv``: a ``.pth`` that starts tracing when AUDITOR_TRACE is set."""

from __future__ import annotations

import os
import subprocess

__all__ = ["PTH_NAME", "pth_line", "site_packages", "install", "uninstall", "VenvError"]

PTH_NAME = "auditor-trace.pth"
_CODE = """\
import sys
try:
    from auditor.tracing.bootstrap import initialize
except ImportError:
    sys.path.append({home!r})
    try:
        from auditor.tracing.bootstrap import initialize
    except Exception as exc:
        initialize = None
        sys.stderr.write(f"auditor: tracing not started: {{type(exc).__name__}}: {{exc}}\\n")
    finally:
        sys.path.remove({home!r})
except Exception as exc:
    initialize = None
    sys.stderr.write(f"auditor: tracing not started: {{type(exc).__name__}}: {{exc}}\\n")
if initialize is not None:
    initialize()
"""


class VenvError(Exception):
    """Not a usable virtual environment (one line, for the CLI)."""


def pth_line(home: str) -> str:
    """The ``.pth`` line: imports nothing unless ``AUDITOR_TRACE`` is set (site.py execs it)."""
    return (f"import os; os.environ.get('AUDITOR_TRACE') and "
            f"exec({_CODE.format(home=home)!r})\n")


def site_packages(venv: str) -> str:
    """The venv's purelib directory, as its own interpreter reports it."""
    python = os.path.join(venv, "bin", "python")
    if not os.path.isfile(python) or not os.access(python, os.X_OK):
        raise VenvError(f"{venv!r} is not a virtual environment (no bin/python); "
                        f"pass the directory that holds bin/python")
    try:
        out = subprocess.run(
            [python, "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        raise VenvError(f"cannot run {python}: {exc}") from None
    if not os.path.isdir(out):
        raise VenvError(f"{venv!r}: site-packages {out!r} does not exist")
    return out


def install(venv: str, home: str) -> str:
    """Write the ``.pth``; return its path. ``home``: the directory holding ``auditor/``."""
    path = os.path.join(site_packages(venv), PTH_NAME)
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(pth_line(home))
    os.replace(tmp, path)
    return path


def uninstall(venv: str) -> str | None:
    """Remove the ``.pth``; return its path, or None if it was not installed."""
    path = os.path.join(site_packages(venv), PTH_NAME)
    try:
        os.remove(path)
    except FileNotFoundError:
        return None
    return path
