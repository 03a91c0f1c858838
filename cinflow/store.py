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
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import date
from pathlib import Path

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


class Store:
    """A SQLite file of cases.  ``registry`` supplies the policies replay needs."""

    def __init__(self, path: str | Path, registry=None, *, busy_timeout_ms: int = 5000):
        if str(path) != ":memory:":
            parent = Path(path).resolve().parent
            if not parent.is_dir():
                raise StoreError(f"cannot create database {path}: folder {parent} does not exist")
        try:
            self.db = sqlite_utils.Database(str(path) if str(path) != ":memory:" else None, memory=str(path) == ":memory:")
            self.db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            if str(path) != ":memory:":
                self.db.enable_wal()
            migrations.apply(self.db)
        except Exception as exc:  # sqlite3.DatabaseError: not a database, read-only...
            raise StoreError(f"cannot open database {path}: {exc}") from None
        self.path = str(path)
        if registry is None:
            from .plugins import Registry

            registry = Registry.load()
        self.registry = registry

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def _write(self):
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    # -- writing ----------------------------------------------------------------

    def add(self, case: Case) -> None:
        """Store a new case with its whole history, in one transaction."""
        with self._write():
            if self.db["cases"].count_where("id = ?", [case.id]):
                raise StoreError(f"case {case.id!r} is already in {self.path}; append to it or use another case id")
            insert_rows(self.db.conn, [case_row(case)], event_rows(case), deadline_rows(case))

    def add_many(self, cases) -> int:
        """Store many new cases in one transaction (bulk loads)."""
        n = 0
        with self._write():
            for case in cases:
                insert_rows(self.db.conn, [case_row(case)], event_rows(case), deadline_rows(case))
                n += 1
        return n

    def append(self, case_id: str, event, expected_version: int) -> Case:
        """Apply one event to a stored case and store the result: one
        transaction.  Raises :class:`ConflictError` if the case's version is
        not ``expected_version``; nothing is written then."""
        with self._write():
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
            return [r["id"] for r in self.db.query("SELECT id FROM cases ORDER BY id")]
        return [r["id"] for r in self.db.query("SELECT id FROM cases WHERE authority = ? ORDER BY id", [authority])]

    def due(self, as_of: date) -> list[tuple[str, str, Deadline]]:
        """Every open or overdue deadline as of ``as_of`` across the cases
        still open on that date, soonest first: ``(case_id, authority,
        deadline)``.  A case that had ended by then (or would have, by its
        child's 18th birthday, had time been let pass with :meth:`advance`)
        lists nothing: its unmet obligations are missed or cancelled, shown by
        ``show``, not a work list."""
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
        rows = list(self.db.query(
            f"SELECT id, version FROM cases WHERE state IN ({','.join('?' * len(OPEN_STATES))}) ORDER BY id",
            sorted(OPEN_STATES)))
        for row in rows:
            with self._write():
                current = self._row(row["id"])
                if current["version"] != row["version"]:
                    continue  # someone else moved it on meanwhile; their write stands
                before = self._replay(current)
                after = self.registry[current["authority"]].advance(before, as_of)
                if after.version == before.version:
                    continue
                self._update(before, after, current["version"])
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
