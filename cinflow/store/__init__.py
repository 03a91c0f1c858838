"""Cases on disk: SQLite through sqlite-utils.

Three tables, created and migrated with sqlite-utils' own ``Migrations``:

* ``cases``: one row per case (authority, state, version, the child, facts);
* ``events``: the append-only log, one row per history item, numbered per
  case (``seq``); engine-made items are flagged ``automatic``;
* ``deadlines``: each case's deadlines as they stand, for ``due`` queries.

The event log is the truth: replaying a case's submitted events rebuilds it,
and :meth:`Store.load` checks the rebuilt case against the stored row.
Every write is one ``BEGIN IMMEDIATE`` transaction that states the version it
expects, so of two writers on one case exactly one wins and the other gets a
:class:`~cinflow.errors.ConflictError`; a crash mid-write leaves nothing
partial.  The database runs in WAL mode.

Every SQLite failure is a one-line :class:`~cinflow.errors.StoreError`: a
database another writer keeps locked is retried (jittered exponential
backoff) for up to ``busy_budget_s`` (30 s) before that; a full disk, a
damaged file (:meth:`Store.check` runs ``PRAGMA quick_check`` before an
export) or a read-only one likewise.  Migrations run in one ``BEGIN
EXCLUSIVE`` transaction that first re-reads what is pending, so many
processes can open a new file at once; ``PRAGMA user_version`` records how
many have run.  A database with a migration (or schema version) this
cinflow does not know was written by a newer cinflow and is refused.
``Store(path, registry, read_only=True)`` never changes the database file.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import time
from datetime import date
from pathlib import Path
from urllib.parse import quote

import sqlite_utils
from sqlite_utils.migrations import Migrations

from .convert import structure, structure_event, unstructure
from .errors import ConflictError, StoreError
from .models import Case, Child, Deadline

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


def _json(value) -> str:
    return json.dumps(unstructure(value), sort_keys=True, separators=(",", ":"))


def _iso(value):
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot store {value!r}")


_ATTRIBUTES_JSON: dict = {}


def _attributes_json(attributes: dict) -> str:
    """An event's attributes (strings, numbers, booleans, dates, tuples of
    them) as the same JSON ``_json`` gives, without the converter's cost;
    the same attributes are encoded once (a bounded cache)."""
    if not attributes:
        return "{}"
    key = tuple(attributes.items())
    try:
        return _ATTRIBUTES_JSON[key]
    except KeyError:
        pass
    except TypeError:  # an unhashable value: encode without caching
        return json.dumps(attributes, sort_keys=True, separators=(",", ":"), default=_iso)
    text = json.dumps(attributes, sort_keys=True, separators=(",", ":"), default=_iso)
    if len(_ATTRIBUTES_JSON) > 100_000:
        _ATTRIBUTES_JSON.clear()
    _ATTRIBUTES_JSON[key] = text
    return text


# Row builders, in column order: the store and bulk loaders (the simulator)
# write exactly the same rows.
CASE_COLUMNS = ("id", "authority", "state", "version", "child", "facts")
EVENT_COLUMNS = ("case_id", "seq", "date", "event", "accepted", "from_state", "to_state", "automatic", "attributes", "reasons",
                 "advice", "exceptions")
DEADLINE_COLUMNS = ("case_id", "seq", "name", "due", "rule", "source", "opened_on", "met_on", "ended_on")


def case_row(case: Case) -> tuple:
    return (case.id, case.authority, case.state, case.version, _json(case.child), _json(case.facts))


def event_rows(case: Case, start: int = 0) -> list[tuple]:
    return [
        (case.id, i, h.date.isoformat(), h.event, int(h.accepted), h.from_state, h.to_state, int(h.automatic),
         _attributes_json(h.attributes), _json(list(h.reasons)) if h.reasons else "[]",
         _json(list(h.advice)) if h.advice else "[]", _json(list(h.exceptions)) if h.exceptions else "[]")
        for i, h in enumerate(case.history[start:], start=start)
    ]


def deadline_rows(case: Case) -> list[tuple]:
    return [
        (case.id, i, d.name, d.due.isoformat(), d.rule, d.source, d.opened_on.isoformat(),
         d.met_on.isoformat() if d.met_on else None, d.ended_on.isoformat() if d.ended_on else None)
        for i, d in enumerate(case.deadlines)
    ]


def insert_rows(conn, cases: list[tuple], events: list[tuple], deadlines: list[tuple]) -> None:
    """Bulk insert prepared rows (the caller owns the transaction)."""
    conn.executemany(f"INSERT INTO cases ({','.join(CASE_COLUMNS)}) VALUES ({','.join('?' * len(CASE_COLUMNS))})", cases)
    conn.executemany(f"INSERT INTO events ({','.join(EVENT_COLUMNS)}) VALUES ({','.join('?' * len(EVENT_COLUMNS))})", events)
    conn.executemany(f"INSERT INTO deadlines ({','.join(DEADLINE_COLUMNS)}) VALUES ({','.join('?' * len(DEADLINE_COLUMNS))})",
                     deadlines)


BUSY_BUDGET_S = 30.0
"""Default total time (seconds) a write waits for another writer before giving up."""


def _known() -> list[str]:
    return [m.name for m in migrations._migrations]


def _busy(exc: BaseException) -> bool:
    """SQLITE_BUSY (any variant): another connection holds the lock."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    name = getattr(exc, "sqlite_errorname", "") or ""
    return name.startswith("SQLITE_BUSY") or "database is locked" in str(exc)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


