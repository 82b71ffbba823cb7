"""What there is to exercise: log call sites, locked entry points, report client calls, peers.

Read from the installed nova's source with ``ast`` (nothing is imported), so
the report can say how much of the tracker a run actually exercised.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib.util
import os
from typing import Iterable

from auditor.events import (BadInput, CallEvent, EntryEvent, Event, LoadedCode, LogEvent,
                            WireEvent)
from auditor.peers import ENDPOINTS, channel

__all__ = ["Universe", "universe", "CoverageCounter", "TRACKER_PATH", "IRONIC_PATH",
           "REPORT_CLIENT_PATH", "SCANNED_PATHS",
           "IRONIC_TRACKER_FACING"]

TRACKER_PATH = "nova/compute/resource_tracker.py"
IRONIC_PATH = "nova/virt/ironic/driver.py"
#: IronicDriver methods the tracker and the manager's resource/build/delete flows call.
IRONIC_TRACKER_FACING = frozenset({
    "get_available_nodes", "get_available_resource", "update_provider_tree", "_node_resource",
    "_parse_node_properties", "_refresh_cache", "_refresh_hash_ring", "_get_node_list",
    "_node_from_cache", "node_is_available", "is_node_deleted", "prepare_for_spawn",
    "_set_instance_id", "spawn", "destroy", "_unprovision", "failed_spawn_cleanup",
    "_cleanup_deploy", "_wait_for_active", "rebuild", "_add_instance_info_to_node",
    "_remove_instance_info_from_node", "get_nodenames_by_uuid",
})
REPORT_CLIENT_PATH = "nova/scheduler/client/report.py"
SCANNED_PATHS = frozenset({TRACKER_PATH, IRONIC_PATH, REPORT_CLIENT_PATH})
_LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical"}


@dataclasses.dataclass(frozen=True)
class Universe:
    """Everything a run could exercise, as stable ids."""

    log_call_sites: frozenset[str]            # "nova/compute/resource_tracker.py:1234"
    synchronized_entry_points: frozenset[str]  # ResourceTracker method names
    report_client_calls: frozenset[str]        # SchedulerReportClient methods the tracker calls
    #: every source line of a (multi-line) LOG call -> its call site id
    log_lines: dict[int, str] = dataclasses.field(default_factory=dict, hash=False)
    missing: tuple[str, ...] = ()
    #: LOG call sites in the Ironic driver's tracker-facing methods
    ironic_log_call_sites: frozenset[str] = frozenset()
    ironic_log_lines: dict[int, str] = dataclasses.field(default_factory=dict, hash=False)
    #: modules whose loaded code the hard-coded check scans
    scanned_modules: frozenset[str] = SCANNED_PATHS
    #: peers reached over a transport the wire hooks see (``auditor.peers.ENDPOINTS``)
    endpoints: frozenset[str] = ENDPOINTS


def _source(module: str) -> str | None:
    """The source of ``module``, located without importing it or its parent packages
    (``find_spec`` of a submodule imports the parents, and importing ``nova.virt.ironic``
    initialises oslo.service's concurrency backend before nova has chosen its mode).
    """
    top, _, rest = module.partition(".")
    spec = importlib.util.find_spec(top)
    if spec is None:
        return None
    if not rest:
        origin = spec.origin
    else:
        parts = rest.split(".")
        candidates = [os.path.join(base, *parts) + ".py"
                      for base in spec.submodule_search_locations or ()]
        candidates += [os.path.join(base, *parts, "__init__.py")
                       for base in spec.submodule_search_locations or ()]
        origin = next((c for c in candidates if os.path.isfile(c)), None)
    if not origin or not os.path.isfile(origin):
        return None
    with open(origin, encoding="utf-8") as f:
        return f.read()


def _is_semaphore_lock(decorator: ast.expr) -> bool:
    return (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)
            and decorator.func.attr == "synchronized" and bool(decorator.args)
            and isinstance(decorator.args[0], ast.Name)
            and decorator.args[0].id == "COMPUTE_RESOURCE_SEMAPHORE")


def _is_log_call(node: ast.AST) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in _LOG_METHODS and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "LOG")


def _ironic_sites() -> tuple[frozenset[str], dict[int, str]]:
    """LOG calls inside IronicDriver's tracker-facing methods (nested functions included)."""
    source = _source("nova.virt.ironic.driver")
    if source is None:
        return frozenset(), {}
    sites, lines = set(), {}
    for cls in ast.walk(ast.parse(source)):
        if not (isinstance(cls, ast.ClassDef) and cls.name == "IronicDriver"):
            continue
        for method in cls.body:
            if isinstance(method, ast.FunctionDef) and method.name in IRONIC_TRACKER_FACING:
                for node in ast.walk(method):
                    if _is_log_call(node):
                        site = f"{IRONIC_PATH}:{node.lineno}"
                        sites.add(site)
                        lines.update(dict.fromkeys(range(node.lineno, node.end_lineno + 1), site))
    return frozenset(sites), lines


@functools.lru_cache(maxsize=1)
def universe() -> Universe:
    """Scan ``nova/compute/resource_tracker.py`` (cached for the process)."""
    source = _source("nova.compute.resource_tracker")
    if source is None:
        return Universe(frozenset(), frozenset(), frozenset(), missing=(TRACKER_PATH,))
    tree = ast.parse(source)
    logs, locked, client, lines = set(), set(), set(), {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and any(map(_is_semaphore_lock,
                                                         node.decorator_list)):
            locked.add(node.name)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            target = node.func.value
            if (node.func.attr in _LOG_METHODS and isinstance(target, ast.Name)
                    and target.id == "LOG"):
                site = f"{TRACKER_PATH}:{node.lineno}"
                logs.add(site)
                lines.update(dict.fromkeys(range(node.lineno, node.end_lineno + 1), site))
            elif (isinstance(target, ast.Attribute) and target.attr == "reportclient"):
                client.add(node.func.attr)
    ironic, ironic_lines = _ironic_sites()
    return Universe(frozenset(logs), frozenset(locked), frozenset(client), lines,
                    ironic_log_call_sites=ironic, ironic_log_lines=ironic_lines)


class CoverageCounter:
    """Collects which ids of the universe the events exercised."""

    def __init__(self, uni: Universe):
        self.universe = uni
        self.hit: dict[str, set[str]] = {"log_call_sites": set(),
                                         "synchronized_entry_points": set(),
                                         "report_client_calls": set(),
                                         "ironic_log_call_sites": set(),
                                         "scanned_modules": set(),
                                         "endpoints": set()}
        #: facts, not shares of a universe: how each peer was reached (``peers.channel``),
        #: which malformed inputs scenarios planted
        self.facts: dict[str, set[str]] = {"channels": set(), "bad_inputs": set()}

    def observe(self, event: Event) -> None:
        kind = type(event)
        try:
            handle = _HANDLERS[kind]
        except KeyError:   # first event of its type: the first handler of a class it is
            handle = _HANDLERS[kind] = next(
                (h for base, h in _HANDLED if issubclass(kind, base)), None)
        if handle is not None:
            handle(self, event)

    def _log(self, event: LogEvent) -> None:
        if event.site.path == TRACKER_PATH:
            self._mark_log(event.site.line)
        elif event.site.path == IRONIC_PATH:
            site = self.universe.ironic_log_lines.get(event.site.line)
            if site is not None:
                self.hit["ironic_log_call_sites"].add(site)

    def _entry(self, event: EntryEvent) -> None:
        if event.name in self.universe.synchronized_entry_points:
            self.hit["synchronized_entry_points"].add(event.name)

    def _loaded(self, event: LoadedCode) -> None:
        self.hit["scanned_modules"].update(event.modules)

    def _call(self, event: CallEvent) -> None:
        if event.surface == "report-client" and event.name in self.universe.report_client_calls:
            self.hit["report_client_calls"].add(event.name)

    def _wire(self, event: WireEvent) -> None:
        self.hit["endpoints"].add(event.endpoint)
        self.facts["channels"].add(channel(event))

    def _bad_input(self, event: BadInput) -> None:
        self.facts["bad_inputs"].add(f"{event.field}: {event.description}")

    def _mark_log(self, line: int) -> None:
        site = self.universe.log_lines.get(line)
        if site is not None:
            self.hit["log_call_sites"].add(site)

    def report(self, missing_hook_points: Iterable[str] = ()) -> dict:
        """The report's ``coverage`` section, with the ids behind each count."""
        out: dict = {}
        for name, hit in self.hit.items():
            every = getattr(self.universe, name)
            out[name] = {"total": len(every), "hit": len(hit & every),
                         "ids_hit": sorted(hit & every), "ids_missed": sorted(every - hit)}
        for name, ids in self.facts.items():
            out[name] = {"total": len(ids), "hit": len(ids), "ids_hit": sorted(ids),
                         "facts": True}
        out["missing_hook_points"] = sorted(set(missing_hook_points) | set(self.universe.missing))
        return out


#: Event classes and what ``CoverageCounter.observe`` does with them (the first class an
#: event is an instance of wins); ``_HANDLERS`` caches the answer per event type: one dict
#: lookup per event instead of a chain of ``isinstance`` calls (most events count nothing).
_HANDLED = ((LogEvent, CoverageCounter._log), (EntryEvent, CoverageCounter._entry),
            (LoadedCode, CoverageCounter._loaded), (CallEvent, CoverageCounter._call),
            (WireEvent, CoverageCounter._wire), (BadInput, CoverageCounter._bad_input))
_HANDLERS: dict[type, object] = {}
