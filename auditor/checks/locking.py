"""unheld-lock and lock-*: the tracker's shared state and its semaphore.

Rules:

- ``unheld-lock/declared`` (high): inside a tracker entry point, an attribute
  the declared discipline says ``COMPUTE_RESOURCE_SEMAPHORE`` guards was
  written (or, where declared, read) by a thread or greenthread not holding it.
- ``unheld-lock/lockset`` (medium): Eraser-style inference for undeclared
  attributes: written by more than one owner with no lock common to every
  access since it became shared (virgin -> exclusive -> shared -> shared-modified).
- ``lock-order/cycle`` (high): two locks taken in opposite orders (potential deadlock).
- ``lock-held/at-exit`` (high): a tracker entry point returned holding a lock
  it did not hold on entry; ``lock-held/at-end``: a lock still held when the run ended.
- ``lock-io/under-semaphore`` (medium): placement or Ironic I/O made while
  the semaphore is held (every claim waits for it), with timing.
- ``lock-wait/starvation`` (medium): a wait for the semaphore above the threshold
  (claims starved behind the periodic task).

Example: ``unheld-lock/declared: compute_nodes written without "compute_resources"
held in nova/compute/resource_tracker.py:remove_node``.
"""

from __future__ import annotations

import dataclasses
import re
from collections import defaultdict
from typing import Iterable

from auditor.checks.registry import RunContext, register
from auditor.events import (
    SEMAPHORE, CallEvent, EntryEvent, Event, ExitEvent, LockEvent, Site, StateAccess,
)
from auditor.findings import Finding, Rule, Severity
from auditor.nova.discipline import DEFAULT, Discipline

__all__ = ["RULES", "LockingCheck"]

DECLARED = Rule("unheld-lock/declared", Severity.HIGH,
                "Guarded tracker state accessed without its lock")
LOCKSET = Rule("unheld-lock/lockset", Severity.MEDIUM,
               "Shared tracker state written by several threads with no common lock")
CYCLE = Rule("lock-order/cycle", Severity.HIGH, "Locks acquired in inconsistent order")
HELD_AT_EXIT = Rule("lock-held/at-exit", Severity.HIGH,
                    "A tracker entry point returned still holding a lock")
HELD_AT_END = Rule("lock-held/at-end", Severity.HIGH, "A lock was still held at the end of the run")
IO_UNDER_LOCK = Rule("lock-io/under-semaphore", Severity.MEDIUM,
                     "External I/O made while holding the tracker semaphore")
STARVATION = Rule("lock-wait/starvation", Severity.MEDIUM,
                  "Waited too long for the tracker semaphore")
RULES = (DECLARED, LOCKSET, CYCLE, HELD_AT_EXIT, HELD_AT_END, IO_UNDER_LOCK, STARVATION)

_PER_RESOURCE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def lock_class(name: str) -> str:
    """Per-resource locks (``ironic-node-<uuid>``) collapse to one class for ordering."""
    return _PER_RESOURCE.sub("*", name)


@dataclasses.dataclass
class _Shared:
    """Eraser state of one (tracker, attribute)."""

    owner: int
    state: str = "exclusive"       # exclusive | shared | shared-modified
    lockset: frozenset[str] | None = None
    reported: bool = False


@dataclasses.dataclass
class _Agg:
    site: Site
    count: int = 0
    total_s: float = 0.0
    max_s: float = 0.0
    examples: set[str] = dataclasses.field(default_factory=set)
    context: set[str] = dataclasses.field(default_factory=set)

    def add(self, seconds: float = 0.0, example: str = "", context: str = "") -> None:
        self.count += 1
        self.total_s += seconds
        self.max_s = max(self.max_s, seconds)
        if example and len(self.examples) < 5:
            self.examples.add(example)
        if context:
            self.context.add(context)


