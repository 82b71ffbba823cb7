"""``auditor list``, ``report``, ``baseline``, ``config``, ``completion`` and ``trace``."""

from __future__ import annotations

import os
import sys

from auditor.cli.parser import Parser, UsageError

__all__ = ["list_scenarios", "report", "baseline", "show_config", "completion", "trace"]


def list_scenarios(args) -> int:
    """``auditor list``: the built-in scenarios, one a line."""
    from auditor.cli.run import scenario_names

    for name, summary in scenario_names():
        print(f"{name:28} {summary}")
    return 0


#: ``auditor report``'s exit status when some inputs were skipped (each named on stderr),
#: the output covers the rest and no finding fails the gate.
SKIPPED = 3


def report(args) -> int:
    """``auditor report``: render, merge and gate JSON reports and traces (exit ``SKIPPED``
    if some could not be read and nothing else failed)."""
    from auditor.cli import judge
    from auditor.redact import Redactor
    from auditor.report.formats import FORMATS
    from auditor.report.model import merge_reports

    conf = judge.settings(args)
    fmt = judge.check_output(args.output, args.format) or "text"
    inputs = judge.read_inputs(args.inputs, spans=FORMATS[fmt].spans)
    reports, traces = inputs.reports, inputs.traces
    if FORMATS[fmt].traces and not traces:
        raise UsageError(f"--format {fmt} needs trace files (written by 'auditor trace', or "
                         f"by 'auditor run --timeline'), not JSON reports")
    merged = merge_reports(reports) if len(reports) > 1 else reports[0]
    # the inputs may come from anywhere: secret shapes and canaries are masked here too
    merged = judge.apply_known(Redactor().report(merged), conf)
    text = judge.write(merged, traces, fmt, args.output, conf)
    if not args.output:
        print(text, end="" if text.endswith("\n") else "\n")
    for line in judge.closing(merged, conf, [args.output] if args.output else [],
                              source=" ".join(args.inputs)):
        print(f"auditor: {line}", file=sys.stderr)
    return judge.exit_status(merged, conf) or (SKIPPED if inputs.problems else 0)


def baseline(args) -> int:
    """``auditor baseline``: record every finding of the inputs as known, with a reason."""
    from auditor.cli import judge
    from auditor.report import baseline as baselines

    reports = judge.read_inputs(args.inputs).reports
    if not os.path.isdir(os.path.dirname(os.path.abspath(args.output))):
        raise UsageError(f"cannot write {args.output!r}: its directory does not exist")
    base = baselines.create(reports, reason=args.reason or baselines.DEFAULT_REASON)
    with open(args.output, "w", encoding="utf-8") as f:
        f.write(baselines.dumps(base))
    print(f"baseline of {len(base['findings'])} finding(s) written to {args.output}; give each "
          f"entry its reason, then pass --baseline {args.output}")
    return 0


def show_config(args) -> int:
    """``auditor config``: every effective value and where it came from."""
    from auditor import config

    try:
        conf = config.discover()
    except config.ConfigError as e:
        raise UsageError(str(e)) from None
    print("\n".join(conf.lines()))
    return 0


def completion(args) -> int:
    """``auditor completion SHELL``: a completion script built from the parser."""
    import shtab

    from auditor.cli.parser import build_parser

    print(shtab.complete(build_parser(), shell=args.shell))
    return 0


def _surfaces(given: str | None) -> tuple[str, ...] | None:
    """``--surfaces``' names (each a hook surface a user may leave off: ``SURFACE_NAMES``)
    and those they need."""
    if given is None:
        return None
    from auditor.events import SURFACE_NAMES, surfaces_listed

    names = surfaces_listed(given)
    if not names or set(names) - set(SURFACE_NAMES):
        raise UsageError(f"--surfaces {given!r}: a comma-separated list of "
                         f"{', '.join(SURFACE_NAMES)}")
    return names


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
    found = launcher.resolve(command[0])
    if found is None:
        raise UsageError(f"command not found: {command[0]!r} (not on PATH, nor in "
                         f"{os.path.dirname(sys.executable)}); give its path or activate "
                         f"the venv that has it")
    command[0] = found
    surfaces = _surfaces(args.surfaces)
    from auditor.hashed_secrets import SecretsFileError, file_secrets

    try:
        for _ in file_secrets():   # read now: a bad file stops here, not in every process
            pass
    except SecretsFileError as e:
        raise UsageError(str(e)) from None
    from auditor.tracing.trace_file import trace_path

    print(f"auditor: tracing {command[0]}: each Python process writes its own trace, e.g. "
          f"{trace_path(args.output, os.getpid(), '{program}')}; read them all with: "
          f"auditor report {args.output}"
          + (f"; hooked: {', '.join(surfaces)} only (--surfaces)" if surfaces else ""),
          file=sys.stderr)
    env = launcher.traced_env(os.environ, args.output, interval_s=args.interval,
                            exclude=tuple(args.exclude), debug=args.debug, surfaces=surfaces)
    try:
        launcher.exec_traced(command, env)
    except OSError as e:
        raise UsageError(f"cannot run {command[0]!r}: {e.strerror or e}") from None
    return 0  # not reached
