"""Record ``nova.config.parse_args`` returning (tracing: the config's secrets become canaries)."""

from __future__ import annotations

from auditor.events import ConfigParsed
from auditor.hooks.ledger import Target, wrapping
from auditor.hooks.recorder import Recorder, guarded, owner
from auditor.nova import hook_points as hp

__all__ = ["TARGETS"]


@guarded("config.parse_args")
def _parsed(rec: Recorder) -> None:
    rec.emit(ConfigParsed(*rec.stamp(owner())))


def _parse_args_wrapper(rec: Recorder, attr: str):
    def wrapper(wrapped, instance, args, kwargs):
        result = wrapped(*args, **kwargs)
        if rec.active:
            _parsed(rec)
        return result
    return wrapper


TARGETS = (Target(hp.CONFIG_MODULE, "", (hp.PARSE_ARGS,), wrapping(_parse_args_wrapper)),)
