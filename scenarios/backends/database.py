"""The databases nova and placement run on: embedded SQLite, a throwaway server, or a user's URL.

``--db sqlite`` (default): files in the work directory. ``postgresql`` /
``mysql``: a throwaway cluster started here (``initdb`` + ``postgres``;
``mariadb-install-db`` + ``mariadbd``) as a child process on a free loopback
port, in a directory owned by the server's system user when running as root
(both refuse to run as root). A URL: the user's server; the auditor creates
its own databases there (``auditor_<id>_nova`` ...) and drops them after.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile

from scenarios.backends.process import BackendError, Server, check_bindable, free_port

__all__ = ["Database", "ENGINES", "check_engine", "check_url", "open_database"]

ENGINES = ("sqlite", "postgresql", "mysql")
#: the databases one run needs, by role
ROLES = ("nova", "nova_api", "nova_cell0", "placement")
_DRIVERS = {"postgresql": "postgresql+psycopg2", "mysql": "mysql+pymysql"}


def _engine(url: str):
    import sqlalchemy

    args = {"connect_timeout": 5}
    return sqlalchemy.create_engine(url, connect_args=args, poolclass=_null_pool())


def _null_pool():
    from sqlalchemy.pool import NullPool

    return NullPool


def check_url(url: str) -> str:
    """Connect to a user's server and check it may create databases; returns its version."""
    import sqlalchemy

    try:
        parsed = sqlalchemy.engine.make_url(url)
    except Exception:  # noqa: BLE001 - SQLAlchemy's ArgumentError and friends
        raise BackendError(f"--db: not a database URL (expected sqlite, postgresql, mysql "
                           f"or a URL such as postgresql://user:pw@127.0.0.1:5432/)") from None
    if parsed.get_backend_name() not in ("postgresql", "mysql"):
        raise BackendError(f"--db: unsupported engine {parsed.get_backend_name()!r}; "
                           "use a postgresql:// or mysql:// URL")
    name = parsed.get_backend_name()
    server_url = parsed.set(drivername=_DRIVERS[name],
                            database="postgres" if name == "postgresql" else None)
    probe = f"auditor_probe_{secrets.token_hex(4)}"
    try:
        engine = _engine(server_url)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            version = _version(conn, name)
            conn.exec_driver_sql(f"CREATE DATABASE {probe}")
            conn.exec_driver_sql(f"DROP DATABASE {probe}")
    except ModuleNotFoundError as e:
        raise BackendError(f"--db {name}: the {e.name} driver is not installed: "
                           "pip install -c constraints.txt -e '.[backends]'") from None
    except Exception as e:  # noqa: BLE001 - DBAPI errors differ per driver
        reason = str(getattr(e, "orig", e)).strip().splitlines()[0][:200]
        raise BackendError(f"--db: {parsed.render_as_string(hide_password=True)} does not "
                           f"answer or may not create databases: {reason}") from None
    return version


def _version(conn, engine: str) -> str:
    row = conn.exec_driver_sql("SELECT version()").scalar()
    if engine == "postgresql":  # "PostgreSQL 15.14 (Debian ...) on x86_64..."
        return "postgresql " + row.split()[1]
    return ("mariadb " if "mariadb" in row.lower() else "mysql ") + row.split("-")[0]


class Database:
    """Where nova's and placement's databases live; ``url(role)``, ``describe()``, ``stop()``."""

    def __init__(self, engine: str, server_url=None, server: Server | None = None,
                 scratch: str | None = None):
        self.engine = engine
        self._server_url = server_url
        self._server = server
        self._scratch = scratch
        self._prefix = f"auditor_{secrets.token_hex(4)}_"
        self.version = "sqlite " + _sqlite_version() if engine == "sqlite" else None
        self._created: list[str] = []

    def url(self, role: str, workdir: str) -> str:
        if self.engine == "sqlite":
            return f"sqlite:///{workdir}/{role}.sqlite?timeout=60"
        return self._server_url.set(database=self._prefix + role).render_as_string(
            hide_password=False)

    def create(self) -> None:
        """Create the run's databases on the server (nothing to do for SQLite)."""
        if self.engine == "sqlite":
            return
        admin = self._server_url.set(database="postgres" if self.engine == "postgresql"
                                     else None)
        with _engine(admin).connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            self.version = _version(conn, self.engine)
            for role in ROLES:
                charset = " CHARACTER SET utf8mb4" if self.engine == "mysql" else ""
                conn.exec_driver_sql(f"CREATE DATABASE {self._prefix}{role}{charset}")
                self._created.append(self._prefix + role)

    def describe(self) -> str:
        return self.version or self.engine

    def stop(self) -> None:
        """Drop what was created on a user's server; stop a throwaway server."""
        if self._server is not None:
            self._server.stop()
            self._server = None
        elif self._created:
            admin = self._server_url.set(database="postgres" if self.engine == "postgresql"
                                         else None)
            try:
                with _engine(admin).connect().execution_options(
                        isolation_level="AUTOCOMMIT") as conn:
                    for name in self._created:
                        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
            except Exception:  # noqa: BLE001 - best effort on the way out
                pass
        self._created = []
        if self._scratch:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None


def _sqlite_version() -> str:
    import sqlite3

    return sqlite3.sqlite_version


