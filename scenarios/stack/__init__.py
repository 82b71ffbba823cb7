"""``auditor stack``: a small devstack of real processes, its computes traced (docs/tracing.md).

``services`` stands the stack up and takes it down (``rabbit``: the message
bus; ``conf``: the generated configuration; ``groups``: every process group
on file for ``--down``); ``workload`` drives builds, a failed deploy, a
delete, a node removed from Ironic and a compute stopped through nova's RPC;
``__main__`` runs one stack in one concurrency mode (``auditor stack`` runs
it once per mode and renders ``auditor report`` over the traces).
"""

__all__: list[str] = []
