"""The events hooks emit and checks consume: frozen, plain data, and the stamp that heads each."""

from __future__ import annotations

import dataclasses
import itertools
import threading
import time
import weakref
from typing import Callable, Union

try:
    from greenlet import getcurrent as _greenlet
except ImportError:   # no eventlet here
    _greenlet = None

__all__ = [
    "Site", "LogEvent", "LockEvent", "CallEvent", "EntryEvent", "ExitEvent",
    "StateAccess", "NodeView", "Partition", "InstanceView", "AccountingSnapshot", "Event",
    "Sink", "SEMAPHORE", "stamp", "thread_name",
]

#: The tracker's lock, as oslo.concurrency names it (nova prefixes "nova-").
SEMAPHORE = "compute_resources"

_seq = itertools.count()
#: greenlet -> the thread ``threading.current_thread`` gave it (eventlet only; see ``stamp``)
_green_threads: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def stamp(owner: int | None = None) -> tuple[int, float, int, str]:
    """``(seq, t, owner, thread)``, the head of every event: one order for the whole process.

    ``threading`` is looked up at call time, so in eventlet mode the owner is the greenthread.
    The thread is found by its ident in threading's own table of live threads (renames and
    reused idents stay right), not through ``current_thread``: eventlet's scans every
    thread on each call for a ``threading.Thread`` (~8-16 us per event with 20 threads).
    """
    ident = threading.get_ident()
    thread = threading._active.get(ident) or _thread_elsewhere(ident)
    return next(_seq), time.monotonic(), ident if owner is None else owner, thread.name


def thread_name() -> str:
    """The calling thread's name, looked up as ``stamp`` does (inline there: it heads
    every event)."""
    ident = threading.get_ident()
    return (threading._active.get(ident) or _thread_elsewhere(ident)).name


def _thread_elsewhere(ident: int) -> threading.Thread:
    """The thread of one threading did not start (``current_thread``'s answer). Under eventlet
    (the ident is the current greenlet's id) it is remembered for as long as that greenlet
    lives: for a greenlet of ``spawn_n`` (futurist's green executor runs nova's periodic
    per-node work in them) eventlet's ``current_thread`` scans every thread again on each
    call and answers with the OS thread, never caching it."""
    green = _greenlet() if _greenlet is not None else None
    if green is None or id(green) != ident:   # a native thread, not a greenthread
        return threading.current_thread()
    thread = _green_threads.get(green)
    if thread is None:
        thread = _green_threads[green] = threading.current_thread()
    return thread


