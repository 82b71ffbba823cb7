"""Each accounting invariant fires on a defect planted in the real tracker or driver, and is quiet without."""

from __future__ import annotations

import uuid

import pytest

from auditor.checks.accounting import AccountingCheck
from scenarios.framework import Scenario, run_scenario


def _audit(env, script, hosts: int = 1, nodes: int = 1,
           expect: dict[str, int] | None = None) -> set[tuple[str, str]]:
    """Run ``script(run)`` on a fresh cluster; return the (rule, variant) pairs found.

    ``expect``: counts the workload must have reached (e.g. ``{"boot-active": 2}``).
    """
    events: list = []
    sc = Scenario(f"acct-{uuid.uuid4().hex[:6]}", "", script, hosts=hosts, nodes=nodes)
    result, _ = run_scenario(sc, env, seed=3, sink=events.append)
    assert result.outcome == "passed", result.errors
    for what, n in (expect or {}).items():
        assert result.stats.get(what, 0) == n, (what, result.stats)
    check = AccountingCheck()
    for event in events:
        check.observe(event)
    return {(f.rule.id, f.evidence["variant"]) for f in check.finish()}


def _boot_delete_boot(run) -> None:
    """Boot, delete and boot again on the run's nodes, with periodics and checkpoints."""
    for node in range(run.nodes):
        run.cluster.ironic.enroll(resource_class="baremetal-acct")
    flavor = run.ops.flavor("baremetal-acct")
    run.periodic(startup=True)
    first = run.ops.boot(flavor)
    run.count(f"boot-{first.outcome}")
    run.periodic()
    run.checkpoint("booted")
    if first.outcome == "active":
        run.ops.delete(first)
        run.count("deleted")
    run.cluster.ironic.settle()
    run.periodic()
    run.count(f"boot-{run.ops.boot(flavor).outcome}")
    run.periodic()
    run.checkpoint("end")


#: docs/findings.md, 1: a host with several nodes keeps only its last node's instances tracked
KNOWN_USAGE = ("accounting/usage", "active instance not tracked by its host's tracker")


def _rules(found):
    return {rule for rule, _ in found}


class TestQuietOnUnmodifiedNova:
    def test_single_node_lifecycle_is_clean(self, env):
        """Boot, delete, boot on one node: no accounting finding from unmodified nova."""
        assert _audit(env, _boot_delete_boot, expect={"boot-active": 2, "deleted": 1}) == set()

    def test_two_hosts_through_a_rebalance_are_clean(self, env):
        """Two services, boots on both, one goes down and up (the ring moves free nodes), a
        delete and a rescheduled build: no accounting finding."""

        def script(run):
            for _ in range(run.nodes):
                run.cluster.ironic.enroll(resource_class="baremetal-acct")
            flavor = run.ops.flavor("baremetal-acct")
            run.periodic(startup=True)
            run.converge()
            boots = [run.ops.boot(flavor) for _ in range(2)]
            for boot in boots:
                run.count(f"boot-{boot.outcome}")
            first, second = run.computes
            first.set_up(False)
            run.converge()
            first.set_up(True)
            run.converge()
            run.ops.delete(boots[0])
            rescheduled = run.ops.boot(flavor, fail_deploy=True)
            run.count(f"boot-{rescheduled.outcome}")
            run.count("rescheduled", len(rescheduled.attempts) - 1)
            run.cluster.ironic.settle()
            run.converge()
            run.checkpoint("end")

        found = _audit(env, script, hosts=2, nodes=5, expect={"boot-active": 3, "rescheduled": 1})
        assert found - {KNOWN_USAGE} == set()


