"""Where an event comes from: call sites outside the auditor, paths relative to site-packages."""

from __future__ import annotations

import logging
import os
import sys

import wrapt

import auditor
from auditor.events import Site

__all__ = ["site", "site_outside", "at", "relpath", "qualname", "caller_frame", "UNKNOWN_SITE"]

UNKNOWN_SITE = Site("<unknown>", 0, "<unknown>")

# Frames in these directories are the auditor's or its plumbing's, never the audited code.
_INTERNAL_DIRS = tuple(
    os.path.dirname(os.path.abspath(m.__file__)) + os.sep for m in (auditor, wrapt, logging))
_OWN_DIRS = _INTERNAL_DIRS[:2]   # the auditor's and wrapt's frames only
_internal: dict[str, bool] = {}
_relpaths: dict[str, str] = {}
_sites: dict[tuple[str, int, str], Site] = {}   # one shared (frozen) Site per place in the code
_SITES_MAX = 1 << 16


def _is_internal(filename: str) -> bool:
    hit = _internal.get(filename)
    if hit is None:
        hit = _internal[filename] = (
            filename.startswith(_INTERNAL_DIRS)
            or f"{os.sep}oslo_concurrency{os.sep}" in filename
            or filename.endswith(f"{os.sep}contextlib.py"))
    return hit


def relpath(filename: str) -> str:
    """``filename`` relative to site-packages (``nova/...``), else to the longest sys.path entry."""
    rel = _relpaths.get(filename)
    if rel is None:
        rel = filename
        for marker in ("site-packages", "dist-packages"):
            i = filename.rfind(f"{os.sep}{marker}{os.sep}")
            if i >= 0:
                rel = filename[i + len(marker) + 2:]
                break
        else:
            roots = [p for p in sys.path if p and filename.startswith(os.path.join(p, ""))]
            if roots:
                rel = filename[len(os.path.join(max(roots, key=len), "")):]
        _relpaths[filename] = rel = rel.replace(os.sep, "/")
    return rel


def at(filename: str, line: int, function: str) -> Site:
    """The ``Site`` of ``filename:line`` in ``function`` (made once per place, then shared)."""
    key = (filename, line, function)
    where = _sites.get(key)
    if where is None:
        where = Site(relpath(filename), line, function)
        if len(_sites) < _SITES_MAX:
            _sites[key] = where
    return where


def caller_frame(depth: int = 0):
    """The first frame above the caller's, ``depth`` up, that is not the auditor's or wrapt's."""
    f = sys._getframe(depth + 1)
    while f is not None and f.f_code.co_filename.startswith(_OWN_DIRS):
        f = f.f_back
    return f


def site(depth: int = 0, frame=None) -> Site:
    """The first frame outside auditor/wrapt/logging/lock internals, from ``depth`` frames above
    the caller (or from ``frame``)."""
    f = frame if frame is not None else sys._getframe(depth + 1)
    internal = _internal
    while f is not None:
        code = f.f_code
        filename = code.co_filename
        skip = internal.get(filename)
        if skip is None:
            skip = _is_internal(filename)
        if not skip:
            return at(filename, f.f_lineno, code.co_name)
        f = f.f_back
    return UNKNOWN_SITE


_outside: dict[tuple[str, ...], dict[str, bool]] = {}   # libraries -> file -> skipped


def site_outside(libraries: tuple[str, ...]) -> Site:
    """The first frame outside the auditor's plumbing and outside ``libraries`` (paths
    relative to site-packages, such as ``"keystoneauth1/"``) and their generated code
    (``<string>``): who called the library. Decided once per code file."""
    skipped = _outside.get(libraries)
    if skipped is None:
        skipped = _outside[libraries] = {}
    f = sys._getframe(1)
    while f is not None:
        code = f.f_code
        filename = code.co_filename
        skip = skipped.get(filename)
        if skip is None:
            skip = skipped[filename] = (_is_internal(filename) or filename.startswith("<")
                                        or relpath(filename).startswith(libraries))
        if not skip:
            return at(filename, f.f_lineno, code.co_name)
        f = f.f_back
    return UNKNOWN_SITE


def qualname(exc_type: type | None) -> str | None:
    """``module.Class`` for an exception type."""
    if exc_type is None:
        return None
    return f"{exc_type.__module__}.{exc_type.__qualname__}"
