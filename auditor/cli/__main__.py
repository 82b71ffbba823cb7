"""``python -m auditor.cli``: the ``auditor`` command."""

import sys

from auditor.cli import main

__all__: list[str] = []

sys.exit(main())
