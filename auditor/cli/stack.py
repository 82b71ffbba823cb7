"""``auditor stack``: real nova services on loopback, the computes traced; a report over the traces.

Each concurrency mode runs as a child (``python -m scenarios.stack``) in its
own directory of the work directory; this process waits for it, then stops
any process group it left (``scenarios.stack.groups``), renders ``auditor
report`` over every trace file, and removes the work directory unless
``--keep``. ``--down WORKDIR`` stops what a killed run left there.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

from auditor.cli.parser import UsageError

__all__ = ["stack"]


def _check() -> None:
    """Everything the stack needs, before any work (one line, exit 2, if not)."""
    from scenarios.backends.ironic import check_installed as ironic_installed
    from scenarios.backends.process import BackendError
    from scenarios.stack.rabbit import check_installed as rabbit_installed

    try:
        rabbit_installed()
        ironic_installed()
    except BackendError as e:
        raise UsageError(str(e)) from None
    bindir = os.path.dirname(sys.executable)
    for script in ("nova-compute", "nova-conductor", "nova-manage", "placement-manage",
                   "cheroot", "auditor"):
        if not os.access(os.path.join(bindir, script), os.X_OK):
            raise UsageError(f"{script} is not installed in {bindir}; "
                             f"pip install -c constraints.txt -e '.[backends]'")


def _down(workdir: str) -> int:
    from scenarios.stack import groups

    if not os.path.isfile(os.path.join(workdir, groups.FILE_NAME)) and not glob.glob(
            os.path.join(workdir, "*", groups.FILE_NAME)):
        raise UsageError(f"--down: {workdir!r} holds no record of a stack "
                         f"({groups.FILE_NAME} not found)")
    names = groups.down(workdir)
    print(f"auditor stack: stopped {', '.join(names)}" if names else
          "auditor stack: nothing was running", file=sys.stderr)
    return 0


def _run_mode(workdir: str, mode: str, args) -> int:
    """One stack in ``workdir/mode``; the child's exit status (130: interrupted)."""
    os.makedirs(os.path.join(workdir, mode), mode=0o700)
    opts = {"workdir": os.path.join(workdir, mode), "mode": mode, "computes": args.computes,
            "nodes": args.nodes, "timing": {"periodic_s": args.periodic}}
    env = {**os.environ, "OS_NOVA_DISABLE_EVENTLET_PATCHING": "1"}
    child = subprocess.Popen([sys.executable, "-m", "scenarios.stack", json.dumps(opts)],
                             env=env, stdin=subprocess.DEVNULL)
    try:
        return child.wait()
    except KeyboardInterrupt:
        # the child got the same Ctrl-C and is stopping its services: let it finish
        while True:
            try:
                child.wait()
                return 130
            except KeyboardInterrupt:
                continue


def stack(args) -> int:
    """Run the stack in each mode, stop it, report over the traces; exit as ``auditor report``."""
    from auditor.nova.runtime import MODES
    from scenarios.stack import groups

    if args.down:
        return _down(args.down)
    if args.nodes < 3:
        raise UsageError("--nodes: the workload needs at least 3 nodes")
    from auditor.cli import judge

    judge.settings(args)  # a broken config file or --baseline: before any work
    judge.check_output(args.output, args.format)
    _check()
    if args.workdir:
        if os.path.exists(args.workdir):
            raise UsageError(f"--workdir {args.workdir!r} exists; give a new directory")
        os.makedirs(args.workdir, mode=0o700)
        workdir = os.path.abspath(args.workdir)
    else:
        workdir = tempfile.mkdtemp(prefix="auditor-stack-")
    keep = args.keep or bool(args.workdir)
    try:
        for mode in (MODES if args.mode in (None, "both") else (args.mode,)):
            status = _run_mode(workdir, mode, args)
            if status:
                return 2 if status != 130 else 130
        traces = sorted(glob.glob(os.path.join(workdir, "*", "traces", "*.jsonl*")))
        if not traces:
            print("auditor stack: no trace was written by the computes", file=sys.stderr)
            return 2
        from auditor.cli import commands
        from auditor.cli.parser import build_parser

        report = ["report", *traces]
        if args.output:
            report += ["-o", args.output]
        if args.format:
            report += ["--format", args.format]
        for flag in ("fail_on", "baseline", "docs_url", "source_root"):
            if getattr(args, flag):
                report += [f"--{flag.replace('_', '-')}", getattr(args, flag)]
        return commands.report(build_parser().parse_args(report))
    except KeyboardInterrupt:
        return 130
    finally:
        left = groups.down(workdir)
        if left:
            print(f"auditor stack: stopped what was left: {', '.join(left)}", file=sys.stderr)
        if keep:
            print(f"auditor stack: work directory kept: {workdir} (logs, traces; "
                  f"'auditor stack --down {workdir}' stops anything left)", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
