"""The real openstack-placement WSGI application served on a loopback port."""

from __future__ import annotations

import os

from scenarios.standins.http import SERVER_THREAD_PREFIX, HttpFaults, Served

__all__ = ["PlacementServer", "SERVER_THREAD_PREFIX"]


class PlacementServer(Served):
    """Placement with its own config and database (SQLite unless ``db_url``) on 127.0.0.1."""

    def __init__(self, workdir: str, db_url: str | None = None):
        self.workdir = workdir
        self.db_url = db_url or f"sqlite:///{os.path.join(workdir, 'placement.sqlite')}?timeout=60"
        self.faults = HttpFaults()

    def start(self) -> "PlacementServer":
        from oslo_config import cfg
        from placement import conf as placement_conf
        from placement import db_api, deploy
        from placement.db.sqlalchemy import migration

        conf_file = os.path.join(self.workdir, "placement.conf")
        with open(conf_file, "w") as f:
            f.write(
                "[placement_database]\n"
                f"connection = {self.db_url}\n"
                "[api]\nauth_strategy = noauth2\n"
            )
        conf = cfg.ConfigOpts()
        placement_conf.register_opts(conf)
        conf([], project="placement", default_config_files=[conf_file])
        db_api.configure(conf)
        migration.upgrade("head")
        app = deploy.loadapp(conf)
        self._serve(app, self.faults)
        return self