def _quick_init(cls: type) -> type:
    """Give a frozen slots dataclass an ``__init__`` that sets each slot through its member
    descriptor instead of ``object.__setattr__`` by name: same signature and defaults, still
    frozen, about twice as fast (hooks build one event per recorded operation)."""
    namespace: dict[str, object] = {}
    params, body = [], []
    for f in dataclasses.fields(cls):
        namespace[f"_set_{f.name}"] = getattr(cls, f.name).__set__
        if f.default is not dataclasses.MISSING:
            namespace[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
        else:
            params.append(f.name)
        body.append(f"    _set_{f.name}(self, {f.name})")
    exec(f"def __init__(self, {', '.join(params)}):\n" + "\n".join(body), namespace)
    cls.__init__ = namespace["__init__"]  # type: ignore[misc]
    return cls


@_quick_init
@dataclasses.dataclass(frozen=True, slots=True)
class Site:
    """A place in the audited code: path relative to site-packages (``nova/...``)."""

    path: str
    line: int
    function: str


@dataclasses.dataclass(frozen=True, slots=True)
class _Base:
    seq: int          # global order of emission
    t: float          # time.monotonic() at emission
    owner: int        # thread id, or greenthread id in eventlet mode
    thread: str       # thread name, for humans


@_quick_init
@dataclasses.dataclass(frozen=True, slots=True)
class LogEvent(_Base):
    """A log record emitted by nova or a library it calls (captured at DEBUG)."""

    logger: str
    level: int
    site: Site
    template: str                       # record.msg, unformatted
    args: tuple[str, ...]               # repr() of each argument (values of a dict arg)
    message: str                        # record.getMessage()
    extra: tuple[tuple[str, str], ...]  # non-standard record attributes, repr'd
    exc_text: str | None                # formatted exception, chain and traceback
    held: tuple[str, ...]               # locks held by the emitting owner


@_quick_init
@dataclasses.dataclass(frozen=True, slots=True)
class LockEvent(_Base):
    """An oslo.concurrency lock acquired or released."""

    name: str            # lock name as given to lockutils (e.g. "compute_resources")
    action: str          # "acquire" | "release"
    site: Site           # the code that asked for the lock
    fair: bool
    wait_s: float        # on acquire: time spent waiting
    hold_s: float        # on release: time held
    held: tuple[str, ...]  # locks the owner held before this action


@_quick_init
@dataclasses.dataclass(frozen=True, slots=True)
class CallEvent(_Base):
    """An external call: placement (report client) or Ironic (SDK), after it returned."""

    surface: str         # "placement" | "ironic"
    name: str            # method name, e.g. "set_inventory_for_provider" or "get_node"
    site: Site           # the nova code that made the call
    duration_s: float
    exc_type: str | None  # qualified name of the exception raised, if any
    held: tuple[str, ...]


@_quick_init
@dataclasses.dataclass(frozen=True, slots=True)
class EntryEvent(_Base):
    """A tracker entry point was entered."""

    name: str            # "instance_claim" (ResourceTracker method name)
    tracker: int         # id() of the ResourceTracker
    held: tuple[str, ...]
    state: tuple[tuple[str, str], ...] = ()  # tracker state snapshot (claim entry points)


@_quick_init
@dataclasses.dataclass(frozen=True, slots=True)
class ExitEvent(_Base):
    """A tracker entry point returned or raised."""

    name: str
    tracker: int
    duration_s: float
    exc_type: str | None     # qualified name ("nova.exception.ComputeResourcesUnavailable")
    exc_message: str | None  # str(exception)
    exc_site: Site | None    # innermost nova frame of the traceback
    held: tuple[str, ...]    # locks still held by the owner when the entry point exited
    under_lock: bool         # the exception passed through a COMPUTE_RESOURCE_SEMAPHORE hold
    state: tuple[tuple[str, str], ...] = ()  # tracker state snapshot after an exception


@_quick_init
@dataclasses.dataclass(frozen=True, slots=True)
class StateAccess(_Base):
    """Tracker shared state read or written."""

    attr: str            # "compute_nodes", "tracked_instances", ...
    op: str              # "read" | "write" (container mutation) | "rebind" (attribute set)
    key: str | None      # container key touched, if any
    tracker: int
    site: Site
    held: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class NodeView:
    """One Ironic node as Ironic, nova's DB, placement and the trackers see it."""

    uuid: str
    in_ironic: bool
    ironic_instance: str | None
    provision_state: str | None
    maintenance: bool
    db_records: tuple[str, ...]        # hosts of non-deleted ComputeNode rows for this node
    providers: int                     # resource providers named/uuid'd after the node
    reserved: int | None               # placement inventory reserved (None: no inventory)
    consumers: tuple[str, ...]         # consumers with allocations on the node's provider
    tracked_by: tuple[str, ...]        # hosts whose tracker has it in compute_nodes
    shard: str | None = None           # Ironic's shard field
    conductor_group: str = ""          # Ironic's conductor_group ("": the default group)
    reported_by: tuple[str, ...] = ()  # hosts whose report client's provider tree holds it
    managed_by: tuple[str, ...] = ()   # hosts whose Ironic driver has it in its node cache


@dataclasses.dataclass(frozen=True, slots=True)
class Partition:
    """The Ironic nodes a compute service is configured to manage (``[ironic]`` options)."""

    host: str
    shard: str | None                  # [ironic] shard (None: unset)
    conductor_group: str | None        # [ironic] conductor_group (None: unset; "": default)


@dataclasses.dataclass(frozen=True, slots=True)
class InstanceView:
    """One instance as nova's DB and the trackers see it."""

    uuid: str
    vm_state: str
    host: str | None
    node: str | None
    tracked_by: tuple[str, ...]        # hosts whose tracker has it in tracked_instances


@dataclasses.dataclass(frozen=True, slots=True)
class AccountingSnapshot(_Base):
    """The cloud's state at a scenario checkpoint, for the accounting invariants."""

    label: str                         # "end", "after-rebalance", ...
    nodes: tuple[NodeView, ...]
    instances: tuple[InstanceView, ...]
    settled: bool                      # a periodic ran after the last change
    partitions: tuple[Partition, ...] = ()  # services with a shard or conductor group


Event = Union[LogEvent, LockEvent, CallEvent, EntryEvent, ExitEvent, StateAccess,
              AccountingSnapshot]

#: Where hooks send events.
Sink = Callable[[Event], None]


# -- appended for scenarios that plant bad input and check usage numbers ------------


@dataclasses.dataclass(frozen=True, slots=True)
class BadInput(_Base):
    """A scenario planted malformed input (an Ironic node's field, or a claim's argument)."""

    node: str            # Ironic node uuid the bad data belongs to (or the claim's node)
    field: str           # "properties.memory_mb", "resource_class", "instance.host" ...
    description: str     # what is wrong with it, for humans ("negative", "non-numeric" ...)


@dataclasses.dataclass(frozen=True, slots=True)
class NodeUsage:
    """A tracker's usage numbers for one node next to what its instances add up to."""

    uuid: str
    host: str                          # the tracker's host
    used: tuple[int, int, int, int]    # memory_mb_used, vcpus_used, local_gb_used, running_vms
    expected: tuple[int, int, int, int]  # the same, summed from the node's instances in the DB


@dataclasses.dataclass(frozen=True, slots=True)
class UsageSnapshot(_Base):
    """Every tracked node's usage at a scenario checkpoint."""

    label: str
    nodes: tuple[NodeUsage, ...]
    settled: bool


@dataclasses.dataclass(frozen=True, slots=True)
class ConfigParsed(_Base):
    """``nova.config.parse_args`` returned: the process's configuration (and its secrets) is loaded."""


Event = Union[Event, BadInput, UsageSnapshot, ConfigParsed]  # type: ignore[misc]
__all__ += ["BadInput", "NodeUsage", "UsageSnapshot", "ConfigParsed"]


@dataclasses.dataclass(frozen=True, slots=True)
class CodeLiteral:
    """A string literal in loaded code, and the name it is bound to (``""``: none)."""

    site: Site           # the code that holds it (line of the load, or of the definition)
    kind: str            # constant | assignment | comparison | keyword | default | module
    name: str            # the variable, attribute, keyword, parameter or global it goes to
    value: str           # the literal itself: judged, never reported


@dataclasses.dataclass(frozen=True, slots=True)
class LoadedCode(_Base):
    """The literals of the tracker, Ironic driver and report client code loaded in the process."""

    modules: tuple[str, ...]           # paths of the scanned modules that were loaded
    code_objects: int                  # functions and nested code objects scanned
    literals: tuple[CodeLiteral, ...]


Event = Union[Event, LoadedCode]  # type: ignore[misc]
__all__ += ["CodeLiteral", "LoadedCode"]


@dataclasses.dataclass(frozen=True, slots=True)
class WireCredential:
    """A credential one request or connection put on the wire (judged, never reported)."""

    kind: str            # the header (X-Auth-Token, Authorization ...), url-password, password
    value: str
    issued: bool = False  # obtained at run time (identity service, request context) or the
    #                       no-auth plugin's placeholder: not configuration, not hard-coded


@dataclasses.dataclass(frozen=True, slots=True)
class WireEvent(_Base):
    """How the process reached a peer: an HTTP request (keystoneauth), a database connection
    (SQLAlchemy), a message-bus transport (oslo.messaging); and which credentials it sent."""

    endpoint: str        # placement | ironic | database | message-bus | another service type
    scheme: str          # https, http, postgresql, mysql, sqlite, rabbit, fake ...
    host: str            # "" for in-process transports and local files
    port: int | None
    tls: bool            # the channel is (or must be) encrypted
    verify: bool | None  # TLS peer verification on/off; None: not applicable
    client_cert: bool
    timeout: float | None   # None: no timeout
    retries: int | None     # None: not known for this transport
    auth: str            # the auth plugin or mechanism ("keystoneauth1.token_endpoint.Token")
    credentials: tuple[WireCredential, ...]
    site: Site           # the nova (or caller's) code that made the call
    held: tuple[str, ...]


Event = Union[Event, WireEvent]  # type: ignore[misc]
__all__ += ["WireCredential", "WireEvent"]

#: The hook surface (``auditor.hooks.SURFACES``) that records each event type a user may
#: leave unhooked (``auditor trace --surfaces``), by name; the other types are always recorded.
SURFACE_OF = {"LogEvent": "logging", "LockEvent": "locks", "CallEvent": "external",
              "WireEvent": "wire", "EntryEvent": "tracker-entry", "ExitEvent": "tracker-entry",
              "StateAccess": "tracker-state"}
#: Those surfaces, in the order users read them.
SURFACE_NAMES = tuple(dict.fromkeys(SURFACE_OF.values()))
#: Surfaces whose events another's are judged against: a state write by the locks held and
#: the entry point it is in (without them every guarded write would look unlocked).
SURFACE_NEEDS = {"tracker-state": ("locks", "tracker-entry")}


def surfaces_listed(text: str) -> tuple[str, ...]:
    """The surfaces a comma-separated list names (``auditor trace --surfaces``) and those
    they need (``SURFACE_NEEDS``), in ``SURFACE_NAMES``' order (names it lacks last)."""
    names = {n.strip() for n in text.split(",") if n.strip()}
    names |= {need for n in names for need in SURFACE_NEEDS.get(n, ())}
    rank = {name: i for i, name in enumerate(SURFACE_NAMES)}
    return tuple(sorted(names, key=lambda n: (rank.get(n, len(rank)), n)))


__all__ += ["SURFACE_OF", "SURFACE_NAMES", "SURFACE_NEEDS", "surfaces_listed"]
