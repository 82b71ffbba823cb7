"""One stack in one concurrency mode: ``python -m scenarios.stack OPTIONS_JSON``.

``auditor stack`` runs it once per mode. Starts the stack in the options' ``workdir``, runs the workload, stops every
service (SIGTERM, then SIGKILL) and exits 0; on a failure prints one line
(``auditor stack: <what>; <log file>: <its last lines>``), stops what started
and exits 2; on Ctrl-C stops what started and exits 130. Progress goes to
stderr. This process always runs nova in threading mode (it is the driver,
not traced); the services get the options' ``mode``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time

__all__ = ["main"]


def _say(text: str) -> None:
    print(f"auditor stack: {text}", file=sys.stderr, flush=True)


class _PeakRSS:
    """Samples the stack's total RSS every second in a thread; ``stop`` returns the peak."""

    def __init__(self, workdir: str):
        from scenarios.stack.groups import rss_bytes

        self.peak, self._done = 0, threading.Event()

        def sample():
            while not self._done.wait(1.0):
                self.peak = max(self.peak, rss_bytes(workdir, also=(os.getpid(),)))
        threading.Thread(target=sample, daemon=True, name="stack-rss").start()

    def stop(self) -> int:
        self._done.set()
        return self.peak


def main(argv: list[str]) -> int:
    from scenarios.backends.process import BackendError
    from scenarios.stack.conf import Timing
    from scenarios.stack.services import Stack

    opts = json.loads(argv[0])
    # SIGTERM (a service manager stopping this run) ends it the way Ctrl-C does
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    stack = Stack(opts["workdir"], mode=opts["mode"], computes=opts["computes"],
                  nodes=opts["nodes"], timing=Timing(**opts.get("timing", {})))
    started = time.monotonic()
    peak = _PeakRSS(opts["workdir"])
    try:
        _say(f"{opts['mode']}: starting RabbitMQ, placement, Ironic ({opts['nodes']} nodes), "
             f"nova-conductor, {opts['computes']} x nova-compute (traced) in {opts['workdir']}")
        stack.start()
        steps = ", ".join(f"{k} {v:.1f}s" for k, v in stack.timings.items())
        _say(f"{opts['mode']}: stack up in {time.monotonic() - started:.0f}s ({steps}); workload")
        from scenarios.stack.workload import Workload

        Workload(stack, say=lambda line: _say(f"{opts['mode']}: {line}")).run()
        _say(f"{opts['mode']}: workload done in {time.monotonic() - started:.0f}s; peak RSS of "
             f"the stack (every service process and this driver) {peak.stop() / 2**20:.0f} MiB")
        return 0
    except BackendError as e:
        _say(str(e))
        return 2
    except KeyboardInterrupt:
        _say(f"{opts['mode']}: interrupted; stopping every service")
        return 130
    finally:
        peak.stop()
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the stop
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
        _say(f"{opts['mode']}: stopped (SIGTERM, SIGKILL after 20s) after "
             f"{time.monotonic() - started:.0f}s")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
