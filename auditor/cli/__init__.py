"""The ``auditor`` command: run scenarios, list them, render reports, trace processes.

``parser`` builds the command line; ``run`` runs scenarios (a parent and one
child per concurrency mode); ``commands`` holds list, report, baseline, config,
completion and trace; ``progress`` draws a run's progress; ``stack`` runs real services
traced. Exit status: 0 no finding at or above ``--fail-on``, 1 findings (or a scenario
that crashed), 2 bad input, 3 (``report``) some inputs skipped, 130 interrupted.
"""

from __future__ import annotations

import sys

from auditor.cli.parser import UsageError, build_parser, joined_values

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the command ``argv`` names; return its exit status."""
    from auditor.cli import commands, run, stack

    try:
        args = build_parser().parse_args(joined_values(sys.argv[1:] if argv is None else argv))
        handler = {"list": commands.list_scenarios, "report": commands.report,
                   "baseline": commands.baseline, "config": commands.show_config,
                   "completion": commands.completion, "trace": commands.trace,
                   "stack": stack.stack}.get(args.command)
        if handler is not None:
            return handler(args)
        if args.child:
            return run.child(run.RunOptions.load(args.child), args.output)
        return run.run(args)
    except UsageError as e:
        print(f"auditor: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
