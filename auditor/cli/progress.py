"""Progress of a scenario run on stderr: a rich bar on a terminal, a few plain lines elsewhere."""

from __future__ import annotations

import sys
import threading

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress

__all__ = ["Progress"]


class Progress:
    """``update(scenario, label, done, total)`` from any worker thread."""

    def __init__(self, mode: str, console: Console | None = None):
        self.mode = mode
        self.console = console or Console(stderr=True)
        self._lock = threading.Lock()
        self._tasks: dict[tuple[str, str], int] = {}
        self._last_quarter: dict[tuple[str, str], int] = {}
        self._bar = RichProgress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=self.console, transient=False) \
            if self.console.is_terminal else None

    def __enter__(self) -> "Progress":
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()

    def update(self, scenario: str, label: str, done: int, total: int) -> None:
        key = (scenario, label)
        with self._lock:
            if self._bar is not None:
                if key not in self._tasks:
                    self._tasks[key] = self._bar.add_task(   # "[threading]" is not markup
                        escape(f"[{self.mode}] {scenario}: {label}"), total=total)
                self._bar.update(self._tasks[key], completed=done, total=total)
                return
            quarter = done * 4 // max(total, 1)
            if self._last_quarter.get(key) != quarter:
                self._last_quarter[key] = quarter
                print(f"[{self.mode}] {scenario}: {label} {done}/{total}", file=sys.stderr,
                      flush=True)
