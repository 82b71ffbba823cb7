"""The real openstack-placement WSGI application served on a loopback port."""

from __future__ import annotations

import itertools
import os
import threading

__all__ = ["PlacementServer", "SERVER_THREAD_PREFIX"]

#: Threads serving placement requests are named with this prefix. Placement is
#: a separate service in a deployment; the auditor ignores what these threads do.
SERVER_THREAD_PREFIX = "placement-server-"
_serial = itertools.count(1)


def _make_server(app):
    """A threading WSGI server on 127.0.0.1.

    socketserver binds its selector class at import time, so it is imported
    here, after eventlet's monkey patching (in eventlet mode) has happened.
    """
    import socketserver
    from wsgiref import simple_server

    class QuietHandler(simple_server.WSGIRequestHandler):
        def log_message(self, format, *args):  # noqa: A002 - stdlib signature
            pass

    class ThreadingWSGIServer(socketserver.ThreadingMixIn, simple_server.WSGIServer):
        daemon_threads = True

        def process_request(self, request, client_address):
            # Named so the auditor can tell the server's threads from nova's.
            threading.Thread(target=self.process_request_thread, args=(request, client_address),
                             name=f"{SERVER_THREAD_PREFIX}{next(_serial)}", daemon=True).start()

    return simple_server.make_server("127.0.0.1", 0, app, server_class=ThreadingWSGIServer,
                                     handler_class=QuietHandler)


class PlacementServer:
    """Placement with its own config and SQLite database on 127.0.0.1."""

    def __init__(self, workdir: str):
        self.workdir = workdir
        self.db_path = os.path.join(workdir, "placement.sqlite")
        self._server = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "PlacementServer":
        from oslo_config import cfg
        from placement import conf as placement_conf
        from placement import db_api, deploy
        from placement.db.sqlalchemy import migration

        conf_file = os.path.join(self.workdir, "placement.conf")
        with open(conf_file, "w") as f:
            f.write(
                "[placement_database]\n"
                f"connection = sqlite:///{self.db_path}?timeout=60\n"
                "[api]\nauth_strategy = noauth2\n"
            )
        conf = cfg.ConfigOpts()
        placement_conf.register_opts(conf)
        conf([], project="placement", default_config_files=[conf_file])
        db_api.configure(conf)
        migration.upgrade("head")
        app = deploy.loadapp(conf)
        self._server = _make_server(app)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"{SERVER_THREAD_PREFIX}listener",
            daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
