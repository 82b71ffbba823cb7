"""The controlled scheduler: hook points are decision points; seeded strategies (random walk,
PCT); schedule ids ``seed:index``; exploration of N schedules and exact replay of one.

Hooks call ``Controller.point`` once per event (``Recorder.gate``); nothing else
in the auditor knows about scheduling.
"""

from auditor.explore.controller import WORLD_THREADS, Controller, Outcome
from auditor.explore.schedule import STRATEGIES, ScheduleError, ScheduleId
from auditor.explore.strategy import PCT, RandomWalk, Strategy

__all__ = ["Controller", "Outcome", "WORLD_THREADS", "ScheduleId", "ScheduleError",
           "STRATEGIES", "Strategy", "RandomWalk", "PCT"]
