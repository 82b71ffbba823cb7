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


#: ``auditor report``'s exit status when some inputs were skipped (each named on stderr)
#: and the output covers the rest.
SKIPPED = 3


def report(args) -> int:
    """``auditor report``: render or merge JSON reports and traces (exit ``SKIPPED`` if
    some could not be read)."""
    from auditor.report.formats import FORMATS, render
    from auditor.report.inputs import read_inputs
    from auditor.report.model import merge_reports

    fmt = _report_format(args.output, args.format)
    inputs = read_inputs(args.inputs, spans=FORMATS[fmt].traces)
    if not inputs.reports:
        raise UsageError(inputs.problems[0] if len(inputs.problems) == 1 else
                         f"none of the {len(inputs.problems)} inputs could be read: "
                         + "; ".join(inputs.problems))
    for problem in inputs.problems:
        print(f"auditor: skipped: {problem}", file=sys.stderr)
    for t in inputs.traces:
        if t.truncated:
            print(f"auditor: {t.path}: last line cut (process killed mid-write); ignored",
                  file=sys.stderr)
    if FORMATS[fmt].traces and not inputs.traces:
        raise UsageError(f"--format {fmt} needs trace files (written by 'auditor "
                         f"trace'), not JSON reports")
    reports = inputs.reports
    text = render(fmt, merge_reports(reports) if len(reports) > 1 else reports[0],
                  inputs.traces)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        print(text)
    return SKIPPED if inputs.problems else 0


def _report_format(output: str | None, fmt: str | None) -> str:
    """``--format``, else the one ``-o``'s extension names, else text; ``UsageError`` if the
    output's directory is missing or its extension names no format."""
    from auditor.report.formats import FORMATS

    if output is None:
        return fmt or "text"
    if os.path.isdir(output) or not os.path.isdir(os.path.dirname(os.path.abspath(output))):
        raise UsageError(f"cannot write {output!r}: it is a directory or its directory "
                         f"does not exist")
    if fmt:
        return fmt
    ext = os.path.splitext(output)[1].lower()
    found = [f.name for f in FORMATS.values() if f.extension == ext]
    if not found:
        known = ", ".join(f.extension for f in FORMATS.values() if f.extension)
        raise UsageError(f"cannot tell the format of {output!r} from its extension; use one "
                         f"of {known} or --format")
    return found[0]


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
