"""accounting: Ironic, nova's DB, placement and the trackers must agree about every node.

Judged on the ``AccountingSnapshot`` a scenario takes at checkpoints (after
a periodic has run, so transient disagreement has had its chance to heal).

Rules:

- ``accounting/double-claim`` (high): a baremetal node holds two instances
  (placement consumers, or instances in nova's DB).
- ``accounting/disagreement`` (high): an active instance whose Ironic node,
  placement allocation or nova record says otherwise; an allocation or an
  Ironic reservation with no instance behind it.
- ``accounting/lost-record`` (high): a node still in Ironic with no compute
  node record or no resource provider.
- ``accounting/duplicate-record`` (high): two compute node records or
  providers for one node, or two running compute services tracking it (a
  rebalance that copied instead of moved).
- ``accounting/unavailable-offered`` (medium): a node cleaning, failed or in
  maintenance whose inventory placement still offers (reserved = 0).
- ``accounting/isolation`` (high): with compute services limited to an Ironic
  shard or conductor group (``[ironic] shard``, ``conductor_group``), a node
  tracked, recorded, reported to placement or in the driver's node cache of a
  service whose shard or group is not the node's, or a node no service of its
  shard or group tracks (a node moved between shards that did not move).
- ``accounting/usage`` (medium): the trackers' ``tracked_instances`` differ
  from the instances nova's DB places on their host, or a node's usage numbers
  (memory/vcpus/disk used, running VMs) differ from what its instances add up to.

Nodes a scenario fed malformed data (``BadInput``) are left to ``input-validation``.

Example: ``accounting/double-claim: node 6f1c… has 2 consumers in placement``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable

from auditor.checks.registry import RunContext, register
from auditor.events import (
    AccountingSnapshot, BadInput, Event, NodeView, Partition, Site, UsageSnapshot,
)
from auditor.findings import Finding, Rule, Severity

__all__ = ["RULES", "AccountingCheck"]

_RT = "nova/compute/resource_tracker.py"

DOUBLE_CLAIM = Rule("accounting/double-claim", Severity.HIGH,
                    "A baremetal node holds more than one instance")
DISAGREEMENT = Rule("accounting/disagreement", Severity.HIGH,
                    "Ironic, placement and nova disagree about an instance's node")
LOST_RECORD = Rule("accounting/lost-record", Severity.HIGH,
                   "A node that exists in Ironic lost its compute node record or provider")
DUPLICATE_RECORD = Rule("accounting/duplicate-record", Severity.HIGH,
                        "A node has more than one compute node record or provider")
UNAVAILABLE_OFFERED = Rule("accounting/unavailable-offered", Severity.MEDIUM,
                           "A node that cannot take an instance is offered by placement")
ISOLATION = Rule("accounting/isolation", Severity.HIGH,
                 "A node is handled by a compute service outside its shard or conductor group")
USAGE = Rule("accounting/usage", Severity.MEDIUM,
             "The tracker's tracked instances differ from the instances on its host")
RULES = (DOUBLE_CLAIM, DISAGREEMENT, LOST_RECORD, DUPLICATE_RECORD, UNAVAILABLE_OFFERED,
         ISOLATION, USAGE)

# Where in the tracker each rule's invariant is maintained.
_SITES = {
    DOUBLE_CLAIM: Site(_RT, 0, "instance_claim"),
    DISAGREEMENT: Site(_RT, 0, "_update_available_resource"),
    LOST_RECORD: Site(_RT, 0, "_init_compute_node"),
    DUPLICATE_RECORD: Site(_RT, 0, "_init_compute_node"),
    UNAVAILABLE_OFFERED: Site(_RT, 0, "_update_to_placement"),
    ISOLATION: Site("nova/virt/ironic/driver.py", 0, "_refresh_cache"),
    USAGE: Site(_RT, 0, "_update_usage_from_instances"),
}
_UNAVAILABLE_STATES = {"cleaning", "clean wait", "clean failed", "deploy failed", "error",
                       "deleting", "manageable", "enroll", "verifying"}
_LIVE = {"active", "building"}


@register(*RULES)
class AccountingCheck:
    """Checks each snapshot; one finding per (rule, variant), with the nodes as evidence."""

    #: the event types ``observe`` looks at (the session dispatches by type)
    EVENTS = (BadInput, UsageSnapshot, AccountingSnapshot)

    @classmethod
    def for_run(cls, ctx: RunContext) -> "AccountingCheck":
        """The check for one audited run (``registry.Check``)."""
        return cls()

    def __init__(self) -> None:
        self._hits: dict[tuple[Rule, str], list[str]] = defaultdict(list)
        self._labels: dict[tuple[Rule, str], set[str]] = defaultdict(set)
        self._bad: set[str] = set()

    @property
    def made(self) -> int:
        """Distinct findings recorded this run (the tracer writes a new one at once)."""
        return len(self._hits)

    def observe(self, event: Event) -> Iterable[Finding]:
        if isinstance(event, BadInput):
            self._bad.add(event.node)
        elif isinstance(event, UsageSnapshot) and event.settled:
            for row in event.nodes:
                if row.uuid not in self._bad and row.used != row.expected:
                    self._hits[(USAGE, "node usage differs from its instances")].append(
                        f"{row.uuid[:8]}@{row.host} used={row.used} expected={row.expected}")
                    self._labels[(USAGE, "node usage differs from its instances")].add(
                        event.label)
        elif isinstance(event, AccountingSnapshot):
            for rule, variant, subject in _violations(event, self._bad):
                self._hits[(rule, variant)].append(subject)
                self._labels[(rule, variant)].add(event.label)
        return ()

    def finish(self) -> Iterable[Finding]:
        for (rule, variant), subjects in self._hits.items():
            yield Finding(
                rule=rule, site=_SITES[rule], key=variant,
                message=f"{rule.title}: {variant} ({len(subjects)} time(s))",
                evidence={"variant": variant, "examples": ", ".join(subjects[:5]),
                          "occurrences": str(len(subjects)),
                          "checkpoints": ", ".join(sorted(self._labels[(rule, variant)]))})


def _violations(snap: AccountingSnapshot,
                bad: frozenset[str] | set[str] = frozenset()) -> Iterable[tuple[Rule, str, str]]:
    live = {i.uuid: i for i in snap.instances if i.vm_state in _LIVE}
    # An instance in ERROR (a failed rebuild or evacuation) still holds its node.
    known = {i.uuid for i in snap.instances if i.vm_state != "deleted"}
    on_node: dict[str, list[str]] = defaultdict(list)
    for inst in live.values():
        if inst.node:
            on_node[inst.node].append(inst.uuid)
    for node in snap.nodes:
        if node.uuid in bad:
            continue
        short = node.uuid[:8]
        if len(node.consumers) > 1:
            yield DOUBLE_CLAIM, "several placement consumers on one node", short
        if len(on_node.get(node.uuid, ())) > 1:
            yield DOUBLE_CLAIM, "several live instances on one node in nova's DB", short
        if len(node.db_records) > 1:
            yield DUPLICATE_RECORD, "several compute node records", short
        if node.providers > 1:
            yield DUPLICATE_RECORD, "several resource providers", short
        if snap.settled and len(node.tracked_by) > 1:
            yield DUPLICATE_RECORD, "tracked by several compute services", short
        if snap.settled and node.in_ironic:
            if not node.db_records:
                yield LOST_RECORD, "no compute node record", short
            if not node.providers:
                yield LOST_RECORD, "no resource provider", short
            unavailable = node.maintenance or node.provision_state in _UNAVAILABLE_STATES
            if unavailable and node.providers and node.reserved == 0:
                yield UNAVAILABLE_OFFERED, f"{node.provision_state} node not reserved", short
        for consumer in node.consumers:
            if consumer not in known:
                yield DISAGREEMENT, "allocation without a live instance", short
        if node.ironic_instance and node.ironic_instance not in known and snap.settled:
            yield DISAGREEMENT, "Ironic node reserved by no live instance", short
        if snap.settled and snap.partitions:
            yield from _isolation(node, snap.partitions, short)
    nodes = {n.uuid: n for n in snap.nodes}
    for inst in live.values():
        if inst.vm_state != "active":
            continue
        node = nodes.get(inst.node)
        short = inst.uuid[:8]
        if node is None or node.ironic_instance != inst.uuid:
            yield DISAGREEMENT, "Ironic node does not carry the active instance", short
        elif inst.uuid not in node.consumers:
            yield DISAGREEMENT, "active instance has no allocation on its node", short
        if inst.host not in inst.tracked_by:
            yield USAGE, "active instance not tracked by its host's tracker", short
        if len(inst.tracked_by) > 1:
            yield USAGE, "instance tracked by several trackers", short


def _admits(part: Partition, node: NodeView) -> bool:
    """Whether ``part``'s options entitle its service to ``node``: the same shard, and the
    same conductor group, compared lower-cased (nova documents the option as
    case-insensitive; Ironic stores groups lower-cased)."""
    if part.shard is not None and node.shard != part.shard:
        return False
    return part.conductor_group is None or node.conductor_group == part.conductor_group.lower()


# (NodeView attribute, what it means) for every view of who handles a node
_HANDLED = (("tracked_by", "tracked by"), ("db_records", "compute node record on"),
            ("reported_by", "in the provider tree of"), ("managed_by", "in the node cache of"))


def _isolation(node: NodeView, partitions: tuple[Partition, ...],
               short: str) -> Iterable[tuple[Rule, str, str]]:
    """A node handled outside its shard or group, or by no service of its own."""
    where = f"shard={node.shard} group={node.conductor_group or '(default)'}"
    outside = {p.host for p in partitions if not _admits(p, node)}
    for attr, what in _HANDLED:
        for host in sorted(set(getattr(node, attr)) & outside):
            yield (ISOLATION, f"{what} a compute service outside its shard or group",
                   f"{short} ({where}) on {host}")
    own = {p.host for p in partitions} - outside
    if node.in_ironic and own and not own & set(node.tracked_by):
        yield (ISOLATION, "tracked by no compute service of its shard or group",
               f"{short} ({where}) not on {', '.join(sorted(own))}")
