"""Stand-ins for the services nova's manager flows and Ironic call that the runner does not run.

Each answers at the service's HTTP API, so nova's and Ironic's own client code runs unchanged.
"""
