"""The SQLite backend: a file (or ``:memory:``) through sqlite-utils.

Tables are created and migrated with sqlite-utils' own ``Migrations`` (in one
``BEGIN EXCLUSIVE`` transaction that first re-reads what is pending, so many
processes can open a new file at once; ``PRAGMA user_version`` records how
many have run).  A database with a migration (or schema version) this cinflow
does not know was written by a newer cinflow and is refused.  The database
runs in WAL mode; every write is one ``BEGIN IMMEDIATE`` transaction.

Every SQLite failure is a one-line :class:`~cinflow.errors.StoreError`: a
database another writer keeps locked is retried (jittered exponential
backoff) for up to ``busy_budget_s`` (30 s) before that; a full disk, a
damaged file or a read-only one likewise.

Each thread gets its own connection (a web server's pool may share one
backend); ``:memory:`` has one connection, used by one thread at a time.
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
from pathlib import Path
from urllib.parse import quote

import sqlite_utils
from sqlite_utils.migrations import Migrations

from ..errors import StoreError
from .connections import ThreadConnections

migrations = Migrations("cinflow")


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db["cases"].create(
        {"id": str, "authority": str, "state": str, "version": int, "child": str, "facts": str},
        pk="id",
        not_null={"authority", "state", "version", "child", "facts"},
    )
    db["events"].create(
        {"case_id": str, "seq": int, "date": str, "event": str, "accepted": int, "from_state": str,
         "to_state": str, "automatic": int, "attributes": str, "reasons": str},
        pk=("case_id", "seq"),
        foreign_keys=[("case_id", "cases", "id")],
        not_null={"date", "event", "accepted", "from_state", "to_state", "automatic"},
    )
    db["deadlines"].create(
        {"case_id": str, "seq": int, "name": str, "due": str, "rule": str, "source": str,
         "opened_on": str, "met_on": str, "cancelled_on": str},
        pk=("case_id", "seq"),
        foreign_keys=[("case_id", "cases", "id")],
        not_null={"name", "due", "rule", "source", "opened_on"},
    )
    db["deadlines"].create_index(["due"])
    db["cases"].create_index(["authority"])


@migrations()
def m002_simulations(db: sqlite_utils.Database) -> None:
    """Simulation runs: their parameters and the summary they printed."""
    db["simulations"].create({"id": int, "parameters": str, "summary": str}, pk="id", not_null={"parameters", "summary"})


@migrations()
def m003_levels_and_statuses(db: sqlite_utils.Database) -> None:
    """A deadline's ``cancelled_on`` becomes ``ended_on`` (the day it stopped
    applying: ``missed`` if after its due date, ``cancelled`` if not); each
    event row keeps the advice and exceptions it carried."""
    db["deadlines"].transform(rename={"cancelled_on": "ended_on"})
    db["events"].add_column("advice", str, not_null_default="[]")
    db["events"].add_column("exceptions", str, not_null_default="[]")


@migrations()
def m004_provenance_and_finished_runs(db: sqlite_utils.Database) -> None:
    """Where each case came from (``recorded``: events a host or ``cinflow
    run`` applied; ``simulated``: made by ``cinflow simulate``), and whether
    each simulation run finished (0 until its last write commits)."""
    db["cases"].add_column("provenance", str, not_null_default="recorded")
    db["simulations"].add_column("finished", int, not_null_default=1)


@migrations()
def m005_actors_projection_tokens(db: sqlite_utils.Database) -> None:
    """Who stored each event (``recorded_by``); each case's ``heads`` (the
    seq of each event name's latest accepted item, so an append loads a
    projection instead of replaying); the service's access tokens (only a
    hash of each secret); an index of open deadlines."""
    db["events"].add_column("recorded_by", str)
    db["cases"].add_column("heads", str, not_null_default="{}")
    import json

    heads: dict[str, dict] = {}
    for case_id, event, seq in db.execute(
            "SELECT case_id, event, max(seq) FROM events WHERE accepted = 1 GROUP BY case_id, event"):
        heads.setdefault(case_id, {})[event] = seq
    db.conn.executemany("UPDATE cases SET heads = ? WHERE id = ?",
                        [(json.dumps(h, sort_keys=True, separators=(",", ":")), cid) for cid, h in heads.items()])
    db["tokens"].create(
        {"name": str, "authority": str, "read_only": int, "hash": str, "created_at": str, "revoked_at": str},
        pk="name",
        not_null={"authority", "read_only", "hash", "created_at"},
    )
    db["tokens"].create_index(["hash"], unique=True)
    # An append reads a case's open deadlines: a partial index keeps that a
    # few rows however many deadlines the case has met.
    db.execute("CREATE INDEX idx_deadlines_open ON deadlines (case_id, seq) WHERE met_on IS NULL AND ended_on IS NULL")


def known_migrations() -> list[str]:
    return [m.name for m in migrations._migrations]


def busy(exc: BaseException) -> bool:
    """SQLITE_BUSY (any variant): another connection holds the lock."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    name = getattr(exc, "sqlite_errorname", "") or ""
    return name.startswith("SQLITE_BUSY") or "database is locked" in str(exc)


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