@register(*RULES)
class LockingCheck:
    """Streams lock, state, call and entry-point events; reports at ``finish``."""

    #: the event types ``observe`` looks at (the session dispatches by type)
    EVENTS = (StateAccess, LockEvent, CallEvent, EntryEvent, ExitEvent)

    @classmethod
    def for_run(cls, ctx: RunContext) -> "LockingCheck":
        """The check for one audited run (``registry.Check``)."""
        return cls(ctx.discipline, ctx.wait_threshold_s)

    def __init__(self, discipline: Discipline = DEFAULT, wait_threshold_s: float = 1.0):
        self.discipline = discipline
        self.wait_threshold_s = wait_threshold_s
        self._aggs: dict[tuple[Rule, str, Site], _Agg] = {}
        self._shared: dict[tuple[int, str], _Shared] = {}
        self._edges: dict[tuple[str, str], Site] = {}
        self._held: dict[int, list[str]] = defaultdict(list)
        self._entries: dict[int, list[tuple[str, tuple[str, ...]]]] = defaultdict(list)

    def _agg(self, rule: Rule, key: str, site: Site) -> _Agg:
        return self._aggs.setdefault((rule, key, site), _Agg(site))

    def _current_entry(self, owner: int) -> str:
        stack = self._entries.get(owner)
        return stack[-1][0] if stack else ""

    @property
    def made(self) -> int:
        """Distinct findings recorded this run (the tracer writes a new one at once)."""
        return len(self._aggs)

    def observe(self, event: Event) -> Iterable[Finding]:
        if isinstance(event, StateAccess):
            self._state(event)
        elif isinstance(event, LockEvent):
            self._lock(event)
        elif isinstance(event, CallEvent):
            if event.surface in ("placement", "ironic") and SEMAPHORE in event.held:
                self._agg(IO_UNDER_LOCK, f"{event.surface}:{event.name}", event.site).add(
                    event.duration_s, event.name, self._current_entry(event.owner))
        elif isinstance(event, EntryEvent):
            self._entries[event.owner].append((event.name, event.held))
        elif isinstance(event, ExitEvent):
            stack = self._entries.get(event.owner)
            entry_held = stack.pop()[1] if stack else ()
            leaked = set(event.held) - set(entry_held)
            for name in sorted(leaked):
                self._agg(HELD_AT_EXIT, f"{event.name}:{lock_class(name)}",
                          Site("nova/compute/resource_tracker.py", 0, event.name)).add(
                    example=name)
        return ()

    def _state(self, ev: StateAccess) -> None:
        if ev.site.function in self.discipline.exempt_functions:
            return
        lock = self.discipline.guarded_by.get(ev.attr)
        if lock is not None:
            if not self._entries.get(ev.owner):
                # The discipline is a contract of the tracker's methods; code
                # reaching into its attributes from outside them (tests poking
                # rt.compute_nodes, or calling private helpers) is not judged.
                return
            checked = ev.op != "read" or ev.attr in self.discipline.read_guarded
            if checked and lock not in ev.held:
                self._agg(DECLARED, f"{ev.attr}:{ev.op}", ev.site).add(
                    example=ev.key or ev.attr, context=",".join(ev.held) or "no locks")
            return
        self._eraser(ev)

    def _eraser(self, ev: StateAccess) -> None:
        key = (ev.tracker, ev.attr)
        held = frozenset(ev.held)
        st = self._shared.get(key)
        if st is None:
            self._shared[key] = _Shared(ev.owner)
            return
        if st.state == "exclusive":
            if ev.owner == st.owner:
                return
            st.state = "shared" if ev.op == "read" else "shared-modified"
            st.lockset = held
        else:
            st.lockset = st.lockset & held
            if ev.op != "read":
                st.state = "shared-modified"
        if st.state == "shared-modified" and not st.lockset and not st.reported:
            st.reported = True
            self._agg(LOCKSET, ev.attr, ev.site).add(example=ev.attr)

    def _lock(self, ev: LockEvent) -> None:
        held = self._held[ev.owner]
        if ev.action == "acquire":
            new = lock_class(ev.name)
            for before in ev.held:
                edge = (lock_class(before), new)
                if edge[0] != edge[1]:
                    self._edges.setdefault(edge, ev.site)
            held.append(ev.name)
            if ev.name == SEMAPHORE and ev.wait_s > self.wait_threshold_s:
                self._agg(STARVATION, SEMAPHORE, ev.site).add(ev.wait_s, ev.site.function)
        elif ev.name in held:
            held.remove(ev.name)

    def finish(self) -> Iterable[Finding]:
        for owner, names in self._held.items():
            for name in names:
                self._agg(HELD_AT_END, lock_class(name),
                          Site("nova/compute/resource_tracker.py", 0, "<end of run>")).add(
                    example=name)
        for cycle, site in _cycles(self._edges):
            yield Finding(CYCLE, f"Locks taken in both orders: {' -> '.join(cycle)}", site,
                          {"cycle": " -> ".join(cycle)}, key="->".join(sorted(cycle)))
        for (rule, key, site), agg in self._aggs.items():
            yield _finding(rule, key, site, agg)


def _finding(rule: Rule, key: str, site: Site, agg: _Agg) -> Finding:
    evidence = {"occurrences": str(agg.count), "examples": ", ".join(sorted(agg.examples))}
    if rule in (IO_UNDER_LOCK, STARVATION):
        evidence.update(total_s=f"{agg.total_s:.3f}", max_s=f"{agg.max_s:.3f}")
    if agg.context:
        label = "entry points" if rule is IO_UNDER_LOCK else "locks held"
        evidence[label] = ", ".join(sorted(agg.context))
    subject, _, detail = key.partition(":")
    if rule is DECLARED:
        message = f"{subject} {detail} without \"{SEMAPHORE}\" held in {site.function}"
    elif rule is LOCKSET:
        message = f"{key} written by several threads with no common lock"
    elif rule is HELD_AT_EXIT:
        message = f"{subject} returned still holding {detail}"
    elif rule is HELD_AT_END:
        message = f"lock {key} still held at the end of the run"
    elif rule is IO_UNDER_LOCK:
        message = (f"{subject} {detail} called {agg.count} time(s) under \"{SEMAPHORE}\" "
                   f"({agg.total_s:.2f}s in all, max {agg.max_s:.3f}s)")
    else:
        message = f"waited up to {agg.max_s:.2f}s for \"{SEMAPHORE}\" ({agg.count} time(s))"
    return Finding(rule, message, site, evidence, key=key)


def _cycles(edges: dict[tuple[str, str], Site]) -> Iterable[tuple[tuple[str, ...], Site]]:
    """Each elementary cycle once (as its sorted node set), with the site closing it."""
    graph: dict[str, list[str]] = defaultdict(list)
    for a, b in edges:
        graph[a].append(b)
    seen: set[frozenset[str]] = set()

    def walk(start: str, node: str, path: list[str]):
        for nxt in graph.get(node, ()):
            if nxt == start:
                members = frozenset(path)
                if members not in seen:
                    seen.add(members)
                    yield tuple(path + [start]), edges[(node, nxt)]
            elif nxt not in path and nxt > start:
                yield from walk(start, nxt, path + [nxt])

    for start in sorted(graph):
        yield from walk(start, start, [start])