def _binary(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name) or next(iter(sorted(glob.glob(
            f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
        if found:
            return found
    return None


def _scratch_dir(user: str | None) -> str:
    """A directory the server's system user owns (servers refuse to run as root)."""
    path = tempfile.mkdtemp(prefix=f"auditor-{user or 'db'}-")
    if user:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    return path


def _system_user(name: str) -> str | None:
    if os.geteuid() != 0:
        return None  # a developer's own account may run the server
    try:
        pwd.getpwnam(name)
    except KeyError:
        raise BackendError(f"--db: running as root needs the {name!r} system user "
                           f"(installed with the server package)") from None
    return name


def _run_as(user: str | None, argv: list[str], what: str) -> None:
    cmd = (["runuser", "-u", user, "--"] if user else []) + argv
    done = subprocess.run(cmd, capture_output=True, text=True, cwd="/")
    if done.returncode != 0:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-2:])
        raise BackendError(f"{what} failed ({done.returncode}): {tail[-400:]}")


#: engine -> (alternative names of the init tool, of the server), Debian package, system user
_SERVERS = {"postgresql": ((("initdb",), ("postgres",)), "postgresql", "postgres"),
            "mysql": ((("mariadb-install-db", "mysql_install_db"), ("mariadbd", "mysqld")),
                      "mariadb-server", "mysql")}


def check_engine(engine: str) -> list[str]:
    """The init tool and server binaries of a throwaway ``engine``, or BackendError."""
    binaries, package, _ = _SERVERS[engine]
    found = [_binary(*names) for names in binaries]
    if not all(found):
        raise BackendError(f"--db {engine} needs {' and '.join(n[0] for n in binaries)} "
                           f"(Debian: apt-get install {package})")
    return found


def _private_file(path: str, text: str, user: str | None) -> str:
    """Write ``text`` to a 0600 file the server's user owns."""
    with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write(text)
    if user:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    return path


def _throwaway(engine: str, init, argv, record=None) -> Database:
    """Initialise and start a throwaway server as ``user_name`` in a scratch directory.

    ``init(binary, scratch, user, password)`` creates the data directory;
    ``argv(binary, scratch, port)`` is the server's command line; ``record``: ``Server``'s.
    """
    import sqlalchemy

    found = check_engine(engine)
    user = _system_user(_SERVERS[engine][2])
    scratch = _scratch_dir(user)
    try:
        password = secrets.token_urlsafe(18)
        init(found[0], scratch, user, password)
        port = free_port()
        check_bindable(port)
        url = sqlalchemy.engine.URL.create(_DRIVERS[engine], "auditor", password, "127.0.0.1",
                                           port, "postgres" if engine == "postgresql" else None)

        def ready() -> bool:
            try:
                with _engine(url).connect():
                    return True
            except Exception:  # noqa: BLE001 - refused / starting up: not yet
                return False

        server = Server(engine, argv(found[1], scratch, port),
                        os.path.join(scratch, f"{engine}.log"), ready=ready, user=user,
                        cwd=scratch, stop_signal=signal.SIGINT,  # both: fast shutdown
                        record=record)
        server.start(timeout_s=60)
        return Database(engine, url, server, scratch)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


def _postgresql(record=None) -> Database:
    def init(initdb: str, scratch: str, user: str | None, password: str) -> None:
        pwfile = _private_file(os.path.join(scratch, "pw"), password, user)
        _run_as(user, [initdb, "-D", os.path.join(scratch, "data"), "-U", "auditor",
                       "--auth=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8",
                       "--locale=C.UTF-8"], "initdb")
        os.unlink(pwfile)

    def argv(postgres: str, scratch: str, port: int) -> list[str]:
        return [postgres, "-D", os.path.join(scratch, "data"), "-h", "127.0.0.1",
                "-p", str(port), "-k", scratch, "-c", "max_connections=200", "-c", "fsync=off"]

    return _throwaway("postgresql", init, argv, record)


def _mysql(record=None) -> Database:
    def init(install: str, scratch: str, user: str | None, password: str) -> None:
        _run_as(user, [install, f"--datadir={scratch}/data", "--skip-test-db",
                       "--auth-root-authentication-method=normal"], "mariadb-install-db")
        _private_file(os.path.join(scratch, "init.sql"),
                      f"CREATE USER 'auditor'@'127.0.0.1' IDENTIFIED BY '{password}';\n"
                      "GRANT ALL ON *.* TO 'auditor'@'127.0.0.1';\n", user)

    def argv(mysqld: str, scratch: str, port: int) -> list[str]:
        return [mysqld, "--no-defaults", f"--datadir={scratch}/data",
                f"--socket={scratch}/mysqld.sock", f"--port={port}",
                "--bind-address=127.0.0.1", f"--init-file={scratch}/init.sql",
                "--max-connections=300", "--skip-log-bin", f"--pid-file={scratch}/mysqld.pid"]

    return _throwaway("mysql", init, argv, record)


def open_database(spec: str, record=None) -> Database:
    """The database backend for ``--db spec`` (started and its databases created);
    ``record(name, pid)``: told a throwaway server's process group (``Server``'s)."""
    if spec == "sqlite":
        return Database("sqlite")
    if spec == "postgresql":
        db = _postgresql(record)
    elif spec == "mysql":
        db = _mysql(record)
    else:
        import sqlalchemy

        check_url(spec)
        parsed = sqlalchemy.engine.make_url(spec)
        db = Database(parsed.get_backend_name(),
                      parsed.set(drivername=_DRIVERS[parsed.get_backend_name()]))
    try:
        db.create()
    except BaseException:
        db.stop()
        raise
    return db
