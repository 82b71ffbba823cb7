"""Shard and conductor-group isolation: the simulator filters like Ironic, the scenario's
invariant holds on unmodified nova and fires when one compute ignores its shard."""

from __future__ import annotations

import importlib.util

import pytest

from auditor.checks.accounting import AccountingCheck, _isolation
from auditor.events import NodeView, Partition
from scenarios import library  # noqa: F401 - registers the scenarios
from scenarios.framework import REGISTRY, Scenario, run_scenario
from scenarios.ironic_sim import FakeIronic
from scenarios.shards import SHARDS


class TestSimulatorFiltersLikeIronic:
    @pytest.fixture
    def ironic(self):
        sim = FakeIronic()
        self.a = sim.enroll(shard="shard-a")
        self.b = sim.enroll(shard="shard-b")
        self.upper = sim.enroll(shard="RackA")
        self.group = sim.enroll(conductor_group="Rack-1")
        self.plain = sim.enroll()
        return sim

    def _ids(self, ironic, **filters):
        return {n.id for n in ironic.nodes(**filters)}

    def test_shard_is_a_lower_cased_list(self, ironic):
        assert self._ids(ironic, shard="shard-a") == {self.a}
        assert self._ids(ironic, shard="shard-a, SHARD-B") == {self.a, self.b}
        assert self._ids(ironic, shard=["shard-b"]) == {self.b}
        # Ironic lower-cases the filter, not the node's shard: SQLite/PostgreSQL miss it
        assert self._ids(ironic, shard="RackA") == set()

    def test_conductor_group_is_stored_lower_case_and_matched_exactly(self, ironic):
        assert ironic.node(self.group)["conductor_group"] == "rack-1"
        assert self._ids(ironic, conductor_group="rack-1") == {self.group}
        assert self._ids(ironic, conductor_group="RACK-1") == set()
        assert self._ids(ironic, conductor_group="") == {self.a, self.b, self.upper, self.plain}

    def test_sharded(self, ironic):
        assert self._ids(ironic, sharded=True) == {self.a, self.b, self.upper}
        assert self._ids(ironic, sharded=False) == {self.group, self.plain}

    def test_nova_can_send_the_shard_microversion(self, ironic):
        from openstack import utils

        assert utils.supports_microversion(ironic, "1.82")
        assert not utils.supports_microversion(ironic, "1.200")


def _view(uuid, shard=None, group="", **seen):
    base = dict(in_ironic=True, ironic_instance=None, provision_state="available",
                maintenance=False, db_records=(), providers=1, reserved=0, consumers=(),
                tracked_by=())
    return NodeView(uuid, **{**base, **seen}, shard=shard, conductor_group=group)


class TestIsolationInvariant:
    PARTS = (Partition("a", "shard-a", None), Partition("b", "shard-b", None),
             Partition("g", None, "Rack-1"))

    def test_own_shard_and_case_insensitive_group_are_quiet(self):
        assert list(_isolation(_view("n1", "shard-a", tracked_by=("a",), db_records=("a",)),
                               self.PARTS, "n1")) == []
        assert list(_isolation(_view("n2", group="rack-1", tracked_by=("g",)),
                               self.PARTS, "n2")) == []

    def test_each_view_outside_the_shard_is_a_finding(self):
        node = _view("n1", "shard-a", tracked_by=("a", "b"), db_records=("b",),
                     reported_by=("g",), managed_by=("b",))
        variants = {variant for _, variant, _ in _isolation(node, self.PARTS, "n1")}
        assert variants == {f"{what} a compute service outside its shard or group" for what in
                            ("tracked by", "compute node record on", "in the provider tree of",
                             "in the node cache of")}

    def test_a_node_nobody_of_its_shard_tracks(self):
        found = list(_isolation(_view("n1", "shard-b", tracked_by=()), self.PARTS, "n1"))
        assert [v for _, v, _ in found] == ["tracked by no compute service of its shard or group"]


def _isolation_findings(events) -> list:
    check = AccountingCheck()
    for event in events:
        check.observe(event)
    return [f for f in check.finish() if f.rule.id == "accounting/isolation"]


def _ignore_shard(run) -> None:
    """The first compute's driver lists nodes without its shard filter (a nova that forgot it)."""
    driver = run.computes[0].driver
    listed = driver._get_node_list

    def unsharded(return_generator=False, **kwargs):
        kwargs.pop("shard", None)
        return listed(return_generator=return_generator, **kwargs)

    driver._get_node_list = unsharded


