"""Tracing mode: ``auditor trace`` audits a live process and writes a JSON-lines trace.

``bootstrap`` (imported at interpreter start-up; cheap, never raises) arms a hook
that starts the ``tracer`` when nova is imported; ``launcher`` and ``venv`` are
how ``auditor trace`` gets a process there; ``environment`` holds the variables
they share; ``trace_file`` is the file format (writer and reader); ``timeline``
turns traces into spans. Nothing is imported here: start-up stays cheap.
"""

__all__: list[str] = []
