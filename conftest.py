"""Repository-wide pytest set-up: the test process runs nova in native-threading mode.

nova's concurrency mode is chosen once per process, before nova is imported;
tests of eventlet mode run the auditor in a subprocess.
"""

from scenarios import mode

mode.apply("threading")
