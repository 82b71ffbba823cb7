"""Capture the log records of the audited loggers, leaving what handlers get unchanged.

``Logger.handle`` emits a ``LogEvent`` for every record of a captured logger.
With ``force_debug`` (the default: audits and scenario runs) records are
captured from DEBUG up whatever the configuration: a captured logger's own
``isEnabledFor`` (set on the logger, so that other loggers' checks stay the
class's) answers True (not on threads the session ignores:
``Recorder.ignored``), and ``Logger.makeRecord``, for a record that
exists only because of that ("forced"), captures the event from its arguments
and returns a placeholder that ``handle`` drops: no ``LogRecord`` is built for
it (one is, with a custom record factory) and filters and handlers never see
it. Python's ``Logger._cache`` is never written, so the original answer stays
available and correct. Without it (tracing) only the records the configuration
lets through are captured.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Mapping
from typing import Any

import wrapt

from auditor.events import LogEvent
from auditor.hooks.recorder import Recorder, guarded, owner
from auditor.hooks.sites import at
from auditor.hooks.ledger import Target, wrapping

__all__ = ["TARGETS", "EMITTED_ONLY", "DEFAULT_LOGGERS", "configure"]

#: Logger name prefixes captured by default (placement is the server side; not the auditor).
DEFAULT_LOGGERS = ("nova", "oslo", "keystoneauth", "openstack", "os_", "stevedore")

#: what ``makeRecord`` refuses as an ``extra`` key
_OVERWRITE = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message", "asctime"}
_STANDARD = _OVERWRITE | {"taskName"}

_WRAPT_DIR = os.path.dirname(os.path.abspath(wrapt.__file__)) + os.sep
_prefixes: tuple[str, ...] = DEFAULT_LOGGERS
_captured: dict[str, bool] = {}


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


def _reprs(values: Any) -> tuple[str, ...]:
    """``_safe_repr`` of each value (one call for all when none fails)."""
    try:
        return tuple([repr(v) for v in values])
    except Exception:
        return tuple([_safe_repr(v) for v in values])


def _is_mapping(value: Any) -> bool:
    """``isinstance(value, Mapping)``, answered without the ABC for dicts and tuples."""
    kind = type(value)
    if kind is dict:
        return True
    return kind is not tuple and isinstance(value, Mapping)


def _event(rec: Recorder, record: logging.LogRecord) -> LogEvent:
    """The event of a built record."""
    state = record.__dict__
    extra = () if state.keys() <= _STANDARD else tuple(
        (k, v) for k, v in state.items() if k not in _STANDARD)
    try:
        message = record.getMessage()
    except Exception as exc:
        message = f"<unformattable: {type(exc).__name__}: {exc}>"
    return _log_event(rec, record.name, record.levelno, record.pathname, record.lineno,
                      record.funcName, record.msg, record.args, message, extra,
                      record.exc_info, record.exc_text or None, record.stack_info)


def _forced_event(rec: Recorder, name: str, level: int, fn: str, lno: int, msg: Any,
                  args: Any, exc_info: Any, func: str | None = None,
                  extra: Mapping | None = None, sinfo: str | None = None) -> LogEvent:
    """The event of a record ``makeRecord(name, level, ...)`` would build, from its
    arguments (``LogRecord``'s treatment of a lone mapping argument and ``extra`` kept)."""
    if args and len(args) == 1 and _is_mapping(args[0]) and args[0]:
        args = args[0]
    items: tuple = ()
    if extra is not None:
        for key in extra:
            if key in _OVERWRITE:
                raise KeyError(f"Attempt to overwrite {key!r} in LogRecord")
        items = tuple(extra.items())
    try:
        message = str(msg) % args if args else str(msg)
    except Exception as exc:
        message = f"<unformattable: {type(exc).__name__}: {exc}>"
    return _log_event(rec, name, level, fn, lno, func, msg, args, message, items, exc_info,
                      None, sinfo)


def _log_event(rec: Recorder, name: str, level: int, fn: str | None, lno: int | None,
               func: str | None, msg: Any, args: Any, message: str, extra: tuple,
               exc_info: Any, exc_text: str | None, sinfo: str | None) -> LogEvent:
    if type(args) is tuple:
        reprs = _reprs(args)
    elif _is_mapping(args):
        reprs = _reprs(args.values())
    elif isinstance(args, tuple):
        reprs = _reprs(args)
    elif args is None:
        reprs = ()
    else:
        reprs = (_safe_repr(args),)
    if isinstance(exc_info, tuple) and exc_info[0] is not None:
        exc_text = "".join(traceback.format_exception(*exc_info))
    if sinfo:
        exc_text = (exc_text or "") + sinfo
    who = owner()
    return LogEvent(*rec.stamp(who), name, level, at(fn or "?", lno or 0, func or "?"),
                    str(msg), reprs, message,
                    tuple([(k, _safe_repr(v)) for k, v in extra]) if extra else (),
                    exc_text, rec.held_by(who))


def _level_check(rec: Recorder, logger: logging.Logger):
    """A captured logger's own ``isEnabledFor``: True from DEBUG up while recording (not on
    threads the session ignores), else its class's answer."""
    def isEnabledFor(level):
        try:
            if level >= logging.DEBUG and rec.active and not rec.ignored():
                return True
        except Exception:
            pass
        return type(logger).isEnabledFor(logger, level)
    return isEnabledFor


@guarded("logging.level_check")
def _force(rec: Recorder, logger: Any) -> None:
    """Give a captured logger its own level check; every other logger keeps its class's,
    at no cost (sqlalchemy's and urllib3's ask on every connection)."""
    if isinstance(logger, logging.Logger) and _is_captured(logger):
        rec.extras["ledger"].patch_object(logger, "isEnabledFor", _level_check(rec, logger),
                                          f"logging.Logger({logger.name!r}).isEnabledFor")


def _make_get_logger(rec: Recorder, original: Any, owner: Any, attr: str) -> Any:
    """``Manager.getLogger``: the captured loggers there are, and each one made later, get
    their own level check (``_force``)."""
    for logger in list(logging.Logger.manager.loggerDict.values()):
        _force(rec, logger)

    def wrapper(wrapped, instance, args, kwargs):
        logger = wrapped(*args, **kwargs)
        if rec.active and "isEnabledFor" not in getattr(logger, "__dict__", ()):
            _force(rec, logger)
        return logger
    return wrapt.FunctionWrapper(original, wrapper)


def _make_record_wrapper(rec: Recorder, attr: str):
    # Not ``_log``: a Python frame there would change what ``findCaller`` reports.
    is_enabled_for = logging.Logger.isEnabledFor   # the configured answer
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
        _capture_forced(rec, wrapped, args, kwargs)
        return _FORCED   # ``_log`` hands it to ``handle``, which drops it
    return wrapper


#: What ``makeRecord`` returns for a forced record: ``handle`` drops it. Its level is
#: below every handler's, so none takes it even if the hooks were removed in between.
_FORCED = logging.LogRecord("auditor.forced", -1, __file__, 0,
                            "a record the auditor captured; never handled", (), None)


@guarded("logging.forced_record")
def _capture_forced(rec: Recorder, make: Any, args: tuple, kwargs: dict) -> None:
    """Unaudited, this record would never have been built: its errors are ours."""
    if logging.getLogRecordFactory() is logging.LogRecord:
        rec.emit(_forced_event(rec, *args, **kwargs))
    else:   # a custom record class may say other things: build it
        rec.emit(_event(rec, make(*args, **kwargs)))


@guarded("logging.handle")
def _capture(rec: Recorder, record: logging.LogRecord) -> None:
    rec.emit(_event(rec, record))


def _handle_wrapper(rec: Recorder, attr: str):
    def wrapper(wrapped, instance, args, kwargs):
        if not (rec.active and _is_captured(instance)):
            return wrapped(*args, **kwargs)
        record = args[0] if args else kwargs.get("record")
        if record is _FORCED:
            return None   # captured by makeRecord, for the audit only
        _capture(rec, record)
        return wrapped(*args, **kwargs)
    return wrapper


#: Capture the records the configuration emits (``force_debug=False``).
EMITTED_ONLY = (Target("logging", "Logger", ("handle",), wrapping(_handle_wrapper)),)
#: Capture from DEBUG up, whatever the configuration.
TARGETS = (
    Target("logging", "Manager", ("getLogger",), _make_get_logger),
    Target("logging", "Logger", ("makeRecord",), wrapping(_make_record_wrapper)),
) + EMITTED_ONLY
