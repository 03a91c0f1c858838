"""The simulator's writes: claiming a new database for a run, loading the
workers' shard files into it, and finishing the run.

:class:`BulkLoad` is a mixin of :class:`~cinflow.store.Store` (it uses
``self.backend`` and ``self.path``).  A run's ``simulations`` row is written
first, ``finished = 0`` (:meth:`BulkLoad.begin_simulation`); each shard is
one transaction that copies its rows and brings the run's summary up to date
(:meth:`BulkLoad.load_shard`); the last sets ``finished = 1``
(:meth:`BulkLoad.finish_simulation`).

A *shard* is a scratch SQLite file a worker process writes with
:func:`write_shard` (tables ``cases``, ``events``, ``deadlines`` with the
columns of :mod:`cinflow.store.rows`, rows in the order they are to be
stored).  A backend that can read such a file itself has a ``copy_shard``
method (SQLite attaches it: :meth:`cinflow.store.sqlite.SQLiteBackend.copy_shard`);
for any other the rows are read here with :mod:`sqlite3` and inserted in
batches.  A backend may also have ``bulk_load_started`` and
``bulk_load_finished`` (SQLite drops the due-date index for the load and
rebuilds it after); without them those do nothing.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

from ..errors import InputError, StoreError
from .rows import CASE_COLUMNS, DEADLINE_COLUMNS, EVENT_COLUMNS

SHARD_TABLES = (("cases", CASE_COLUMNS), ("events", EVENT_COLUMNS), ("deadlines", DEADLINE_COLUMNS))
"""A shard's tables and their columns, in the order they are loaded."""

SIMULATED = {"cases": {"provenance": "simulated"}}
"""Columns a shard's rows do not have, set on each row loaded (per table)."""

BATCH = 5000
"""Rows inserted at a time when a shard is copied row by row."""


def write_shard(path: str | Path, cases: list[tuple], events: list[tuple], deadlines: list[tuple]) -> None:
    """A new shard file at ``path`` holding these rows (in this order), in
    one transaction, unsynced (a scratch file: lost with its run)."""
    from . import insert_rows

    conn = sqlite3.connect(str(path), isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("BEGIN")
        for table, columns in SHARD_TABLES:
            conn.execute(f"CREATE TABLE {table} ({', '.join(columns)})")
        insert_rows(conn, cases, events, deadlines)
        conn.execute("COMMIT")
    finally:
        conn.close()


def shard_tables() -> list[tuple[str, tuple[str, ...], dict]]:
    """``(table, columns, constants)`` for each table a shard loads."""
    return [(table, columns, SIMULATED.get(table, {})) for table, columns in SHARD_TABLES]


def copy_rows(backend, path: str, tables, then=None) -> None:
    """Copy a shard's rows into ``backend`` in one write transaction, for a
    backend that cannot read the file itself: read with :mod:`sqlite3` in
    insertion order, inserted :data:`BATCH` rows at a time; ``then()``
    runs last in the same transaction."""
    def unreadable(exc):
        return StoreError(f"cannot read simulation shard {path}: {' '.join(str(exc).split())}; nothing was written")

    try:
        src = sqlite3.connect("file:" + quote(str(Path(path).resolve())) + "?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise unreadable(exc) from None
    try:  # a damaged shard is the shard's fault, not the store's
        for table, _, _ in tables:
            src.execute(f"SELECT count(*) FROM {table}").fetchone()
    except sqlite3.Error as exc:
        src.close()
        raise unreadable(exc) from None

    def body():
        for table, columns, constants in tables:
            names = list(columns) + list(constants)
            insert = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
            extra = tuple(constants.values())
            cursor = src.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY rowid")
            while True:
                rows = cursor.fetchmany(BATCH)
                if not rows:
                    break
                backend.many(insert, [r + extra for r in rows] if extra else rows)
        if then is not None:
            then()

    try:
        backend.write(body)
    except sqlite3.Error as exc:  # the shard, not the store (a backend's own errors are its StoreErrors)
        raise unreadable(exc) from None
    finally:
        src.close()


class BulkLoad:
    """The simulator's writes (a mixin of ``Store``)."""

    def begin_simulation(self, parameters_json: str, summary_json: str) -> int:
        """Put a new, unfinished run on record and return its id.  Checked
        and claimed in one write transaction, so that of two simulations
        started on one new database at once only one runs into it: a
        database that holds any case or another run is an
        :class:`~cinflow.errors.InputError`."""
        b = self.backend

        def body():
            existing = b.one("SELECT count(*) FROM cases")[0]
            others = b.one("SELECT count(*) FROM simulations")[0]
            if existing or others:
                what = f"{existing} cases" if existing else "another simulation"
                raise InputError(f"{self.path} already holds {what}; write a simulation to a new --db")
            return b.insert_returning_id("INSERT INTO simulations (parameters, summary, finished) VALUES (?, ?, 0)",
                                         (parameters_json, summary_json))

        return b.write(body)

    def bulk_load_started(self) -> None:
        """Before the shards: whatever makes loading them faster (SQLite:
        drop the due-date index)."""
        hook = getattr(self.backend, "bulk_load_started", None)
        if hook is not None:
            hook()

    def bulk_load_finished(self) -> None:
        """After the shards (also after a failure): undo
        :meth:`bulk_load_started` (SQLite: rebuild the index, one sorted pass)."""
        hook = getattr(self.backend, "bulk_load_finished", None)
        if hook is not None:
            hook()

    def load_shard(self, path: str | Path, run_id: int, summary_json: str) -> None:
        """One shard's cases (provenance ``simulated``), events and
        deadlines, in the shard's order, and run ``run_id``'s summary of what
        the database then holds: one transaction."""
        b = self.backend

        def summary():
            b.run("UPDATE simulations SET summary = ? WHERE id = ?", (summary_json, run_id))

        copy = getattr(b, "copy_shard", None)
        if copy is not None:
            copy(str(path), shard_tables(), summary)
        else:
            copy_rows(b, str(path), shard_tables(), summary)

    def finish_simulation(self, run_id: int, summary_json: str) -> None:
        """Run ``run_id`` finished: its last summary, ``finished = 1``."""
        b = self.backend
        b.write(lambda: b.run("UPDATE simulations SET summary = ?, finished = 1 WHERE id = ?", (summary_json, run_id)))
