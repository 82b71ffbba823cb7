"""``auditor list``, ``auditor report`` and ``auditor trace``."""

from __future__ import annotations

import os
import sys

from auditor.cli.parser import Parser, UsageError

__all__ = ["list_scenarios", "report", "trace"]


def list_scenarios(args) -> int:
    """``auditor list``: the built-in scenarios, one a line."""
    from auditor.cli.run import scenario_names

    for name, summary in scenario_names():
        print(f"{name:28} {summary}")
    return 0


def report(args) -> int:
    """``auditor report``: render or merge JSON reports and traces."""
    from auditor.report.formats import FORMATS, render
    from auditor.report.model import ReportError, load_report, merge_reports
    from auditor.tracing.trace_file import is_trace, read_trace

    traces, reports = [], []
    try:
        for path in args.inputs:
            if is_trace(path):
                traces.append(read_trace(path))
                reports.append(traces[-1].report)
            else:
                reports.append(load_report(path))
    except (OSError, ReportError, ValueError) as e:
        raise UsageError(f"cannot read report: {e}") from None
    for t in traces:
        if t.truncated:
            print(f"auditor: {t.path}: last line cut (process killed mid-write); ignored",
                  file=sys.stderr)
    if FORMATS[args.format].traces and not traces:
        raise UsageError(f"--format {args.format} needs trace files (written by 'auditor "
                         f"trace'), not JSON reports")
    merged = merge_reports(reports) if len(reports) > 1 else reports[0]
    text = render(args.format, merged, traces)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
    else:
        print(text)
    return 0


def trace(args) -> int:
    """``auditor trace -- COMMAND`` and ``auditor trace install|uninstall --venv PATH``."""
    from auditor.tracing import launcher, venv

    command = list(args.argv)
    if command[:1] == ["--"]:
        command = command[1:]
    elif command[:1] in (["install"], ["uninstall"]):
        sub = Parser(prog=f"auditor trace {command[0]}")
        sub.add_argument("--venv", default=args.venv, metavar="PATH")
        args.venv = sub.parse_args(command[1:]).venv
        if not args.venv:
            raise UsageError(f"usage: auditor trace {command[0]} --venv PATH")
        try:
            if command[0] == "install":
                path = venv.install(args.venv, launcher.HOME)
                print(f"installed {path}: processes of this venv are traced when "
                      f"AUDITOR_TRACE is set")
            else:
                path = venv.uninstall(args.venv)
                print(f"removed {path}" if path else f"not installed in {args.venv}")
        except venv.VenvError as e:
            raise UsageError(str(e)) from None
        except OSError as e:
            raise UsageError(f"cannot write to {args.venv}: {e.strerror or e}") from None
        return 0
    if not command:
        raise UsageError("no command to trace; usage: auditor trace [--output PATH] -- COMMAND")
    if args.venv:
        raise UsageError("--venv goes with 'auditor trace install|uninstall'")
    directory = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(directory):
        raise UsageError(f"cannot write {args.output!r}: its directory does not exist")
    if launcher.resolve(command[0]) is None:
        raise UsageError(f"command not found: {command[0]!r}")
    env = launcher.traced_env(os.environ, args.output, interval_s=args.interval,
                            exclude=tuple(args.exclude), debug=args.debug)
    try:
        launcher.exec_traced(command, env)
    except OSError as e:
        raise UsageError(f"cannot run {command[0]!r}: {e.strerror or e}") from None
    return 0  # not reached
