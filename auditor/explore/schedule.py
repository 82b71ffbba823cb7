"""Schedule ids (``seed:index``): each names one schedule, and with it its strategy."""

from __future__ import annotations

import dataclasses
import random

from auditor.explore.strategy import PCT, RandomWalk, Strategy

__all__ = ["ScheduleId", "ScheduleError", "STRATEGIES"]

#: Strategies in turn: schedule ``seed:index`` uses ``STRATEGIES[index % 2]``.
STRATEGIES = ("pct", "random")


class ScheduleError(ValueError):
    """A schedule id that is not ``SEED:INDEX`` (integers, index >= 0)."""


@dataclasses.dataclass(frozen=True, order=True)
class ScheduleId:
    """The ``index``-th schedule explored from ``seed``."""

    seed: int
    index: int

    def __str__(self) -> str:
        return f"{self.seed}:{self.index}"

    @classmethod
    def parse(cls, text: str) -> "ScheduleId":
        seed, sep, index = text.partition(":")
        try:
            sid = cls(int(seed), int(index))
        except ValueError:
            sid = None
        if not sep or sid is None or sid.index < 0:
            raise ScheduleError(f"schedule id {text!r} is not SEED:INDEX "
                                f"(as printed by --explore, e.g. 11:4)")
        return sid

    @property
    def strategy_name(self) -> str:
        return STRATEGIES[self.index % len(STRATEGIES)]

    def strategy(self, *, depth: int = 3, steps: int = 400) -> Strategy:
        """A fresh strategy seeded by this id alone (so a replay makes the same choices)."""
        rng = random.Random(f"explore:{self.seed}:{self.index}")
        if self.strategy_name == "pct":
            return PCT(rng, depth=depth, steps=steps)
        return RandomWalk(rng)
