"""A throwaway PostgreSQL server for the tests and benchmarks: real, local,
gone when the session ends.

``start()`` runs Debian's PostgreSQL binaries (``initdb``, ``pg_ctl``) on a
temporary data folder, a free loopback port and trust authentication.
PostgreSQL refuses to run as root, so as root the folder is given to the
``postgres`` user and the binaries run as that user (``runuser``).  With
``CINFLOW_TEST_POSTGRES`` set to a ``postgresql://`` URL of an existing
server (whose user may ``CREATE DATABASE``), that server is used instead.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid


class Unavailable(RuntimeError):
    """No PostgreSQL could be found or started (the message says why)."""


def bindir() -> str:
    """Where ``pg_ctl`` is: ``pg_config --bindir``, PATH, or Debian's versioned folders."""
    found = shutil.which("pg_config")
    if found:
        out = subprocess.run([found, "--bindir"], capture_output=True, text=True).stdout.strip()
        if out and os.path.exists(os.path.join(out, "pg_ctl")):
            return out
    on_path = shutil.which("pg_ctl")
    if on_path:
        return os.path.dirname(on_path)
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[-3]))
    if versions:
        return os.path.dirname(versions[-1])
    raise Unavailable("no PostgreSQL server binaries (pg_ctl) found: install Debian's postgresql package")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One running throwaway server (``url`` is its ``postgres`` database)."""

    def __init__(self, url: str, stop=None):
        self.url = url
        self._stop = stop

    def stop(self) -> None:
        if self._stop is not None:
            self._stop()
            self._stop = None

    def create_database(self) -> str:
        """A new, empty, uniquely named database; its URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:16]
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url.rsplit("/", 1)[0] + "/" + name

    def drop_database(self, url: str) -> None:
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start() -> Server:
    existing = os.environ.get("CINFLOW_TEST_POSTGRES")
    if existing:
        return Server(existing)
    bin_ = bindir()
    as_root = os.geteuid() == 0
    folder = tempfile.mkdtemp(prefix="cinflow-pg-")
    data, sockets = os.path.join(folder, "data"), os.path.join(folder, "sock")
    os.mkdir(sockets)
    prefix: list[str] = []
    if as_root:
        try:
            pg = pwd.getpwnam("postgres")
        except KeyError:
            raise Unavailable("running as root and there is no 'postgres' user to run the server as") from None
        for path in (folder, sockets):
            os.chown(path, pg.pw_uid, pg.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]

    def run(*args, **kw):
        result = subprocess.run([*prefix, *args], capture_output=True, text=True, **kw)
        if result.returncode != 0:
            tail = " ".join((result.stderr or result.stdout).split())[-300:]
            raise Unavailable(f"{os.path.basename(args[0])} failed: {tail}")
        return result

    run(os.path.join(bin_, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
    port = _free_port()
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    run(os.path.join(bin_, "pg_ctl"), "-D", data, "-o", options, "-l", os.path.join(folder, "log"), "-w", "-t", "60",
        "start")

    def stop():
        subprocess.run([*prefix, os.path.join(bin_, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop"],
                       capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)

    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    deadline = time.monotonic() + 30
    import psycopg

    while True:
        try:
            psycopg.connect(url, connect_timeout=2).close()
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                stop()
                raise Unavailable(f"the server on port {port} did not accept connections") from None
            time.sleep(0.2)
    return Server(url, stop)
