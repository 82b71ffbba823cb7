"""``auditor trace install|uninstall --venv``: a ``.pth`` that starts tracing when AUDITOR_TRACE is set."""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import uuid

__all__ = ["PTH_NAME", "pth_line", "site_packages", "install", "uninstall", "hold", "release",
           "VenvError"]

PTH_NAME = "auditor-trace.pth"
#: Beside the ``.pth``: one file per live holder (``<pid>-<token>``), made by ``hold``.
HOLDERS = "auditor-trace.holders"
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


@contextlib.contextmanager
def _holders(venv: str):
    """The venv's holder directory, locked against other processes for the block."""
    site = site_packages(venv)
    folder = os.path.join(site, HOLDERS)
    with open(os.path.join(site, f"{HOLDERS}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield site, folder


def hold(venv: str, install_pth) -> str | None:
    """Share the ``.pth`` between users of one venv (two ``auditor stack`` runs, say):
    ``install_pth()`` runs if no ``.pth`` is there; returns this holder's token, or None
    when the ``.pth`` was installed by hand (then ``release`` has nothing to undo)."""
    with _holders(venv) as (site, folder):
        if os.path.exists(os.path.join(site, PTH_NAME)) and not os.path.isdir(folder):
            return None
        os.makedirs(folder, exist_ok=True)
        token = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        open(os.path.join(folder, token), "w").close()
        if not os.path.exists(os.path.join(site, PTH_NAME)):
            install_pth()
        return token


def release(venv: str, token: str) -> str | None:
    """Drop ``token``'s hold; the last live holder uninstalls the ``.pth`` (returns its path)."""
    with _holders(venv) as (site, folder):
        if not os.path.isdir(folder):
            return None                                 # removed by hand meanwhile
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(folder, token))
        for other in os.listdir(folder):
            if _alive(int(other.partition("-")[0])):
                return None
            os.remove(os.path.join(folder, other))     # its process died without releasing
        os.rmdir(folder)
        return uninstall(venv)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
