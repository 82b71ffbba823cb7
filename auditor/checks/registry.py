"""The check registry: each check registers once, and everything else derives from it.

A check is one module: a docstring (its catalogue entry), its ``Rule``s, and a
class satisfying ``Check`` decorated with ``@register(*RULES)``; importing it
from ``auditor.checks`` is the one registration. Categories (``--category``
choices), the rule catalogue (``docs/rules.md``, SARIF ``helpUri``) and the
checks an ``AuditSession`` runs per run are all read from here.
"""

from __future__ import annotations

import dataclasses
import sys
from types import ModuleType
from typing import Any, Callable, ClassVar, Iterable, Mapping, Protocol, TypeVar

from auditor.events import Event
from auditor.findings import Finding, Rule

__all__ = ["Check", "RunContext", "Family", "register", "register_rules", "unregister",
           "families", "rules", "categories", "make_checks"]


@dataclasses.dataclass(frozen=True)
class RunContext:
    """What a check may be configured from at the start of a run (shared, never copied)."""

    run: str
    canaries: Any                      # a CanaryRegistry (followed as it grows)
    discipline: Any                    # an auditor.nova.discipline.Discipline
    expected: Mapping[str, tuple[str, ...]]
    wait_threshold_s: float


class Check(Protocol):
    """Events in, findings out; no wrapping, no I/O. One instance per run.

    Optional: a ``made`` property, the count of distinct findings recorded so far this
    run; when it grows a tracer writes the new finding at once instead of at its flush.
    """

    #: the event types ``observe`` looks at (the session dispatches by type)
    EVENTS: ClassVar[tuple[type[Event], ...]]

    @classmethod
    def for_run(cls, ctx: RunContext) -> "Check":
        """A fresh check for one run."""

    def observe(self, event: Event) -> Iterable[Finding]:
        """Judge one event; findings now (or later, from ``finish``)."""

    def finish(self) -> Iterable[Finding]:
        """The run is over: the remaining findings."""


@dataclasses.dataclass(frozen=True)
class Family:
    """One registration: the module whose docstring is the catalogue entry, its rules,
    and the check's factory (None for rules raised outside any check)."""

    module: ModuleType
    rules: tuple[Rule, ...]
    make: Callable[[RunContext], Check] | None = None

    @property
    def name(self) -> str:
        return self.module.__name__


_FAMILIES: list[Family] = []
_C = TypeVar("_C", bound=type)


def _add(family: Family) -> None:
    unregister(family.name)
    _FAMILIES.append(family)


def register(*rules: Rule) -> Callable[[_C], _C]:
    """Class decorator: register a ``Check`` and the rules it raises."""
    def decorate(cls: _C) -> _C:
        _add(Family(sys.modules[cls.__module__], tuple(rules), cls.for_run))
        return cls
    return decorate


def register_rules(module: str, *rules: Rule) -> None:
    """Register rules no check raises (``auditor-error``): catalogued and categorised."""
    _add(Family(sys.modules[module], tuple(rules)))


def unregister(module: str) -> None:
    """Forget the registration made by ``module`` (if any)."""
    _FAMILIES[:] = [f for f in _FAMILIES if f.name != module]


def families() -> tuple[Family, ...]:
    """Every registration, in registration order."""
    return tuple(_FAMILIES)


def rules() -> tuple[Rule, ...]:
    """Every registered rule."""
    return tuple(r for f in _FAMILIES for r in f.rules)


def categories() -> tuple[str, ...]:
    """Every rule category, in registration order (``--category`` choices)."""
    return tuple(dict.fromkeys(r.category for r in rules()))


def make_checks(ctx: RunContext) -> list[Check]:
    """One fresh instance of every registered check, for the run ``ctx`` describes."""
    return [f.make(ctx) for f in _FAMILIES if f.make is not None]