class SQLiteBackend:
    """Connections, transactions, retries and error messages for one SQLite file."""

    name = "sqlite"
    placeholder = "?"
    Error = sqlite3.Error

    def __init__(self, path: str, *, busy_timeout_ms: int, busy_budget_s: float, read_only: bool):
        self.path = str(path)
        self.read_only = read_only
        self.busy_budget_s = busy_budget_s
        self._timeout_ms = max(0, min(int(busy_timeout_ms), int(busy_budget_s * 1000)))
        self.memory = self.path == ":memory:"
        if self.memory and read_only:
            raise StoreError("an in-memory database cannot be opened read-only")
        if not self.memory and not read_only:
            parent = Path(path).resolve().parent
            if not parent.is_dir():
                raise StoreError(f"cannot create database {path}: folder {parent} does not exist")
        self._conns = ThreadConnections()
        self._uri: tuple[str, bool] | None = None  # how further threads connect
        # ``:memory:`` is one database on one connection: one thread at a time.
        self._memory_lock = threading.RLock() if self.memory else None
        try:
            if read_only:
                self._open_read_only(Path(path))
            else:
                self._open()
        except BaseException as exc:
            self.close()
            if isinstance(exc, sqlite3.Error):
                if busy(exc):
                    raise StoreError(self.busy_text()) from None
                raise StoreError(f"cannot open database {path}: {one_line(exc)}") from None
            raise

    # -- connections ----------------------------------------------------------------

    def _connect(self, target: str, uri: bool = False) -> sqlite3.Connection:
        conn = sqlite3.connect(target, uri=uri, timeout=self._timeout_ms / 1000, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {self._timeout_ms}")
        self._uri = (target, uri)
        return self._conns.add(conn, db=sqlite_utils.Database(conn))

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use in a thread)."""
        if self.memory:
            return self._conns.first
        conn = self._conns.mine()
        if conn is None:
            if self._uri is None:
                raise StoreError(f"database {self.path} is closed")
            conn = self._connect(*self._uri)
        return conn

    @property
    def db(self) -> sqlite_utils.Database:
        """This thread's connection as a sqlite-utils ``Database``."""
        if self.memory:
            return self._memory_db
        self.conn  # noqa: B018 (opens it)
        return self._conns.mine("db")

    def close(self) -> None:
        def no_more():
            self._uri = None

        self._conns.close_all(no_more)

    # -- opening ----------------------------------------------------------------

    def _open(self) -> None:
        self._connect(":memory:" if self.memory else self.path)
        if self.memory:
            self._memory_db = self._conns.mine("db")
        pending = self._retry(self._pending, translate=False)  # refuses another's or a newer database first
        if not self.memory:
            self._retry(self._enable_wal, translate=False)
        if pending:
            # Under an exclusive lock, re-reading what is pending: of several
            # processes opening a new file at once, one migrates it, the
            # others find nothing left to do.
            self._retry(lambda: self._transaction(self._migrate, "EXCLUSIVE"), translate=False)

    def _enable_wal(self) -> None:
        conn = self.conn
        if conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
            return
        mode = conn.execute("PRAGMA journal_mode = wal").fetchone()[0]
        if mode != "wal":  # another connection held the file: try again
            raise sqlite3.OperationalError("database is locked")

    def _migrate(self) -> None:
        if self._pending():
            migrations.apply(self.db)
            self.conn.execute(f"PRAGMA user_version = {len(known_migrations())}")

    def applied_migrations(self) -> list[str]:
        return [m.name for m in migrations.applied(self.db)]

    def _pending(self) -> list[str]:
        """The migrations this database still needs.  Refuses a database
        that is not cinflow's or was written by a newer cinflow."""
        conn = self.conn
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        applied = []
        if migrations.migrations_table in tables:
            applied = [r[0] for r in conn.execute(
                f"SELECT name FROM [{migrations.migrations_table}] WHERE migration_set = ? ORDER BY rowid",
                [migrations.name])]
        known = known_migrations()
        if not applied:
            others = [t for t in tables if t != migrations.migrations_table]
            if others:
                shown = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
                raise StoreError(f"{self.path} is not a cinflow database (it holds tables {shown}); nothing was changed")
            return known
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        unknown = [n for n in applied if n not in known]
        if unknown or version > len(known):
            from .. import __version__

            what = f"migration {', '.join(unknown)}" if unknown else f"schema version {version}"
            raise StoreError(f"{self.path} was written by a newer cinflow ({what}); this is cinflow {__version__} "
                             f"with migrations up to {known[-1]} (schema version {len(known)}); upgrade cinflow")
        return [n for n in known if n not in applied]

    def _open_read_only(self, path: Path) -> None:
        if not path.is_file():
            raise StoreError(f"{path}: no such database")
        if path.stat().st_size == 0:
            raise StoreError(f"{path} is empty, not a cinflow database (nothing was changed)")
        uri = "file:" + quote(str(path.resolve())) + "?mode=ro"
        self._connect(uri, uri=True)
        try:
            pending = self._retry(self._pending, translate=False)
        except sqlite3.OperationalError as exc:
            # A WAL database in a folder this process cannot write: SQLite
            # cannot make its -shm file.  With no -wal file no writer is at
            # work (one would have made it), so the file is read as it is.
            name = getattr(exc, "sqlite_errorname", "") or ""
            if not name.startswith(("SQLITE_CANTOPEN", "SQLITE_READONLY")) or Path(f"{path}-wal").exists():
                raise
            self.close()
            self._connect(uri + "&immutable=1", uri=True)
            pending = self._retry(self._pending, translate=False)
        if pending == known_migrations():
            raise StoreError(f"{path} is not a cinflow database (it holds no cases table); nothing was changed")
        if pending:
            applied = [n for n in known_migrations() if n not in pending]
            if not (os.access(path, os.W_OK) and os.access(path.resolve().parent, os.W_OK)):
                raise StoreError(f"{path} is a cinflow database from an older release (migrations up to {applied[-1]}) "
                                 "and cannot be migrated here (no write access); open it once where it is writable "
                                 "(any cinflow command on it migrates it)")
            self.close()
            SQLiteBackend(str(path), busy_timeout_ms=self._timeout_ms, busy_budget_s=self.busy_budget_s,
                          read_only=False).close()
            self._connect(uri, uri=True)
            self._retry(self._pending, translate=False)

    # -- errors, retries and transactions ---------------------------------------

    def busy_text(self) -> str:
        return (f"database {self.path} is busy: another writer held it for more than {self.busy_budget_s:g} s; "
                "nothing was written")

    def error_text(self, exc: sqlite3.Error, writing: bool) -> str:
        if busy(exc):
            return self.busy_text()
        name = getattr(exc, "sqlite_errorname", "") or ""
        detail = one_line(exc)
        if name.startswith("SQLITE_FULL"):
            text = f"database {self.path}: the disk is full ({detail})"
        elif name.startswith("SQLITE_READONLY") or self.read_only and "readonly" in detail:
            text = f"database {self.path} cannot be written here ({detail})"
        elif name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
            text = f"{self.path} is damaged ({detail})"
        else:
            text = f"database {self.path}: {detail}"
        return text + ("; nothing was written" if writing else "")

    def _retry(self, fn, writing: bool = False, translate: bool = True):
        """``fn()``, again after a jittered exponential pause while the database
        is busy, for up to ``busy_budget_s`` in all.  Still busy at the end is a
        one-line :class:`StoreError`; so is any other SQLite error (unless
        ``translate`` is false: then it is raised as it is)."""
        start = time.monotonic()
        pause = 0.01
        timeout = self._timeout_ms
        conn = self.conn
        try:
            while True:
                try:
                    return fn()
                except sqlite3.Error as exc:
                    if not busy(exc):
                        if not translate:
                            raise
                        raise StoreError(self.error_text(exc, writing)) from None
                    left = start + self.busy_budget_s - time.monotonic()
                    if left <= 0:
                        raise StoreError(self.busy_text()) from None
                    time.sleep(random.uniform(0, min(pause, left)))
                    pause = min(pause * 2, 1.0)
                    left_ms = int((start + self.busy_budget_s - time.monotonic()) * 1000)
                    if left_ms <= 0:
                        raise StoreError(self.busy_text()) from None
                    if left_ms < timeout:  # the last attempt waits no longer than the budget allows
                        timeout = left_ms
                        conn.execute(f"PRAGMA busy_timeout = {timeout}")
        finally:
            if timeout != self._timeout_ms:
                conn.execute(f"PRAGMA busy_timeout = {self._timeout_ms}")

    def _transaction(self, body, mode: str = "IMMEDIATE"):
        """``body()`` inside one ``BEGIN IMMEDIATE`` transaction: committed if it
        returns, rolled back if anything raises (a busy database included, so
        :meth:`_retry` can run it again from the start)."""
        conn = self.conn
        outer = conn.in_transaction  # (someone's own, on store.db: BEGIN fails, and theirs is left alone)
        try:  # BEGIN inside: a signal just after it still rolls back
            conn.execute(f"BEGIN {mode}")
            result = body()
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction and not outer:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            raise
        return result

    def is_unique_violation(self, exc) -> bool:
        return isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in str(exc)

    def _locked(self, fn):
        if self._memory_lock is None:
            return fn()
        with self._memory_lock:
            return fn()

    def write(self, body):
        """``body()`` in one write transaction, retried while busy."""
        if self.read_only:
            raise StoreError(f"{self.path} was opened read-only; nothing was written")
        return self._locked(lambda: self._retry(lambda: self._transaction(body), writing=True))

    def read(self, body):
        """``body()`` (reads), retried while busy; errors as one line."""
        return self._locked(lambda: self._retry(body))

    def raw_read(self, body):
        """``body()`` retried while busy; SQLite's own errors raised as they are."""
        return self._locked(lambda: self._retry(body, translate=False))

    # -- statements (the caller holds read or write) ---------------------------------

    def all(self, sql: str, params=()) -> list[tuple]:
        return self.conn.execute(sql, params).fetchall()

    def one(self, sql: str, params=()):
        return self.conn.execute(sql, params).fetchone()

    def run(self, sql: str, params=()) -> int:
        return self.conn.execute(sql, params).rowcount

    def many(self, sql: str, rows) -> None:
        self.conn.executemany(sql, rows)

    def insert_returning_id(self, sql: str, params) -> int:
        return self.conn.execute(sql, params).lastrowid

    def columns(self, table: str) -> list[str]:
        return [r[1] for r in self.conn.execute(f"PRAGMA table_info([{table}])")]

    def tables(self) -> list[str]:
        return [r[0] for r in self.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]

    def integrity(self) -> list[str]:
        """``PRAGMA quick_check``'s rows (["ok"] when sound)."""
        try:
            return [r[0] for r in self.raw_read(lambda: self.conn.execute("PRAGMA quick_check").fetchall())]
        except sqlite3.DatabaseError as exc:  # too damaged for quick_check to run
            return [one_line(exc)]

    # -- the simulator's bulk load (cinflow.store.bulk) ----------------------------------

    def copy_shard(self, path: str, tables, then=None) -> None:
        """Copy a shard file's rows (another SQLite file) into this database
        in one write transaction: for each ``(table, columns, constants)`` of
        ``tables``, the shard's rows in the order they were written (rowid),
        with ``constants`` ({column: value}) set on each; then ``then()`` in
        the same transaction.  The file is attached for the copy."""
        def body():
            for table, columns, constants in tables:
                cols = ", ".join(columns)
                names = ", ".join([*columns, *constants])
                values = ", ".join([cols, *("?" * len(constants))])
                self.conn.execute(f"INSERT INTO main.{table} ({names}) SELECT {values} FROM shard.{table} ORDER BY rowid",
                                  tuple(constants.values()))
            if then is not None:
                then()

        def unreadable(why: str):  # a damaged shard is the shard's fault, not this database's
            return StoreError(f"cannot read simulation shard {path}: {why}; nothing was written")

        def attached():
            conn = self.conn
            if not Path(path).is_file():  # ATTACH would make an empty one
                raise unreadable("no such file")
            try:
                conn.execute("ATTACH DATABASE ? AS shard", [str(path)])
            except sqlite3.Error as exc:
                raise unreadable(one_line(exc)) from None
            try:
                try:
                    for table, _, _ in tables:
                        conn.execute(f"SELECT count(*) FROM shard.{table}").fetchone()
                except sqlite3.Error as exc:
                    raise unreadable(one_line(exc)) from None
                self.write(body)
            except BaseException:
                try:
                    conn.execute("DETACH DATABASE shard")
                except sqlite3.Error:
                    pass  # what failed is the news
                raise
            self._retry(lambda: conn.execute("DETACH DATABASE shard"))

        self._locked(attached)

    def bulk_load_started(self) -> None:
        """A bulk load is faster without the secondary index on due dates."""
        self.write(lambda: self.conn.execute("DROP INDEX IF EXISTS idx_deadlines_due"))

    def bulk_load_finished(self) -> None:
        """The due-date index rebuilt (one sorted pass), if it was dropped."""
        self.write(lambda: self.conn.execute("CREATE INDEX IF NOT EXISTS idx_deadlines_due ON deadlines (due)"))
