"""Start tracing at interpreter start-up, never raising into the host program.

Two ways in, one ``initialize``: ``auditor trace`` puts ``site/`` (holding only a
``sitecustomize.py``) first on PYTHONPATH; ``auditor trace install`` writes a
``.pth`` into a venv's site-packages. Either way ``initialize`` reads the
environment, honours the kill switch and the disable list, and arms a post-import
hook that starts the trace session when ``nova`` is imported. Heavy imports
(session, checks) wait for that moment.
"""

from __future__ import annotations

import fnmatch
import os
import sys

from auditor.tracing.environment import (DEFAULT_EXCLUDE, ENV_DEBUG, ENV_DISABLE, ENV_EXCLUDE,
                                        ENV_TRACE, interval, kill_file, kill_file_set,
                                        surfaces, truthy)

__all__ = ["initialize", "program_name", "disabled", "excluded", "pythonpath_with",
           "pythonpath_without", "SITE_DIR"]

#: The directory ``auditor trace`` prepends to PYTHONPATH (contains only sitecustomize.py).
SITE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "site")

_OPTS_WITH_VALUE = ("-W", "-X", "--check-hash-based-pycs")


def program_name(argv: list[str]) -> str:
    """The traced program's name from ``sys.orig_argv``: the ``-m`` module, the script's
    basename (``nova-compute``), ``-c``, or the interpreter's name when interactive."""
    args = list(argv[1:])
    while args:
        arg = args.pop(0)
        if arg == "-m":
            return args[0] if args else "-m"
        if arg.startswith("-m"):
            return arg[2:]
        if arg.startswith("-c"):
            return "-c"
        if arg in _OPTS_WITH_VALUE:
            args[:1] = []
            continue
        if arg == "-" or not arg.startswith("-"):
            return os.path.basename(arg) or arg
    return os.path.basename(argv[0]) if argv else "python"


def disabled(template: str) -> bool:
    """The kill switch: ``AUDITOR_TRACE_DISABLE`` set, or a trusted kill file exists."""
    if truthy(ENV_DISABLE):
        return True
    return kill_file_set(kill_file(template))


def excluded(program: str) -> bool:
    """Whether ``program`` is on the disable list (defaults plus ``AUDITOR_TRACE_EXCLUDE``)."""
    extra = [p.strip() for p in os.environ.get(ENV_EXCLUDE, "").split(",") if p.strip()]
    stem = program[:-3] if program.endswith(".py") else program
    return any(fnmatch.fnmatchcase(name, pattern)
               for pattern in (*DEFAULT_EXCLUDE, *extra) for name in (program, stem))


def pythonpath_with(value: str | None, directory: str = SITE_DIR) -> str:
    """``value`` (a PYTHONPATH) with ``directory`` first, once."""
    rest = [p for p in (value or "").split(os.pathsep) if p and p != directory]
    return os.pathsep.join([directory, *rest])


def pythonpath_without(value: str | None, directory: str = SITE_DIR) -> str:
    """``value`` (a PYTHONPATH) without ``directory``."""
    return os.pathsep.join(p for p in (value or "").split(os.pathsep)
                           if p and os.path.abspath(p) != directory)


def _warn(message: str) -> None:
    try:
        sys.stderr.write(f"auditor: {message}\n")
    except Exception:  # noqa: BLE001 - no stderr: stay silent
        pass


def _forget_site_dir() -> None:
    """Keep the bootstrap directory off this process's path (children: see ``initialize``)."""
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != SITE_DIR]


def _chain_sitecustomize(this: str) -> None:
    """Import the ``sitecustomize`` ours shadowed, if any (Python imports only the first)."""
    import importlib.machinery
    import importlib.util

    here = os.path.dirname(os.path.abspath(this))
    path = [p for p in sys.path if os.path.abspath(p or ".") != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", path)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # what site.py itself would do with a broken sitecustomize
        _warn(f"the shadowed sitecustomize failed: {type(exc).__name__}: {exc}")


def initialize(chain: str | None = None) -> bool:
    """Arm tracing for this process if the environment asks for it; True if armed.

    Never raises: any error is one line on stderr and the program runs untraced.
    ``chain``: the bootstrap ``sitecustomize`` file, whose shadowed namesake is
    imported afterwards.
    """
    armed = False
    try:
        armed = _initialize()
    except Exception as exc:  # noqa: BLE001 - never into the host
        _warn(f"tracing not started: {type(exc).__name__}: {exc}")
    if chain:
        try:
            _forget_site_dir()
            _chain_sitecustomize(chain)
        except Exception as exc:  # noqa: BLE001
            _warn(f"could not chain sitecustomize: {type(exc).__name__}: {exc}")
    return armed


def _initialize() -> bool:
    template = os.environ.get(ENV_TRACE, "")
    if not template:
        return False
    if disabled(template):
        # Off for the whole tree below: children do not even load the bootstrap.
        os.environ["PYTHONPATH"] = pythonpath_without(os.environ.get("PYTHONPATH"))
        return False
    program = program_name(getattr(sys, "orig_argv", None) or sys.argv or ["python"])
    if excluded(program):
        return False   # this program only: its Python children are still traced
    import wrapt

    from auditor.tracing import tracer  # fail now, not inside nova's import

    def start(module) -> None:
        try:
            tracer.start(template, program, interval_s=interval(), debug=truthy(ENV_DEBUG),
                         kill_file=kill_file(template), surfaces=surfaces())
        except Exception as exc:  # noqa: BLE001
            _warn(f"tracing not started: {type(exc).__name__}: {exc}")

    wrapt.register_post_import_hook(start, "nova")
    return True