class TestPlantedDefects:
    def test_double_claim(self, env, monkeypatch):
        """A driver reporting 2 units per node, deploying blindly: two instances on one node."""
        from nova.virt.ironic import driver

        original = driver.IronicDriver.update_provider_tree

        def two_units(self, provider_tree, nodename, allocations=None):
            original(self, provider_tree, nodename, allocations)
            inv = provider_tree.data(nodename).inventory
            provider_tree.update_inventory(nodename, {rc: dict(v, total=2, max_unit=1, reserved=0)
                                                      for rc, v in inv.items()})

        def script(run):
            run.cluster.ironic.enroll(resource_class="baremetal-acct")
            flavor = run.ops.flavor("baremetal-acct")
            run.periodic(startup=True)
            for _ in range(2):
                run.ops.boot(flavor)
            run.periodic()
            run.checkpoint("end")

        monkeypatch.setattr(driver.IronicDriver, "update_provider_tree", two_units)
        # ... and neither checks nor reserves the node when it deploys.
        monkeypatch.setattr(driver.IronicDriver, "prepare_for_spawn", lambda self, inst: None)
        monkeypatch.setattr(driver.IronicDriver, "spawn", lambda self, *a, **k: None)
        assert "accounting/double-claim" in _rules(_audit(env, script))

    def test_disagreement(self, env, monkeypatch):
        """A destroy that never unprovisions leaves Ironic reserving the node for a gone instance."""
        from nova.virt.ironic import driver

        monkeypatch.setattr(driver.IronicDriver, "destroy", lambda self, *a, **k: None)
        assert ("accounting/disagreement", "Ironic node reserved by no live instance") \
            in _audit(env, _boot_delete_boot)

    def test_lost_record(self, env, monkeypatch):
        """A tracker that never reports to placement leaves nodes without a provider."""
        from nova.compute import resource_tracker

        monkeypatch.setattr(resource_tracker.ResourceTracker, "_update_to_placement",
                            lambda self, *a, **k: None)

        def script(run):
            run.cluster.ironic.enroll(resource_class="baremetal-acct")
            run.periodic(startup=True)
            run.checkpoint("end")

        assert ("accounting/lost-record", "no resource provider") in _audit(env, script)

    def test_duplicate_record_on_rebalance(self, env, monkeypatch):
        """remove_node as a no-op: after a rebalance two trackers hold the same node."""
        from nova.compute import resource_tracker

        monkeypatch.setattr(resource_tracker.ResourceTracker, "remove_node",
                            lambda self, nodename: None)

        def script(run):
            for _ in range(4):
                run.cluster.ironic.enroll(resource_class="baremetal-acct")
            run.periodic(startup=True)
            first, second = run.computes
            first.set_up(False)
            run.periodic()
            first.set_up(True)
            run.periodic()
            second.set_up(False)
            run.periodic()
            second.set_up(True)
            run.periodic()
            run.checkpoint("end")

        assert "accounting/duplicate-record" in _rules(_audit(env, script, hosts=2))

    def test_unavailable_offered(self, env, monkeypatch):
        """A driver that ignores provision states offers a node that is still cleaning."""
        from nova.virt.ironic import driver

        monkeypatch.setattr(driver.IronicDriver, "_node_resources_unavailable",
                            lambda self, node: False)

        def script(run):
            node = run.cluster.ironic.enroll(resource_class="baremetal-acct",
                                             provision_state="cleaning")
            run.cluster.ironic.hold(node)
            run.periodic(startup=True)
            run.checkpoint("end")

        assert "accounting/unavailable-offered" in _rules(_audit(env, script))

    @pytest.mark.parametrize("variant", ["active instance not tracked by its host's tracker",
                                         "node usage differs from its instances"])
    def test_usage(self, env, monkeypatch, variant):
        """Usage from an instance that never enters tracked_instances, or never adds up."""
        from nova.compute import resource_tracker

        rt = resource_tracker.ResourceTracker
        if variant.startswith("active"):
            original = rt._update_usage_from_instance

            def forgetful(self, context, instance, nodename, is_removed=False):
                original(self, context, instance, nodename, is_removed)
                self.tracked_instances.discard(instance["uuid"])

            monkeypatch.setattr(rt, "_update_usage_from_instance", forgetful)
        else:
            monkeypatch.setattr(rt, "_update_usage", lambda self, usage, nodename, sign=1: None)
        assert ("accounting/usage", variant) in _audit(env, _boot_delete_boot)
