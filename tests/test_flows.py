"""Builds, reschedules, deletes, rebuilds and evacuations run nova's own ComputeManager code.

Shown through the auditor's own hook events (tracker entry points, with the
thread and global order of each) inside frames of nova's manager methods,
which a wrapt probe installed here records with the same event stamp.
"""

from __future__ import annotations

import threading
import uuid

import pytest
import wrapt

from auditor.events import EntryEvent, stamp

#: nova's manager methods the probe records: (method, index of ``instance``, of ``node``
#: in the arguments after ``self``)
PROBED = {"_build_and_run_instance": (1, 8), "_delete_instance": (1, None),
          "_do_rebuild_instance_with_claim": (1, None)}


class Probe:
    """Frames of nova's manager methods: ``(method, instance uuid, node, owner, start, end, exc)``."""

    def __init__(self):
        self.frames: list[tuple] = []
        self._lock = threading.Lock()

    def install(self, monkeypatch) -> None:
        from nova.compute import manager

        for method, (inst_at, node_at) in PROBED.items():
            monkeypatch.setattr(manager.ComputeManager, method,
                                self._wrapper(inst_at, node_at)(getattr(manager.ComputeManager,
                                                                        method)))

    def _wrapper(self, inst_at: int, node_at: int | None):
        @wrapt.decorator
        def record(wrapped, instance, args, kwargs):
            inst = args[inst_at] if len(args) > inst_at else kwargs["instance"]
            node = args[node_at] if node_at is not None and len(args) > node_at else None
            start, _, owner, _ = stamp()
            exc = None
            try:
                return wrapped(*args, **kwargs)
            except BaseException as e:
                exc = type(e).__name__
                raise
            finally:
                with self._lock:
                    self.frames.append((wrapped.__name__, inst.uuid, node, owner, start,
                                        stamp()[0], exc))
        return record

    def of(self, method: str, instance_uuid: str) -> list[tuple]:
        return sorted((f for f in self.frames if f[0] == method and f[1] == instance_uuid),
                      key=lambda f: f[4])


def entries_inside(events, frame, name: str) -> list[EntryEvent]:
    """Tracker entry points called from within ``frame`` (same owner, between its stamps)."""
    _, _, _, owner, start, end, _ = frame
    return [e for e in events if isinstance(e, EntryEvent) and e.name == name
            and e.owner == owner and start < e.seq < end]


@pytest.fixture
def flows(env, monkeypatch, hooks_recording):
    """A two-host cluster with hooks recording and nova's manager methods probed."""
    from scenarios.environment import Cluster
    from scenarios.operations import Operations

    probe = Probe()
    probe.install(monkeypatch)
    _, events, errors = hooks_recording
    cluster = Cluster(env, [f"flows-{uuid.uuid4().hex[:6]}-{i}" for i in range(2)])
    try:
        for _ in range(4):
            cluster.ironic.enroll(resource_class="baremetal-flows")
        ops = Operations(cluster, auth_token="flows-token")
        flavor = ops.flavor("baremetal-flows")
        for compute in cluster.computes.values():
            compute.periodic(startup=True)
        yield ops, flavor, probe, events
    finally:
        cluster.close()
    assert errors == []


def test_build_claims_inside_novas_build_and_run_instance(flows):
    """The tracker's instance_claim runs inside nova's _build_and_run_instance for the node."""
    ops, flavor, probe, events = flows
    boot = ops.boot(flavor)
    assert boot.outcome == "active", boot.error
    (frame,) = probe.of("_build_and_run_instance", boot.instance.uuid)
    assert frame[2] == boot.node and frame[6] is None
    assert len(entries_inside(events, frame, "instance_claim")) == 1


def test_failed_deploy_is_rescheduled_by_nova(flows):
    """A deploy failure: nova aborts the claim, asks the conductor, builds on another node."""
    ops, flavor, probe, events = flows
    boot = ops.boot(flavor, fail_deploy=True)
    assert boot.outcome == "active", boot.error
    first, second = probe.of("_build_and_run_instance", boot.instance.uuid)
    assert first[6] == "RescheduledException" and second[6] is None
    assert first[2] != second[2] == boot.node
    assert boot.attempts == [first[2], second[2]]
    assert entries_inside(events, first, "abort_instance_claim")
    assert entries_inside(events, second, "instance_claim")


def test_failed_build_without_retries_ends_in_error(flows):
    """max_attempts = 1: nova records the fault, nils host and node, frees the allocation."""
    ops, flavor, probe, _ = flows
    boot = ops.boot(flavor, fail_deploy=True, reschedule=False)
    assert boot.outcome == "failed" and "Deploy step deploy.deploy failed" in boot.error
    assert (boot.host, boot.node) == (None, None)
    assert ops.conductor.placement.get_allocations_for_consumer(ops.ctx,
                                                                 boot.instance.uuid) == {}


def test_delete_updates_usage_inside_novas_delete_instance(flows, env):
    """terminate_instance: nova's _delete_instance tells the tracker and asks neutron."""
    ops, flavor, probe, events = flows
    boot = ops.boot(flavor)
    asked = env.neutron.requests["GET /v2.0/ports"]
    ops.delete(boot)
    (frame,) = probe.of("_delete_instance", boot.instance.uuid)
    assert frame[6] is None
    assert entries_inside(events, frame, "update_usage")
    assert env.neutron.requests["GET /v2.0/ports"] > asked  # deallocate_for_instance


def test_rebuild_and_evacuation_run_novas_rebuild(flows):
    """Same-host rebuild (NopClaim) and evacuation (rt.rebuild_claim) in nova's rebuild_instance."""
    from scenarios import moves

    ops, flavor, probe, events = flows
    boot = ops.boot(flavor)
    assert moves.rebuild(ops, boot) == "rebuilt"
    source = ops.cluster.computes[boot.host]
    source.set_up(False)
    outcome = moves.evacuate(ops, boot)
    source.set_up(True)
    rebuilt, *evacuated = probe.of("_do_rebuild_instance_with_claim", boot.instance.uuid)
    assert rebuilt[6] is None and not entries_inside(events, rebuilt, "rebuild_claim")
    if outcome != "no-valid-host":  # the other host may own no free node: no second call
        assert entries_inside(events, evacuated[0], "rebuild_claim")


def test_instance_the_manager_rejects_ends_the_build(flows):
    """An instance no longer SCHEDULING: nova refuses to build it; the call returns, no hang."""
    from nova.compute import task_states

    ops, flavor, probe, _ = flows
    from scenarios.operations import Boot

    boot = Boot(ops.create_instance(flavor))
    compute, node = ops.schedule(boot.instance)
    boot.instance.task_state = task_states.DELETING
    boot.instance.save()
    ops.build(boot, compute, node)
    assert boot.outcome.startswith("unexpected: building/deleting")
    assert probe.of("_build_and_run_instance", boot.instance.uuid) == []
    assert ops.conductor.placement.get_allocations_for_consumer(ops.ctx,
                                                                 boot.instance.uuid) == {}


def test_neutron_answering_garbage_fails_the_delete_clearly(flows, env):
    """A neutron that answers non-JSON: terminate_instance raises and the instance is ERROR."""
    from nova.compute import vm_states

    ops, flavor, _, _ = flows
    boot = ops.boot(flavor)
    env.neutron.garble(10)
    try:
        with pytest.raises(Exception) as raised:
            ops.delete(boot)
    finally:
        env.neutron.garble(0)
    assert "nova" in type(raised.value).__module__ or "neutron" in type(raised.value).__module__
    ops.refresh(boot)
    assert boot.instance.vm_state == vm_states.ERROR
