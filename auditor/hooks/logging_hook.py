"""Capture the log records of the audited loggers, leaving what handlers get unchanged.

``Logger.handle`` emits a ``LogEvent`` for every record of a captured logger.
With ``force_debug`` (the default: audits and scenario runs) records are
captured from DEBUG up whatever the configuration: ``Logger.isEnabledFor``
answers True for captured loggers, ``Logger.makeRecord`` notes, per owner, the
record that exists only because of that ("forced"), and ``handle`` passes only
unforced records on to filters and handlers. Python's ``Logger._cache`` is
never written, so the original answer stays available and correct. Without it
(tracing) only the records the configuration lets through are captured.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Mapping
from typing import Any

import wrapt

from auditor.events import LogEvent, Site
from auditor.hooks.recorder import Recorder, guarded, owner
from auditor.hooks.sites import at
from auditor.hooks.ledger import Target, wrapping

__all__ = ["TARGETS", "EMITTED_ONLY", "DEFAULT_LOGGERS", "configure"]

#: Logger name prefixes captured by default (placement is the server side; not the auditor).
DEFAULT_LOGGERS = ("nova", "oslo", "keystoneauth", "openstack", "os_", "stevedore")

_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message", "asctime", "taskName"}

_WRAPT_DIR = os.path.dirname(os.path.abspath(wrapt.__file__)) + os.sep
_prefixes: tuple[str, ...] = DEFAULT_LOGGERS
_captured: dict[str, bool] = {}
_forced: dict[int, logging.LogRecord] = {}   # owner -> record built only for capture


def configure(prefixes: tuple[str, ...]) -> None:
    """Set the captured logger name prefixes (``install`` calls this)."""
    global _prefixes
    _prefixes = tuple(prefixes)
    _captured.clear()


def _is_captured(logger: Any) -> bool:
    name = getattr(logger, "name", None)
    hit = _captured.get(name)
    if hit is None:
        hit = _captured[name] = isinstance(name, str) and name.startswith(_prefixes)
    return hit


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception as exc:
        return f"<repr failed: {type(exc).__name__}>"


def _record_site(record: logging.LogRecord) -> Site:
    """The record's call site."""
    return at(record.pathname or "?", record.lineno or 0, record.funcName or "?")


def _event(rec: Recorder, logger: logging.Logger, record: logging.LogRecord) -> LogEvent:
    args = record.args
    if isinstance(args, Mapping):
        reprs = tuple(_safe_repr(v) for v in args.values())
    elif isinstance(args, tuple):
        reprs = tuple(_safe_repr(v) for v in args)
    elif args is None:
        reprs = ()
    else:
        reprs = (_safe_repr(args),)
    try:
        message = record.getMessage()
    except Exception as exc:
        message = f"<unformattable: {type(exc).__name__}: {exc}>"
    state = record.__dict__
    extra = () if state.keys() <= _STANDARD else tuple(
        (k, _safe_repr(v)) for k, v in state.items() if k not in _STANDARD)
    exc_text = None
    if isinstance(record.exc_info, tuple) and record.exc_info[0] is not None:
        exc_text = "".join(traceback.format_exception(*record.exc_info))
    elif record.exc_text:
        exc_text = record.exc_text
    if record.stack_info:
        exc_text = (exc_text or "") + record.stack_info
    who = owner()
    where = _record_site(record)
    return LogEvent(*rec.stamp(who), record.name, record.levelno, where, str(record.msg), reprs,
                    message, extra, exc_text, rec.held_by(who))


def _is_enabled_for_wrapper(rec: Recorder, attr: str):
    def wrapper(wrapped, instance, args, kwargs):
        if rec.active and args and _is_captured(instance):
            try:
                if args[0] >= logging.DEBUG:
                    return True
            except Exception:
                pass
        return wrapped(*args, **kwargs)
    return wrapper


def _make_record_wrapper(rec: Recorder, attr: str):
    # Not ``_log``: a Python frame there would change what ``findCaller`` reports.
    is_enabled_for = logging.Logger.__dict__["isEnabledFor"]
    log_code = logging.Logger._log.__code__

    def called_by_log() -> bool:
        frame = sys._getframe(2)
        while frame is not None and frame.f_code.co_filename.startswith(_WRAPT_DIR):
            frame = frame.f_back   # wrapt without its C extension adds frames
        return frame is not None and frame.f_code is log_code

    def wrapper(wrapped, instance, args, kwargs):
        # Only records ``_log`` builds can be forced; a direct makeRecord() is left alone.
        if not (rec.active and _is_captured(instance) and called_by_log()):
            return wrapped(*args, **kwargs)
        level = args[1] if len(args) > 1 else kwargs.get("level")
        if is_enabled_for(instance, level):
            return wrapped(*args, **kwargs)
        record = _build_forced(rec, wrapped, args, kwargs)
        if record is None:
            name, level, fn, lno, msg = args[:5]
            record = logging.LogRecord(name, level, fn, lno, msg, (), None)
        _note_forced(rec, record)
        return record
    return wrapper


@guarded("logging.forced_record")
def _build_forced(rec: Recorder, make: Any, args: tuple, kwargs: dict) -> logging.LogRecord:
    """Unaudited, this record would never have been built: its errors are ours."""
    return make(*args, **kwargs)


@guarded("logging.forced_record")
def _note_forced(rec: Recorder, record: logging.LogRecord) -> None:
    _forced[owner()] = record


@guarded("logging.handle")
def _capture(rec: Recorder, logger: logging.Logger, record: logging.LogRecord) -> None:
    rec.emit(_event(rec, logger, record))


@guarded("logging.handle", default=False)
def _take_forced(rec: Recorder, record: logging.LogRecord) -> bool:
    """Whether ``record`` was built only for the audit (forgotten now)."""
    who = owner()
    if _forced.get(who) is record:
        del _forced[who]
        return True
    return False


def _handle_wrapper(rec: Recorder, attr: str):
    def wrapper(wrapped, instance, args, kwargs):
        if not (rec.active and _is_captured(instance)):
            return wrapped(*args, **kwargs)
        record = args[0] if args else kwargs.get("record")
        _capture(rec, instance, record)
        if _forced and _take_forced(rec, record):   # none are forced without force_debug
            return None   # built only for the audit: the handlers never see it
        return wrapped(*args, **kwargs)
    return wrapper


#: Capture the records the configuration emits (``force_debug=False``).
EMITTED_ONLY = (Target("logging", "Logger", ("handle",), wrapping(_handle_wrapper)),)
#: Capture from DEBUG up, whatever the configuration.
TARGETS = (
    Target("logging", "Logger", ("isEnabledFor",), wrapping(_is_enabled_for_wrapper)),
    Target("logging", "Logger", ("makeRecord",), wrapping(_make_record_wrapper)),
) + EMITTED_ONLY
