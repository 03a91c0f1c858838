"""A throwaway PostgreSQL server for the tests and benchmarks: real, local,
gone when the session ends.

``start()`` runs Debian's PostgreSQL binaries (``initdb``, ``pg_ctl``) on a
temporary data folder, a free loopback port and trust authentication.
PostgreSQL refuses to run as root, so as root the folder is given to the
``postgres`` user and the binaries run as that user (``runuser``).  A small
watchdog process stops the server and removes the folder when ``stop()`` is
called or when the process that started it dies (killed, or timed out in CI),
so no server outlives its test run.  With ``CINFLOW_TEST_POSTGRES`` set to a
``postgresql://`` URL of an existing server (whose user may ``CREATE
DATABASE``), that server is used instead.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from urllib.parse import urlsplit, urlunsplit


class Unavailable(RuntimeError):
    """No PostgreSQL could be found or started (the message says why, in one line)."""


def bindir() -> str:
    """The folder with ``initdb``, ``pg_ctl`` and ``postgres``: ``pg_config --bindir``,
    ``pg_ctl`` on PATH (through any symlink), or Debian's newest versioned folder."""
    candidates = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True).stdout.strip()
        candidates.append(out)
    if shutil.which("pg_ctl"):
        candidates.append(os.path.dirname(os.path.realpath(shutil.which("pg_ctl"))))
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True)
    candidates += versions
    for folder in candidates:
        if folder and all(os.access(os.path.join(folder, b), os.X_OK) for b in ("initdb", "pg_ctl", "postgres")):
            return folder
    raise Unavailable("no PostgreSQL server binaries (initdb, pg_ctl) found: install Debian's postgresql package")


def database_url(url: str, name: str) -> str:
    """``url`` with its database replaced by ``name`` (host, user and query kept)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def _database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def _shown(url: str) -> str:
    """``url`` without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(":" + parts.password + "@", ":***@", 1)))


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


class Server:
    """One server (``url`` is its ``postgres`` database, or the URL given;
    ``folder`` holds its data, log and socket, None for a server we did not start)."""

    def __init__(self, url: str, watchdog: subprocess.Popen | None = None, folder: str | None = None):
        self.url = url
        self.folder = folder
        self._watchdog = watchdog

    def stop(self) -> None:
        """Stop the server and remove its folder (nothing for a server we did not start)."""
        if self._watchdog is not None:
            watchdog, self._watchdog = self._watchdog, None
            try:
                watchdog.stdin.write(b"stop\n")  # the watchdog's cue (EOF, if we die)
                watchdog.stdin.close()
            except BrokenPipeError:
                pass
            watchdog.stdout.readline()  # "stopped", or EOF if it died
            watchdog.stdout.close()

    def create_database(self) -> str:
        """A new, empty, uniquely named database; its URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:16]
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return database_url(self.url, name)

    def drop_database(self, url: str) -> None:
        """Drop it, even if a test left a connection to it open."""
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{_database_name(url)}" WITH (FORCE)')


def _existing(url: str) -> Server:
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=10).close()
    except psycopg.Error as exc:
        raise Unavailable(f"CINFLOW_TEST_POSTGRES={_shown(url)} does not answer: {_one_line(exc)}") from None
    return Server(url)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _others_can_enter(folder: str) -> bool:
    """Whether another user (``postgres``) can reach ``folder``: every ancestor is o+x."""
    path = os.path.abspath(folder)
    while True:
        if not os.stat(path).st_mode & 0o001:
            return False
        if path == os.path.dirname(path):
            return True
        path = os.path.dirname(path)


# Runs beside the server, as init's child, not ours (so no test finds it among
# its children): on a line from stop(), or at EOF when the starter died (a forked
# child holding the pipe does not delay stop()), it stops the server, removes the
# folder and says so.  argv: folder, then the pg_ctl command line (runuser first as root).
WATCHDOG = """
import os, shutil, signal, subprocess, sys
if os.fork():
    os._exit(0)
os.setsid()
signal.signal(signal.SIGINT, signal.SIG_IGN)
sys.stdin.readline()
subprocess.run(sys.argv[2:] + ["-m", "immediate", "-w", "stop"], capture_output=True)
shutil.rmtree(sys.argv[1], ignore_errors=True)
print("stopped", flush=True)
"""


def start(fsync: bool = False) -> Server:
    """A running server, or ``CINFLOW_TEST_POSTGRES``'s.  ``fsync=False`` (the
    tests) trades durability for speed; benchmarks pass ``fsync=True``."""
    existing = os.environ.get("CINFLOW_TEST_POSTGRES")
    if existing:
        return _existing(existing)
    bin_ = bindir()
    prefix: list[str] = []
    parent = None
    if os.geteuid() == 0:
        try:
            pg = pwd.getpwnam("postgres")
        except KeyError:
            raise Unavailable("running as root and there is no 'postgres' user to run the server as") from None
        prefix = ["runuser", "-u", "postgres", "--"]
        parent = None if _others_can_enter(tempfile.gettempdir()) else "/tmp"
    folder = tempfile.mkdtemp(prefix="cinflow-pg-", dir=parent)
    data, sockets, log = (os.path.join(folder, name) for name in ("data", "sock", "log"))
    os.mkdir(sockets)
    if prefix:
        for path in (folder, sockets):
            os.chown(path, pg.pw_uid, pg.pw_gid)
    pg_ctl = [*prefix, os.path.join(bin_, "pg_ctl"), "-D", data]
    watchdog = subprocess.Popen([sys.executable, "-c", WATCHDOG, folder, *pg_ctl], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    watchdog.wait()  # it has forked the real watchdog and gone
    server = Server("", watchdog, folder)

    def run(*args):
        result = subprocess.run(args, capture_output=True, text=True, cwd=folder)
        if result.returncode != 0:
            tail = " ".join((result.stderr or result.stdout).split())[-300:]
            raise Unavailable(f"{os.path.basename(args[len(prefix)])} failed: {tail}")

    try:
        run(*prefix, os.path.join(bin_, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8",
            "--no-sync")
        durability = "" if fsync else " -c fsync=off -c full_page_writes=off"
        for attempt in range(3):  # another process may take the free port first
            port = _free_port()
            options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1{durability}"
            try:
                run(*pg_ctl, "-o", options, "-l", log, "-w", "-t", "60", "start")
                break
            except Unavailable:
                with open(log, errors="replace") as f:
                    if attempt == 2 or "already in use" not in f.read():
                        raise
        server.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        import psycopg

        psycopg.connect(server.url, connect_timeout=10).close()
    except BaseException as exc:
        server.stop()
        if isinstance(exc, Exception) and not isinstance(exc, Unavailable):
            raise Unavailable(f"the throwaway server did not start: {_one_line(exc)}") from None
        raise
    return server
