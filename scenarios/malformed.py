"""Malformed Ironic node data and claim input: must be rejected or skipped, never crash or corrupt."""

from __future__ import annotations

from scenarios.framework import Run, scenario
from scenarios.nodes import enroll_fleet

__all__ = ["malformed_nodes", "BAD_NODES"]

_GOOD = {"cpus": 8, "memory_mb": 16384, "local_gb": 100, "cpu_arch": "x86_64",
         "capabilities": "boot_mode:uefi"}

#: (field, description, enroll keyword arguments)
BAD_NODES = (
    ("properties.memory_mb", "negative", {"properties": dict(_GOOD, memory_mb=-1024)}),
    ("properties.memory_mb", "absent",
     {"properties": {k: v for k, v in _GOOD.items() if k != "memory_mb"}}),
    ("properties.cpus", "non-numeric", {"properties": dict(_GOOD, cpus="eight")}),
    ("properties.local_gb", "huge (10**30)", {"properties": dict(_GOOD, local_gb=10**30)}),
    ("properties.cpu_arch", "unknown architecture", {"properties": dict(_GOOD, cpu_arch="z80")}),
    ("properties.capabilities", "malformed pairs",
     {"properties": dict(_GOOD, capabilities="boot_mode=uefi,,:x,a:b:c")}),
    ("properties.capabilities", "a dict, not a string",
     {"properties": dict(_GOOD, capabilities={"boot_mode": "uefi"})}),
    ("properties", "empty", {"properties": {}}),
    ("resource_class", "None", {"resource_class": None}),
    ("resource_class", "unknown, non-ASCII", {"resource_class": "baremetal-gold-ü☃"}),
    ("resource_class", "longer than placement allows", {"resource_class": "x" * 300}),
    ("resource_class", "an integer", {"resource_class": 42}),
    ("name", "non-ASCII", {"name": "nœud-ünïcode-☃"}),
)


@scenario("malformed-nodes",
          "nodes with negative/absent/non-numeric/huge properties, bad resource classes, "
          "non-ASCII names, malformed capabilities; claims with host/node preset",
          hosts=1, nodes=3, workers=2,
          ironic=("sim",))  # real Ironic's API refuses this data
def malformed_nodes(run: Run) -> None:
    from nova import objects

    from scenarios.operations import Boot

    ironic = run.cluster.ironic
    enroll_fleet(run, run.nodes)
    for field, description, fields in BAD_NODES:
        node = ironic.enroll(**fields)
        run.bad_input(node, field, description)
    for failure in run.tolerant_periodic(startup=True):
        run.count("periodic-error")
    run.tolerant_periodic()
    run.checkpoint("after-bad-nodes")

    # Claim input a caller got wrong: host and node already set on the instance.
    flavor = run.ops.flavor("baremetal-gold")
    ops = run.ops
    boot = Boot(ops.create_instance(flavor))
    try:
        compute, node = ops.schedule(boot.instance)
    except Exception as exc:  # noqa: BLE001 - no capacity: nothing to claim
        run.count(f"claim-skipped-{type(exc).__name__}")
    else:
        boot.instance.host, boot.instance.node = compute.host, node
        boot.instance.compute_id = objects.ComputeNode.get_by_uuid(ops.ctx, node).id
        boot.instance.save()
        run.bad_input(node, "instance.host/node", "set before the claim")
        ops.build(boot, compute, node)
        run.count(f"boot-{boot.outcome}")
    # Secret-bearing node data: a deploy failure whose last_error quotes the BMC
    # password (as some drivers' errors do), and a secret in properties.capabilities.
    leaky = ironic.enroll(properties=dict(
        _GOOD, capabilities=f"boot_mode:uefi,bmc_token:{run.secret('ironic.properties.capabilities')}"))
    ironic.fail_next_deploy(leaky, "IPMI call failed: ipmitool -U admin -P "
                            f"{run.secret('ironic.last_error')} power status")
    run.tolerant_periodic()
    sneaky = Boot(ops.create_instance(flavor))
    try:
        compute, node = ops.schedule(sneaky.instance)
    except Exception as exc:  # noqa: BLE001
        run.count(f"leaky-skipped-{type(exc).__name__}")
    else:
        if node != leaky:
            ironic.fail_next_deploy(node, "IPMI call failed: ipmitool -U admin -P "
                                    f"{run.secret('ironic.last_error')} power status")
        ops.build(sneaky, compute, node, reschedule=False)
        run.count(f"leaky-boot-{sneaky.outcome}")
    ironic.settle()
    run.tolerant_periodic()
    run.checkpoint("end")
