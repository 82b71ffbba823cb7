"""Enroll Ironic nodes the way real deployments describe them: BMC credentials per hardware type."""

from __future__ import annotations

from typing import Any

from scenarios.framework import Run

__all__ = ["enroll_fleet", "start_fleet", "DRIVERS"]

#: Ironic hardware type -> driver_info with the field that holds its BMC password.
DRIVERS = {
    "ipmi": ("ipmi_address", "ipmi_username", "ipmi_password"),
    "redfish": ("redfish_address", "redfish_username", "redfish_password"),
    "ilo": ("ilo_address", "ilo_username", "ilo_password"),
}


def enroll_fleet(run: Run, count: int, resource_class: str = "baremetal-gold",
                 **fields) -> list[str]:
    """Enroll ``count`` nodes, cycling hardware types; every password is a canary."""
    uuids = []
    for i in range(count):
        driver = list(DRIVERS)[i % len(DRIVERS)]
        address, user, password = DRIVERS[driver]
        prefix = "https://" if driver != "ipmi" else ""
        info = {address: f"{prefix}10.1.{i // 250}.{i % 250 + 1}", user: "admin",
                password: run.secret(f"ironic.driver_info.{password}")}
        node = run.cluster.ironic.enroll(resource_class=resource_class, driver_info=info,
                                         **fields)
        run.cluster.ironic.set(node, driver=driver)
        uuids.append(node)
    run.cluster.ironic.settle()  # real Ironic: enrolment (manage, clean, power off) done
    return uuids


def start_fleet(run: Run) -> tuple[list[str], Any]:
    """The opening of most scenarios: enroll ``run.nodes`` nodes, take the baremetal-gold
    flavor and run the first periodic (``startup=True``). Returns the nodes and the flavor."""
    nodes = enroll_fleet(run, run.nodes)
    flavor = run.ops.flavor("baremetal-gold")
    run.periodic(startup=True)
    return nodes, flavor
