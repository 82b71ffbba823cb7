"""What a schedule starts from: the same process state whether it runs first or after others.

A schedule run alone (``--schedule ID``) and the same schedule run after
others in one process must see the same world. What carries over otherwise,
and what is reset here before every schedule:

- the databases (nova, nova_api, placement): row ids, soft-deleted records and
  a host's earlier compute nodes. SQLite files are copied once, at the first
  schedule of the process, and copied back before every schedule (SQLite's
  backup API, so open pooled connections see the restored pages);
- nova's process-wide placement client and its ``ProviderTree`` cache
  (``report.PLACEMENTCLIENT``), the service-version and cell caches, and the
  caches of rows the restore removes (EC2/S3 id mappings, availability zones,
  quota's "user_id populated" flags): a cached mapping would skip the DB
  calls that create it again;
- nova's executors (the per-node resource-update pool runs one worker, so
  which worker takes which node is fixed by the submission order; all are told
  to shut down, and each idle futurist worker is handed a work item that does
  nothing, so it sees the shutdown at once instead of at its next 1 s queue
  poll, before nova joins them), and in
  threading mode the executor factory's lock becomes a ``SeenLock``: nova made
  it at import, before any exploring, and holds it across a log record (a hook
  point) while it creates an executor, so a thread blocked on it was a stall.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from typing import TYPE_CHECKING

from auditor.explore import green
from auditor.explore.locks import SeenLock

if TYPE_CHECKING:
    from scenarios.environment import Environment

__all__ = ["FreshState"]

ROLES = ("nova", "nova_api", "placement")


class _Wake:
    """A work item that does nothing: the idle worker that takes it sees it must stop."""

    @staticmethod
    def run() -> None:
        pass


class FreshState:
    """The process's starting state for schedules; ``restore`` before each one."""

    _snapshots: dict[str, sqlite3.Connection] | None = None   # path -> in-memory copy

    def __init__(self, env: "Environment"):
        self.env = env
        self.databases = env.backends.sqlite   # other engines are not restored

    def restore(self) -> None:
        """Put the databases and nova's process-wide caches back as the first schedule saw them."""
        if self.databases:
            self._restore_databases()
        self._reset_nova()

    def _paths(self) -> list[str]:
        return [f"{self.env.workdir}/{role}.sqlite" for role in ROLES]

    def _restore_databases(self) -> None:
        cls = type(self)
        if cls._snapshots is None:
            snapshots = {}
            for path in self._paths():
                memory = sqlite3.connect(":memory:", check_same_thread=False)
                with contextlib.closing(sqlite3.connect(path)) as db:
                    db.backup(memory)
                snapshots[path] = memory
            cls._snapshots = snapshots
            return
        for path, memory in cls._snapshots.items():
            with contextlib.closing(sqlite3.connect(path, timeout=60)) as db:
                memory.backup(db)

    @staticmethod
    def _reset_nova() -> None:
        from nova import availability_zones, conf, context, objects, quota, thread_pool_factory
        from nova.objects import ec2
        from nova.scheduler.client import report

        conf.CONF.set_override("update_resources_max_workers", 1, group="compute")
        for executor in list(thread_pool_factory.FACTORY._all_executors.values()):
            executor.shutdown(wait=False)
            for _ in getattr(executor, "_workers", ()):   # futurist's thread pool
                executor._work_queue.put(_Wake)
        thread_pool_factory.reset_all_executors()
        factory = thread_pool_factory.FACTORY
        if not (green.monkey_patched() or isinstance(factory._shutdown_lock, SeenLock)):
            factory._shutdown_lock = SeenLock(threading.Lock())
        report.PLACEMENTCLIENT = None
        objects.Service.clear_min_version_cache()
        context.CELL_CACHE.clear()
        ec2._CACHE = availability_zones.MC = None
        quota.UID_QFD_POPULATED_CACHE_BY_PROJECT.clear()
        quota.UID_QFD_POPULATED_CACHE_ALL = False