def test_a_compute_ignoring_its_shard_is_found(env):
    """The isolation invariant fires when one service lists every node. (On unmodified nova
    it is quiet: tests/test_scenarios.py runs the scenario and asserts no isolation finding.)"""
    events: list = []
    run_scenario(REGISTRY["shard-isolation"], env, seed=5, sink=events.append, nodes=5,
                 workers=1, before=_ignore_shard)
    found = {f.evidence["variant"] for f in _isolation_findings(events)}
    for what in ("tracked by", "in the node cache of", "in the provider tree of"):
        assert f"{what} a compute service outside its shard or group" in found, found


def test_finding_15_mixed_case_shard_and_group_leave_nodes_unmanaged(env):
    """docs/findings.md 15: nova passes [ironic] shard and conductor_group to Ironic as
    written; Ironic lower-cases the shard filter but not the node's shard, and the node's
    group but not the group filter. A service on ``RackA`` / ``RACK-1`` manages nothing."""
    def script(run):
        by_shard, by_group = run.computes
        by_shard.configure_ironic(shard="RackA")
        by_group.configure_ironic(conductor_group="RACK-1", peer_list=[by_group.host])
        run.cluster.ironic.enroll(resource_class="baremetal-case", shard="RackA")
        run.cluster.ironic.enroll(resource_class="baremetal-case", conductor_group="RACK-1")
        run.periodic(startup=True)
        run.checkpoint("end")
        run.count("untracked", sum(not c.rt.compute_nodes for c in run.computes))

    events: list = []
    result, _ = run_scenario(Scenario("shard-case", "", script, hosts=2), env, seed=1,
                             sink=events.append)
    assert result.outcome == "passed", result.errors
    assert result.stats["untracked"] == 2
    found = _isolation_findings(events)
    assert [f.evidence["variant"] for f in found] == [
        "tracked by no compute service of its shard or group"]
    assert found[0].evidence["occurrences"] == "2"


def test_finding_16_a_node_that_left_the_shard_is_still_offered_and_built_on(env):
    """docs/findings.md 16: a node moved to a shard no service serves keeps its record on
    the old service, stays in its tracker and provider tree with its inventory offered,
    and the old service builds an instance on it."""
    seen = {}

    def script(run):
        (compute,) = run.computes
        compute.configure_ironic(shard="shard-a")
        ironic = run.cluster.ironic
        kept = ironic.enroll(resource_class="baremetal-leave", shard="shard-a")
        left = ironic.enroll(resource_class="baremetal-leave", shard="shard-a")
        run.periodic(startup=True)
        ironic.set(left, shard="shard-z")
        run.converge()
        seen.update(kept=kept, left=left, listed=left in compute.driver.node_cache)
        flavor = run.ops.flavor("baremetal-leave")
        boots = [run.ops.boot(flavor) for _ in range(2)]
        seen["nodes"] = {b.node for b in boots if b.outcome == "active"}
        run.periodic()
        run.checkpoint("end")

    events: list = []
    result, _ = run_scenario(Scenario("shard-leave", "", script), env, seed=2,
                             sink=events.append)
    assert result.outcome == "passed", result.errors
    assert not seen["listed"]                                # the driver no longer lists it
    assert seen["nodes"] == {seen["kept"], seen["left"]}     # yet nova built on it
    found = {f.evidence["variant"] for f in _isolation_findings(events)}
    assert found >= {f"{what} a compute service outside its shard or group" for what in
                     ("tracked by", "compute node record on", "in the provider tree of")}


@pytest.mark.full
def test_shards_isolated_on_real_ironic(tmp_path):
    """auditor run shard-isolation --ironic real: nova lists each shard over HTTP (API 1.82),
    both moves between shards are followed, no isolation finding; nothing left running."""
    import json

    from test_backends import _auditor, _ironic_processes, _need

    _need(importlib.util.find_spec("ironic") is not None, "the ironic package")
    out, workdir = tmp_path / "r.json", tmp_path / "wd"
    done = _auditor("run", "shard-isolation", "--ironic", "real", "--mode", "threading",
                    "--fail-on", "never", "--report", str(out), "--workdir", str(workdir))
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    [run] = report["runs"]
    assert run["outcome"] == "passed" and run["stats"]["moved"] == 2, run
    assert not [f for f in report["findings"] if f["rule"] == "accounting/isolation"]
    log = (workdir / "ironic" / "ironic.log").read_text()
    for shard in SHARDS:
        assert f"GET /v1/nodes?shard={shard}&fields=uuid" in log
    assert _ironic_processes(str(workdir)) == []
