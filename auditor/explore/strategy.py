"""Seeded choice of the next thread to run: random walk and PCT (priority change points)."""

from __future__ import annotations

import random
from typing import Protocol, Sequence

__all__ = ["Strategy", "RandomWalk", "PCT"]


class Strategy(Protocol):
    """Picks one of ``candidates`` (stable thread keys, sorted) at decision ``step``."""

    name: str

    def pick(self, candidates: Sequence[str], step: int) -> str: ...


class RandomWalk:
    """Uniform choice among the runnable threads at every decision."""

    name = "random"

    def __init__(self, rng: random.Random):
        self._rng = rng

    def pick(self, candidates: Sequence[str], step: int) -> str:
        return candidates[self._rng.randrange(len(candidates))]


class PCT:
    """Probabilistic concurrency testing (Burckhardt et al., ASPLOS 2010), depth ``depth``.

    Each thread gets a random priority above ``depth`` when first seen; the
    highest-priority runnable thread runs. At ``depth - 1`` change points drawn
    from the first ``steps`` decisions, the thread that ran last drops to a
    priority below all initial ones. After ``steps`` decisions the choice is
    uniform, so a thread that loops (a periodic task) cannot starve the others.
    """

    name = "pct"

    def __init__(self, rng: random.Random, depth: int = 3, steps: int = 400):
        self._rng = rng
        self._depth = depth
        self._steps = steps
        points = rng.sample(range(1, steps), min(depth - 1, steps - 1))
        self._change = {step: depth - 1 - i for i, step in enumerate(sorted(points))}
        self._prio: dict[str, float] = {}
        self._last: str | None = None

    def pick(self, candidates: Sequence[str], step: int) -> str:
        for key in candidates:
            if key not in self._prio:
                self._prio[key] = self._depth + self._rng.random()
        low = self._change.get(step)
        if low is not None and self._last is not None:
            self._prio[self._last] = low
        if step >= self._steps:
            choice = candidates[self._rng.randrange(len(candidates))]
        else:
            choice = max(candidates, key=self._prio.__getitem__)
        self._last = choice
        return choice