class Store:
    """A SQLite file of cases.  ``registry`` supplies the policies replay needs.

    ``busy_timeout_ms`` is how long one attempt waits on another writer's lock
    (SQLite's own wait); a write that still finds the database locked is
    retried after a jittered, exponentially growing pause until
    ``busy_budget_s`` seconds (default :data:`BUSY_BUDGET_S`, 30) have passed
    in all, then fails with a one-line :class:`StoreError` (nothing written).

    ``read_only=True`` opens the file with a ``mode=ro`` URI: nothing in the
    database file is ever changed and write access is not needed.  It refuses
    a missing or empty file and one that is not a cinflow database.  A
    database from an older release is migrated first if this process may
    write it (as every open did before), else refused.  SQLite may still
    create its ``-wal``/``-shm`` companions next to a WAL database in a
    writable folder (as any reader does); in a read-only folder with no
    ``-wal`` (so no writer can be at work) the file is opened ``immutable``.
    """

    def __init__(self, path: str | Path, registry=None, *, busy_timeout_ms: int = 5000,
                 busy_budget_s: float | None = None, read_only: bool = False):
        self.path = str(path)
        self.read_only = read_only
        self.busy_budget_s = float(BUSY_BUDGET_S if busy_budget_s is None else busy_budget_s)
        self._timeout_ms = max(0, min(int(busy_timeout_ms), int(self.busy_budget_s * 1000)))
        memory = self.path == ":memory:"
        if memory and read_only:
            raise StoreError("an in-memory database cannot be opened read-only")
        if not memory and not read_only:
            parent = Path(path).resolve().parent
            if not parent.is_dir():
                raise StoreError(f"cannot create database {path}: folder {parent} does not exist")
        if registry is None:
            from .plugins import Registry

            registry = Registry.load()
        self.registry = registry
        self.db = None
        try:
            if read_only:
                self._open_read_only(Path(path))
            else:
                self._open(memory)
        except BaseException as exc:
            if self.db is not None:
                self.db.close()
            if isinstance(exc, sqlite3.Error):
                if _busy(exc):
                    raise StoreError(self._busy_text()) from None
                raise StoreError(f"cannot open database {path}: {_one_line(exc)}") from None
            raise

    # -- opening ----------------------------------------------------------------

    def _connect(self, target: str, uri: bool = False) -> None:
        conn = sqlite3.connect(target, uri=uri, timeout=self._timeout_ms / 1000)
        conn.execute(f"PRAGMA busy_timeout = {self._timeout_ms}")
        self.db = sqlite_utils.Database(conn)

    def _open(self, memory: bool) -> None:
        self._connect(":memory:" if memory else self.path)
        pending = self._retry(self._pending, translate=False)  # refuses another's or a newer database first
        if not memory:
            self._retry(self._enable_wal, translate=False)
        if pending:
            # Under an exclusive lock, re-reading what is pending: of several
            # processes opening a new file at once, one migrates it, the
            # others find nothing left to do.
            self._retry(lambda: self._transaction(self._migrate, "EXCLUSIVE"), translate=False)

    def _enable_wal(self) -> None:
        conn = self.db.conn
        if conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
            return
        mode = conn.execute("PRAGMA journal_mode = wal").fetchone()[0]
        if mode != "wal":  # another connection held the file: try again
            raise sqlite3.OperationalError("database is locked")

    def _migrate(self) -> None:
        if self._pending():
            migrations.apply(self.db)
            self.db.conn.execute(f"PRAGMA user_version = {len(_known())}")

    def _pending(self) -> list[str]:
        """The migrations this database still needs.  Refuses a database
        that is not cinflow's or was written by a newer cinflow."""
        conn = self.db.conn
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        applied = []
        if migrations.migrations_table in tables:
            applied = [r[0] for r in conn.execute(
                f"SELECT name FROM [{migrations.migrations_table}] WHERE migration_set = ? ORDER BY rowid",
                [migrations.name])]
        known = _known()
        if not applied:
            others = [t for t in tables if t != migrations.migrations_table]
            if others:
                shown = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
                raise StoreError(f"{self.path} is not a cinflow database (it holds tables {shown}); nothing was changed")
            return known
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        unknown = [n for n in applied if n not in known]
        if unknown or version > len(known):
            from . import __version__

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
            self.db.close()
            self._connect(uri + "&immutable=1", uri=True)
            pending = self._retry(self._pending, translate=False)
        if pending == _known():
            raise StoreError(f"{path} is not a cinflow database (it holds no cases table); nothing was changed")
        if pending:
            applied = [n for n in _known() if n not in pending]
            if not (os.access(path, os.W_OK) and os.access(path.resolve().parent, os.W_OK)):
                raise StoreError(f"{path} is a cinflow database from an older release (migrations up to {applied[-1]}) "
                                 "and cannot be migrated here (no write access); open it once where it is writable "
                                 "(any cinflow command on it migrates it)")
            self.db.close()
            self.db = None
            Store(path, {}, busy_timeout_ms=self._timeout_ms, busy_budget_s=self.busy_budget_s).close()
            self._connect(uri, uri=True)
            self._retry(self._pending, translate=False)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()
        if isinstance(exc, sqlite3.Error):  # a caller's own query on store.db: one line too
            raise StoreError(self._error_text(exc, False)) from None

    # -- errors, retries and transactions ---------------------------------------

    def _busy_text(self) -> str:
        return (f"database {self.path} is busy: another writer held it for more than {self.busy_budget_s:g} s; "
                "nothing was written")

    def _error_text(self, exc: sqlite3.Error, writing: bool) -> str:
        if _busy(exc):
            return self._busy_text()
        name = getattr(exc, "sqlite_errorname", "") or ""
        detail = _one_line(exc)
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
        try:
            while True:
                try:
                    return fn()
                except sqlite3.Error as exc:
                    if not _busy(exc):
                        if not translate:
                            raise
                        raise StoreError(self._error_text(exc, writing)) from None
                    left = start + self.busy_budget_s - time.monotonic()
                    if left <= 0:
                        raise StoreError(self._busy_text()) from None
                    time.sleep(random.uniform(0, min(pause, left)))
                    pause = min(pause * 2, 1.0)
                    left_ms = int((start + self.busy_budget_s - time.monotonic()) * 1000)
                    if left_ms <= 0:
                        raise StoreError(self._busy_text()) from None
                    if left_ms < timeout:  # the last attempt waits no longer than the budget allows
                        timeout = left_ms
                        self.db.conn.execute(f"PRAGMA busy_timeout = {timeout}")
        finally:
            if timeout != self._timeout_ms:
                self.db.conn.execute(f"PRAGMA busy_timeout = {self._timeout_ms}")

    def _transaction(self, body, mode: str = "IMMEDIATE"):
        """``body()`` inside one ``BEGIN IMMEDIATE`` transaction: committed if it
        returns, rolled back if anything raises (a busy database included, so
        :meth:`_retry` can run it again from the start)."""
        conn = self.db.conn
        conn.execute(f"BEGIN {mode}")
        try:
            result = body()
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            raise
        return result

    def _write(self, body):
        if self.read_only:
            raise StoreError(f"{self.path} was opened read-only; nothing was written")
        return self._retry(lambda: self._transaction(body), writing=True)

    def check(self, consequence: str = "it was not exported") -> None:
        """``PRAGMA quick_check``: a damaged database is a one-line
        :class:`StoreError` naming it (call before exporting from it)."""
        try:
            rows = [r[0] for r in self._retry(lambda: self.db.execute("PRAGMA quick_check").fetchall(), translate=False)]
        except sqlite3.DatabaseError as exc:  # too damaged for quick_check to run
            rows = [_one_line(exc)]
        if rows != ["ok"]:
            detail = "; ".join(" ".join(r.split()) for r in rows[:3]) + (f" (and {len(rows) - 3} more)" if len(rows) > 3 else "")
            raise StoreError(f"{self.path} is damaged (quick_check: {detail}); {consequence}")

    # -- writing ----------------------------------------------------------------

    def add(self, case: Case) -> None:
        """Store a new case with its whole history, in one transaction."""
        def body():
            if self.db["cases"].count_where("id = ?", [case.id]):
                raise StoreError(f"case {case.id!r} is already in {self.path}; append to it or use another case id")
            insert_rows(self.db.conn, [case_row(case)], event_rows(case), deadline_rows(case))

        self._write(body)

    def add_many(self, cases) -> int:
        """Store many new cases in one transaction (bulk loads)."""
        cases = list(cases)

        def body():
            for case in cases:
                insert_rows(self.db.conn, [case_row(case)], event_rows(case), deadline_rows(case))
            return len(cases)

        return self._write(body)

    def append(self, case_id: str, event, expected_version: int) -> Case:
        """Apply one event to a stored case and store the result: one
        transaction.  Raises :class:`ConflictError` if the case's version is
        not ``expected_version``; nothing is written then."""
        def body():
            row = self._row(case_id)
            if row["version"] != expected_version:
                raise ConflictError(
                    f"case {case_id!r} is at version {row['version']}, not {expected_version}: "
                    "someone else changed it; reload it and try again"
                )
            before = self._replay(row)
            policy = self.registry[row["authority"]]
            after = policy.apply(before, event)
            self._update(before, after, expected_version)
            return after

        return self._write(body)

    # -- reading ----------------------------------------------------------------

    def _row(self, case_id: str) -> dict:
        rows = list(self.db.query("SELECT * FROM cases WHERE id = ?", [case_id]))
        if not rows:
            raise StoreError(f"no case {case_id!r} in {self.path}")
        return rows[0]

    def _replay(self, row: dict) -> Case:
        policy = self.registry[row["authority"]]
        child = structure(json.loads(row["child"]), Child, "child")
        case = policy.new_case(row["id"], child)
        for ev in self.db.query(
            "SELECT date, event, attributes, automatic FROM events WHERE case_id = ? ORDER BY seq", [row["id"]]
        ):
            if ev["automatic"]:
                # Engine-made (the 18th birthday): letting time pass to its date remakes it.
                case = policy.advance(case, date.fromisoformat(ev["date"]))
                continue
            data = {"date": ev["date"], "event": ev["event"], **json.loads(ev["attributes"])}
            case = policy.apply(case, structure_event(data, f"case {row['id']} event"))
        return case

    def load(self, case_id: str, as_of: date | None = None) -> Case:
        """Rebuild a case from its event log, checked against the stored row."""
        return self._retry(lambda: self._load(case_id, as_of))

    def _load(self, case_id: str, as_of: date | None) -> Case:
        row = self._row(case_id)
        case = self._replay(row)
        if case.state != row["state"] or case.version != row["version"]:
            raise StoreError(
                f"case {case_id!r}: replaying its events gives state {case.state} v{case.version}, "
                f"but the database says {row['state']} v{row['version']}"
            )
        if as_of is not None:
            case = self.registry[case.authority].advance(case, as_of)
        return case

    def case_ids(self, authority: str | None = None) -> list[str]:
        if authority is None:
            return self._retry(lambda: [r["id"] for r in self.db.query("SELECT id FROM cases ORDER BY id")])
        return self._retry(lambda: [r["id"] for r in self.db.query(
            "SELECT id FROM cases WHERE authority = ? ORDER BY id", [authority])])

    def due(self, as_of: date) -> list[tuple[str, str, Deadline]]:
        """Every open or overdue deadline as of ``as_of`` across the cases
        still open on that date, soonest first: ``(case_id, authority,
        deadline)``.  A case that had ended by then (or would have, by its
        child's 18th birthday, had time been let pass with :meth:`advance`)
        lists nothing: its unmet obligations are missed or cancelled, shown by
        ``show``, not a work list."""
        return self._retry(lambda: self._due(as_of))

    def _due(self, as_of: date) -> list[tuple[str, str, Deadline]]:
        from .engine import _adulthood
        from .states import FINAL_STATES

        out = []
        day = as_of.isoformat()
        ended: dict[str, bool] = {}
        for r in self.db.query(
            """SELECT d.*, c.authority, c.child, c.state, c.facts FROM deadlines d JOIN cases c ON c.id = d.case_id
               WHERE d.opened_on <= :day
                 AND (d.met_on IS NULL OR d.met_on > :day)
                 AND (d.ended_on IS NULL OR d.ended_on > :day)
               ORDER BY d.due, d.case_id, d.seq""",
            {"day": day},
        ):
            cid = r["case_id"]
            if cid not in ended:
                if r["state"] in FINAL_STATES:
                    closed_on = json.loads(r["facts"]).get("closed_on")
                    ended[cid] = closed_on is None or closed_on <= day
                else:
                    birth = date.fromisoformat(json.loads(r["child"])["birth_date"])
                    ended[cid] = _adulthood(birth) <= as_of
            if ended[cid]:
                continue
            out.append((cid, r["authority"], _deadline(r)))
        return out

    def advance(self, as_of: date) -> list[Case]:
        """Move every stored open case to ``as_of``, persisting each automatic
        transition it passes (the 18th birthday) as an event flagged
        ``automatic``.  Each case is its own transaction with the version it
        expects, as :meth:`append`; running it twice changes nothing.  Returns
        the cases that changed."""
        from .states import OPEN_STATES

        changed = []
        rows = self._retry(lambda: list(self.db.query(
            f"SELECT id, version FROM cases WHERE state IN ({','.join('?' * len(OPEN_STATES))}) ORDER BY id",
            sorted(OPEN_STATES))))

        def body(row):
            current = self._row(row["id"])
            if current["version"] != row["version"]:
                return None  # someone else moved it on meanwhile; their write stands
            before = self._replay(current)
            after = self.registry[current["authority"]].advance(before, as_of)
            if after.version == before.version:
                return None
            self._update(before, after, current["version"])
            return after

        for row in rows:
            after = self._write(lambda: body(row))
            if after is not None:
                changed.append(after)
        return changed

    def _update(self, before: Case, after: Case, expected_version: int) -> None:
        """Write ``after`` over ``before`` (the caller holds the transaction)."""
        cursor = self.db.execute(
            "UPDATE cases SET state = ?, version = ?, facts = ? WHERE id = ? AND version = ?",
            [after.state, after.version, _json(after.facts), after.id, expected_version],
        )
        if cursor.rowcount != 1:
            raise ConflictError(f"case {after.id!r} changed while this write was in progress")
        self.db.execute("DELETE FROM deadlines WHERE case_id = ?", [after.id])
        insert_rows(self.db.conn, [], event_rows(after, len(before.history)), deadline_rows(after))


def _deadline(r) -> Deadline:
    return Deadline(
        r["name"], date.fromisoformat(r["due"]), r["rule"], r["source"], date.fromisoformat(r["opened_on"]),
        date.fromisoformat(r["met_on"]) if r["met_on"] else None,
        date.fromisoformat(r["ended_on"]) if r["ended_on"] else None,
    )
