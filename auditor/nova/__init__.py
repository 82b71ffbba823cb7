"""What the auditor knows about nova: its locking discipline, the exceptions each entry point
may raise, the hook points, and the running process (version, concurrency mode, config secrets).
"""

__all__: list[str] = []
