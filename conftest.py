"""Repository-wide pytest set-up: the test process runs nova in native-threading mode.

nova's concurrency mode is chosen once per process, before nova is imported;
tests of eventlet mode run the auditor in a subprocess.

nova's own test packages (``nova.tests...``) choose the mode themselves when
imported. The project's venv lives below this directory, so this conftest also
applies to ``pytest --pyargs nova.tests...``; when nova's tests were imported
first (``--pyargs`` imports the package to locate it), their choice stands.
"""

import sys

from scenarios import mode

if "nova.tests" not in sys.modules:
    mode.apply("threading")
