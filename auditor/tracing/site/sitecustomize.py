"""Auditor trace bootstrap: imported at start-up because ``auditor trace`` put this directory on PYTHONPATH."""

try:
    from auditor.tracing.bootstrap import initialize
except Exception as exc:  # auditor not importable by this interpreter: run untraced
    import os
    import sys

    _home = os.environ.get("AUDITOR_TRACE_HOME")
    if _home and _home not in sys.path:
        sys.path.append(_home)
        try:
            from auditor.tracing.bootstrap import initialize
        except Exception as exc2:  # noqa: BLE001
            sys.stderr.write(f"auditor: tracing not started: {type(exc2).__name__}: {exc2}\n")
            initialize = None
        finally:
            sys.path.remove(_home)
    else:
        sys.stderr.write(f"auditor: tracing not started: {type(exc).__name__}: {exc}\n")
        initialize = None

if initialize is not None:
    initialize(chain=__file__)
