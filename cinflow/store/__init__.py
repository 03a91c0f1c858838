"""Cases on disk: an event store on SQLite (the default) or PostgreSQL.

``Store(target)`` takes a SQLite path (or ``:memory:``) or a
``postgresql://`` URL; everything else about the two is the same.  Tables:

* ``cases``: one row per case (authority, state, version, the child, facts,
  and ``heads``: each event name's latest accepted item);
* ``events``: the append-only log, one row per history item, numbered per
  case (``seq``), with who stored it (``recorded_by``); engine-made items
  are flagged ``automatic``;
* ``deadlines``: each case's deadlines as they stand, numbered per case;
* ``simulations``: simulation runs; ``tokens``: the service's access tokens
  (a hash of each secret, never the secret).

**Appends read a projection, not the log.**  To apply an event the engine
needs the case's state, version, facts, open deadlines and, of its history,
the latest accepted item of each event and the last item (what the rules
consult: see :mod:`cinflow.hookspecs`).  The case row and those few rows are
read, the event applied, and only what changed is written (the new history
items, the deadlines it met, ended or opened, the case row), so an append
costs the same at 1,000 events as at 10.  The event log stays the truth:
:meth:`Store.verify` replays every case and reports any difference.

**Concurrency.**  Every write is one transaction that states the version it
expects; ``(case_id, seq)`` is a unique key and the case row is updated only
at that version, so of two writers on one case exactly one wins and the
other gets a :class:`~cinflow.errors.ConflictError`; a crash mid-write leaves
nothing partial.  One ``Store`` may be shared by the threads of a web
server: each thread uses its own connection.

**Errors.**  Every database failure is a one-line
:class:`~cinflow.errors.StoreError` (see the backend modules:
:mod:`cinflow.store.sqlite`, :mod:`cinflow.store.postgres`).  All of
cinflow's SQL is in this package; census, report and simulation ask the store.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from collections import OrderedDict
from datetime import date, datetime, timezone
from pathlib import Path

from attrs import evolve, frozen

from ..convert import structure_event
from ..errors import ConflictError, StoreError
from ..models import Case, Deadline
from . import rows as R
from .bulk import BulkLoad
from .queries import Queries
from .rows import CASE_COLUMNS, DEADLINE_COLUMNS, EVENT_COLUMNS, case_row, deadline_rows, event_rows
from .sqlite import migrations

BUSY_BUDGET_S = 30.0
"""Default total time (seconds) a write waits for another writer before giving up."""

CACHE_CASES = 512
"""How many whole cases a store keeps in memory (keyed by version) so that
returning a case after an append need not read its whole history again."""

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres(target) -> bool:
    return str(target).startswith(POSTGRES_SCHEMES)


def insert_rows(conn, cases: list[tuple], events: list[tuple], deadlines: list[tuple]) -> None:
    """Bulk insert prepared rows on a SQLite connection (the caller owns the
    transaction): the simulator's shard files."""
    for table, columns, rows in (("cases", CASE_COLUMNS, cases), ("events", EVENT_COLUMNS, events),
                                 ("deadlines", DEADLINE_COLUMNS, deadlines)):
        if rows:
            conn.executemany(f"INSERT INTO {table} ({','.join(columns)}) VALUES ({','.join('?' * len(columns))})", rows)


@frozen
class Token:
    """An access token for the service: who (``name``), for which authority,
    and whether it may write.  The secret itself is never stored."""

    name: str
    authority: str
    read_only: bool
    created_at: str
    revoked_at: str | None = None


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _sql(columns) -> tuple[str, str]:
    return ",".join(columns), ",".join("?" * len(columns))


_INSERT_CASE = "INSERT INTO cases ({}) VALUES ({})".format(*_sql(CASE_COLUMNS))
_INSERT_EVENT = "INSERT INTO events ({}) VALUES ({})".format(*_sql(EVENT_COLUMNS))
_INSERT_DEADLINE = "INSERT INTO deadlines ({}) VALUES ({})".format(*_sql(DEADLINE_COLUMNS))
_EVENT_SELECT = f"SELECT {','.join(EVENT_COLUMNS)} FROM events"
_DEADLINE_SELECT = f"SELECT {','.join(DEADLINE_COLUMNS)} FROM deadlines"


class _Projection:
    """What an append reads: the case as the engine needs it, and where its
    deadlines sit in the table."""

    __slots__ = ("case", "heads", "open_seqs", "next_deadline", "provenance")

    def __init__(self, case, heads, open_seqs, next_deadline, provenance):
        self.case, self.heads, self.open_seqs, self.next_deadline, self.provenance = (
            case, heads, open_seqs, next_deadline, provenance)


class Store(Queries, BulkLoad):
    """A database of cases.  ``registry`` supplies the policies appends need.

    ``target`` is a SQLite file (created if missing), ``:memory:``, or a
    ``postgresql://user:password@host:port/dbname`` URL (psycopg 3, the
    ``postgres`` extra; the database must exist, its tables are made here).

    ``busy_timeout_ms`` and ``busy_budget_s`` bound how long a write waits for
    another writer (default :data:`BUSY_BUDGET_S`, 30 s in all) before a
    one-line :class:`StoreError` (nothing written).  ``read_only=True`` never
    changes the database (a SQLite file is opened ``mode=ro``; a PostgreSQL
    session is ``default_transaction_read_only``).
    """

    def __init__(self, target: str | Path, registry=None, *, busy_timeout_ms: int = 5000,
                 busy_budget_s: float | None = None, read_only: bool = False, cache_cases: int = CACHE_CASES):
        self.path = str(target)
        self.read_only = read_only
        self.busy_budget_s = float(BUSY_BUDGET_S if busy_budget_s is None else busy_budget_s)
        if registry is None:
            from ..plugins import Registry

            registry = Registry.load()
        self.registry = registry
        if is_postgres(self.path):
            from .postgres import PostgresBackend

            self.backend = PostgresBackend(self.path, busy_budget_s=self.busy_budget_s, read_only=read_only)
            self.path = self.backend.path  # the URL without its password
        else:
            from .sqlite import SQLiteBackend

            self.backend = SQLiteBackend(self.path, busy_timeout_ms=busy_timeout_ms, busy_budget_s=self.busy_budget_s,
                                         read_only=read_only)
        self._cache: OrderedDict[str, Case] = OrderedDict()
        self._cache_size = cache_cases
        self._cache_lock = threading.Lock()

    # -- the backend -----------------------------------------------------------------

    @property
    def db(self):
        """This thread's sqlite-utils ``Database`` (SQLite only): for a
        caller's own ad hoc queries; cinflow itself asks the store."""
        db = getattr(self.backend, "db", None)
        if db is None:
            raise StoreError(f"{self.path} is a {self.backend.name} database: it has no sqlite-utils Database")
        return db

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()
        if isinstance(exc, self.backend.Error):  # a caller's own query on store.db: one line too
            raise StoreError(self.backend.error_text(exc, False)) from None

    def check(self, consequence: str = "it was not exported") -> None:
        """The database's own integrity check: a damaged one is a one-line
        :class:`StoreError` naming it (call before exporting from it)."""
        rows = self.backend.integrity()
        if rows != ["ok"]:
            detail = "; ".join(" ".join(r.split()) for r in rows[:3]) + (f" (and {len(rows) - 3} more)" if len(rows) > 3 else "")
            raise StoreError(f"{self.path} is damaged (quick_check: {detail}); {consequence}")

    def migrations(self) -> list[str]:
        """The names of the migrations this database has had, in order."""
        return self.backend.read(self.backend.applied_migrations)

    # -- writing ----------------------------------------------------------------

    def add(self, case: Case, recorded_by: str | None = None) -> None:
        """Store a new case with its whole history, in one transaction."""
        b = self.backend

        taken = f"case {case.id!r} is already in {self.path}; append to it or use another case id"

        def body():
            if b.one("SELECT 1 FROM cases WHERE id = ?", (case.id,)):
                raise StoreError(taken)
            try:
                self._insert(case, recorded_by)
            except b.Error as exc:  # another writer added it since the check
                if b.is_unique_violation(exc):
                    raise StoreError(taken) from None
                raise

        b.write(body)
        self._remember(self._stamped(case, 0, recorded_by))

    def add_many(self, cases) -> int:
        """Store many new cases in one transaction (bulk loads)."""
        cases = list(cases)

        def body():
            for case in cases:
                self._insert(case, None)
            return len(cases)

        return self.backend.write(body)

    def _insert(self, case: Case, recorded_by: str | None) -> None:
        b = self.backend
        b.run(_INSERT_CASE, case_row(case))
        if case.history:
            b.many(_INSERT_EVENT, event_rows(case, 0, recorded_by))
        if case.deadlines:
            b.many(_INSERT_DEADLINE, deadline_rows(case))

    def append(self, case_id: str, event, expected_version: int, recorded_by: str | None = None,
               keep_refused: bool = True) -> Case:
        """Apply one event to a stored case and store the result: one
        transaction.  Raises :class:`ConflictError` if the case's version is
        not ``expected_version``; nothing is written then.

        ``recorded_by`` names who stored it (kept on each new history item).
        With ``keep_refused=False`` a refused event writes nothing: the case
        returned has the refused item last and the version still stored."""
        def body():
            proj = self._projection(case_id)
            if proj.case.version != expected_version:
                raise ConflictError(
                    f"case {case_id!r} is at version {proj.case.version}, not {expected_version}: "
                    "someone else changed it; reload it and try again"
                )
            after = self.registry[proj.case.authority].apply(proj.case, event)
            if not keep_refused and not after.history[-1].accepted:
                return proj, after, False
            self._update(proj, after, recorded_by)
            return proj, after, True

        proj, after, stored = self.backend.write(body)
        whole = self._whole_after(proj, after, recorded_by if stored else None, stored)
        if not stored:
            return evolve(whole, version=proj.case.version)
        return whole

    def advance(self, as_of: date, authority: str | None = None, recorded_by: str | None = None) -> list[Case]:
        """Move every stored open case (of ``authority``, if given) to
        ``as_of``, persisting each automatic transition it passes (the 18th
        birthday) as an event flagged ``automatic``.  Each case is its own
        transaction with the version it expects, as :meth:`append`; running
        it twice changes nothing.  Returns the cases that changed."""
        from ..states import OPEN_STATES

        b = self.backend
        marks = ",".join("?" * len(OPEN_STATES))
        params = sorted(OPEN_STATES)
        where = f"state IN ({marks})"
        if authority is not None:
            where += " AND authority = ?"
            params.append(authority)
        rows = b.read(lambda: b.all(f"SELECT id, version FROM cases WHERE {where} ORDER BY id", params))
        changed = []

        def body(case_id, version):
            proj = self._projection(case_id)
            if proj.case.version != version:
                return None  # someone else moved it on meanwhile; their write stands
            after = self.registry[proj.case.authority].advance(proj.case, as_of)
            if after.version == proj.case.version:
                return None
            self._update(proj, after, recorded_by)
            return proj, after

        for case_id, version in rows:
            done = b.write(lambda: body(case_id, version))
            if done is not None:
                changed.append(self._whole_after(*done, recorded_by))
        return changed

    def _update(self, proj: _Projection, after: Case, recorded_by: str | None) -> None:
        """Write what ``after`` changed over the projection (the caller holds
        the transaction): new history items, changed and new deadlines, the
        case row at the version it was read at."""
        b = self.backend
        before = proj.case
        new_items = after.history[len(before.history):]
        heads = R.heads_of(new_items, before.version, proj.heads)
        n = b.run("UPDATE cases SET state = ?, version = ?, facts = ?, heads = ? WHERE id = ? AND version = ?",
                  (after.state, after.version, R.to_json(after.facts), R.heads_json(heads), after.id, before.version))
        if n != 1:
            raise ConflictError(f"case {after.id!r} changed while this write was in progress; reload it and try again")
        try:
            b.many(_INSERT_EVENT, [R.event_row(after.id, before.version + k, h, recorded_by)
                                   for k, h in enumerate(new_items)])
        except b.Error as exc:
            if b.is_unique_violation(exc):
                raise ConflictError(f"case {after.id!r} changed while this write was in progress; reload it and try again") from None
            raise
        if after.deadlines is before.deadlines:
            return
        changed = [(d.met_on.isoformat() if d.met_on else None, d.ended_on.isoformat() if d.ended_on else None,
                    after.id, seq)
                   for seq, old, d in zip(proj.open_seqs, before.deadlines, after.deadlines) if d != old]
        if changed:
            b.many("UPDATE deadlines SET met_on = ?, ended_on = ? WHERE case_id = ? AND seq = ?", changed)
        opened = after.deadlines[len(before.deadlines):]
        if opened:
            b.many(_INSERT_DEADLINE, [R.deadline_row(after.id, proj.next_deadline + k, d) for k, d in enumerate(opened)])

    # -- reading ----------------------------------------------------------------

    def _case_row(self, case_id: str):
        row = self.backend.one("SELECT authority, state, version, child, facts, heads, provenance FROM cases WHERE id = ?",
                               (case_id,))
        if row is None:
            raise StoreError(f"no case {case_id!r} in {self.path}")
        return row

    def _projection(self, case_id: str) -> _Projection:
        """The case as an append needs it (see the module's docstring):
        a handful of rows whatever the length of its history."""
        b = self.backend
        authority, state, version, child, facts, heads_text, provenance = self._case_row(case_id)
        heads = json.loads(heads_text)
        seqs = R.summary_seqs(version, heads)
        history = ()
        if seqs:
            marks = ",".join("?" * len(seqs))
            history = tuple(R.history_item(r, case_id) for r in b.all(
                f"{_EVENT_SELECT} WHERE case_id = ? AND seq IN ({marks}) ORDER BY seq", (case_id, *seqs)))
        open_rows = b.all(f"{_DEADLINE_SELECT} WHERE case_id = ? AND met_on IS NULL AND ended_on IS NULL ORDER BY seq",
                          (case_id,))
        last = b.one("SELECT max(seq) FROM deadlines WHERE case_id = ?", (case_id,))[0]
        case = Case(case_id, authority, R.child(child, case_id), state, version, R.facts(facts, case_id), history,
                    tuple(R.deadline(r) for r in open_rows))
        return _Projection(case, heads, [r[1] for r in open_rows], 0 if last is None else last + 1, provenance)

    def _whole(self, case_id: str) -> Case:
        """The whole case from its rows (no replay), or from memory when the
        version in memory is the stored one."""
        b = self.backend
        authority, state, version, child, facts, _, _ = self._case_row(case_id)
        cached = self._cached(case_id, version)
        if cached is not None:
            return cached
        history = tuple(R.history_item(r, case_id) for r in b.all(f"{_EVENT_SELECT} WHERE case_id = ? ORDER BY seq",
                                                                   (case_id,)))
        deadlines = tuple(R.deadline(r) for r in b.all(f"{_DEADLINE_SELECT} WHERE case_id = ? ORDER BY seq", (case_id,)))
        if len(history) != version:
            raise StoreError(f"case {case_id!r}: {len(history)} events stored but the database says version {version}")
        case = Case(case_id, authority, R.child(child, case_id), state, version, R.facts(facts, case_id), history, deadlines)
        self._remember(case)
        return case

    def _whole_after(self, proj: _Projection, after: Case, recorded_by: str | None, stored: bool = True) -> Case:
        """The whole case after an append: the one in memory (or, if it is
        not there, the rows as they stood before it) with what the append
        changed laid over it."""
        before = proj.case
        new_items = self._stamp(after.history[len(before.history):], recorded_by)
        whole = self._cached(after.id, before.version)
        if whole is None:
            whole = self.backend.read(lambda: self._whole_at(after.id, before.version, proj.next_deadline))
        deadlines = list(whole.deadlines)
        for seq, d in zip(proj.open_seqs, after.deadlines):
            deadlines[seq] = d
        deadlines.extend(after.deadlines[len(before.deadlines):])
        case = Case(after.id, after.authority, after.child, after.state, after.version, after.facts,
                    whole.history + new_items, tuple(deadlines))
        if stored:  # a refused event that was not stored is never remembered as a version
            self._remember(case)
        return case

    def _whole_at(self, case_id: str, version: int, deadlines_before: int) -> Case:
        """The whole case as it stood at ``version``, just before an append:
        its first ``version`` events and first ``deadlines_before`` deadlines
        (those that append could change are laid over by the caller)."""
        b = self.backend
        authority, state, _, child, facts, _, _ = self._case_row(case_id)
        history = tuple(R.history_item(r, case_id) for r in b.all(
            f"{_EVENT_SELECT} WHERE case_id = ? AND seq < ? ORDER BY seq", (case_id, version)))
        deadlines = tuple(R.deadline(r) for r in b.all(
            f"{_DEADLINE_SELECT} WHERE case_id = ? AND seq < ? ORDER BY seq", (case_id, deadlines_before)))
        return Case(case_id, authority, R.child(child, case_id), state, version, R.facts(facts, case_id), history, deadlines)

    @staticmethod
    def _stamp(items, recorded_by):
        if recorded_by is None:
            return tuple(items)
        return tuple(h if h.recorded_by else evolve(h, recorded_by=recorded_by) for h in items)

    def _stamped(self, case: Case, start: int, recorded_by) -> Case:
        if recorded_by is None:
            return case
        return evolve(case, history=case.history[:start] + self._stamp(case.history[start:], recorded_by))

    # -- the in-memory cache of whole cases ----------------------------------------------

    def _cached(self, case_id: str, version: int) -> Case | None:
        with self._cache_lock:
            case = self._cache.get(case_id)
            if case is None or case.version != version:
                return None
            self._cache.move_to_end(case_id)
            return case

    def _remember(self, case: Case) -> None:
        if self._cache_size <= 0:
            return
        with self._cache_lock:
            self._cache[case.id] = case
            self._cache.move_to_end(case.id)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    # -- reading ------------------------------------------------------------------------

    def load(self, case_id: str, as_of: date | None = None) -> Case:
        """The stored case, whole (from its rows; :meth:`verify` replays)."""
        case = self.backend.read(lambda: self._whole(case_id))
        if as_of is not None:
            case = self.registry[case.authority].advance(case, as_of)
        return case

    def version(self, case_id: str) -> int:
        """The stored version of a case (:class:`StoreError` if there is none)."""
        b = self.backend
        row = b.read(lambda: b.one("SELECT version FROM cases WHERE id = ?", (case_id,)))
        if row is None:
            raise StoreError(f"no case {case_id!r} in {self.path}")
        return row[0]

    def authority_of(self, case_id: str) -> str | None:
        """The authority a stored case is under; None if there is no such case."""
        b = self.backend
        row = b.read(lambda: b.one("SELECT authority FROM cases WHERE id = ?", (case_id,)))
        return None if row is None else row[0]

    def case_ids(self, authority: str | None = None) -> list[str]:
        b = self.backend
        if authority is None:
            return b.read(lambda: [r[0] for r in b.all("SELECT id FROM cases ORDER BY id")])
        return b.read(lambda: [r[0] for r in b.all("SELECT id FROM cases WHERE authority = ? ORDER BY id", (authority,))])

    def count(self, table: str, case_id: str | None = None) -> int:
        """Rows in one of the store's tables (of one case, if given)."""
        if table not in ("cases", "events", "deadlines", "simulations", "tokens"):
            raise StoreError(f"no table {table!r} in a cinflow store")
        b = self.backend
        column = "id" if table == "cases" else "case_id"
        if case_id is None:
            return b.read(lambda: b.one(f"SELECT count(*) FROM {table}")[0])
        return b.read(lambda: b.one(f"SELECT count(*) FROM {table} WHERE {column} = ?", (case_id,))[0])

    def due(self, as_of: date, authority: str | None = None) -> list[tuple[str, str, Deadline]]:
        """Every open or overdue deadline as of ``as_of`` across the cases
        still open on that date (of ``authority``, if given), soonest first:
        ``(case_id, authority, deadline)``.  A case that had ended by then
        (or would have, by its child's 18th birthday, had time been let pass
        with :meth:`advance`) lists nothing: its unmet obligations are missed
        or cancelled, shown by ``show``, not a work list."""
        return self.backend.read(lambda: self._due(as_of, authority))

    def _due(self, as_of: date, authority: str | None) -> list[tuple[str, str, Deadline]]:
        from ..engine import _adulthood
        from ..states import FINAL_STATES

        out = []
        day = as_of.isoformat()
        params = [day, day, day]
        where = ""
        if authority is not None:
            where = " AND c.authority = ?"
            params.append(authority)
        ended: dict[str, bool] = {}
        cols = ", ".join(f"d.{c}" for c in DEADLINE_COLUMNS)
        for r in self.backend.all(
            f"""SELECT {cols}, c.authority, c.child, c.state, c.facts FROM deadlines d JOIN cases c ON c.id = d.case_id
               WHERE d.opened_on <= ?
                 AND (d.met_on IS NULL OR d.met_on > ?)
                 AND (d.ended_on IS NULL OR d.ended_on > ?){where}
               ORDER BY d.due, d.case_id, d.seq""",
            params,
        ):
            cid = r[0]
            case_authority, child, state, facts = r[len(DEADLINE_COLUMNS):]
            if cid not in ended:
                if state in FINAL_STATES:
                    closed_on = json.loads(facts).get("closed_on")
                    ended[cid] = closed_on is None or closed_on <= day
                else:
                    birth = date.fromisoformat(json.loads(child)["birth_date"])
                    ended[cid] = _adulthood(birth) <= as_of
            if ended[cid]:
                continue
            out.append((cid, case_authority, R.deadline(r[:len(DEADLINE_COLUMNS)])))
        return out

    # -- verification -------------------------------------------------------------------

    def replay(self, case_id: str) -> Case:
        """The case rebuilt by replaying its submitted events through its
        policy (the event log is the truth)."""
        b = self.backend

        def body():
            authority, _, _, child, _, _, _ = self._case_row(case_id)
            return authority, child, b.all("SELECT date, event, attributes, automatic FROM events WHERE case_id = ? ORDER BY seq",
                                           (case_id,))

        authority, child, events = b.read(body)
        policy = self.registry[authority]
        case = policy.new_case(case_id, R.child(child, case_id))
        for day, name, attrs, automatic in events:
            if automatic:
                # Engine-made (the 18th birthday): letting time pass to its date remakes it.
                case = policy.advance(case, date.fromisoformat(day))
                continue
            data = {"date": day, "event": name, **json.loads(attrs)}
            case = policy.apply(case, structure_event(data, f"case {case_id} event"))
        return case

    def verify(self, case_ids=None) -> list[str]:
        """Replay every case (or those named) and compare it with what is
        stored: state, version, facts, every history item and deadline.
        Returns one line per difference found (empty: all agree)."""
        problems = []
        for case_id in (self.case_ids() if case_ids is None else case_ids):
            try:
                stored = self.backend.read(lambda: self._whole_uncached(case_id))
                replayed = self.replay(case_id)
            except Exception as exc:  # a damaged row, an unknown policy: say which case
                problems.append(f"case {case_id}: cannot be replayed: {' '.join(str(exc).split())}")
                continue
            problems.extend(f"case {case_id}: {d}" for d in _differences(stored, replayed))
        return problems

    def _whole_uncached(self, case_id: str) -> Case:
        with self._cache_lock:
            self._cache.pop(case_id, None)
        return self._whole(case_id)

    # -- access tokens (the service) ---------------------------------------------------------

    def create_token(self, name: str, authority: str, read_only: bool = False) -> str:
        """A new access token for ``authority``: returns the secret (shown
        once; only its SHA-256 is stored).  The name of a live token is a
        StoreError; a revoked token's name may be given again (rotating a
        token keeps the name its events were recorded by)."""
        name = name.strip()
        if not name or len(name) > 100 or any(c.isspace() for c in name):
            raise StoreError("a token's name is 1 to 100 characters with no spaces (it is recorded as recorded_by)")
        self.registry[authority]  # an unknown authority fails here, with the known ones listed
        secret = "cf_" + secrets.token_urlsafe(32)
        b = self.backend

        def body():
            row = b.one("SELECT revoked_at FROM tokens WHERE name = ?", (name,))
            if row is not None and row[0] is None:
                raise StoreError(f"a token named {name!r} already exists in {self.path} (revoke it or use another name)")
            if row is not None:  # a revoked token's name is reused: its events keep the name (rotation)
                b.run("DELETE FROM tokens WHERE name = ?", (name,))
            b.run("INSERT INTO tokens (name, authority, read_only, hash, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, NULL)",
                  (name, authority, int(read_only), _hash(secret), _now()))

        b.write(body)
        return secret

    def tokens(self) -> list[Token]:
        b = self.backend
        rows = b.read(lambda: b.all("SELECT name, authority, read_only, created_at, revoked_at FROM tokens ORDER BY name"))
        return [Token(n, a, bool(ro), c, r) for n, a, ro, c, r in rows]

    def revoke_token(self, name: str) -> bool:
        """Revoke a token by name; False if there is no such live token."""
        b = self.backend
        return b.write(lambda: b.run("UPDATE tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
                                     (_now(), name))) == 1

    def token_for(self, secret: str) -> Token | None:
        """The live token whose secret this is, or None."""
        b = self.backend
        row = b.read(lambda: b.one(
            "SELECT name, authority, read_only, created_at, revoked_at FROM tokens WHERE hash = ? AND revoked_at IS NULL",
            (_hash(secret),)))
        return None if row is None else Token(row[0], row[1], bool(row[2]), row[3], row[4])


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def _differences(stored: Case, replayed: Case) -> list[str]:
    out = []
    for name in ("state", "version", "facts"):
        if getattr(stored, name) != getattr(replayed, name):
            out.append(f"{name}: stored {getattr(stored, name)!r}, replayed {getattr(replayed, name)!r}")
    if len(stored.history) != len(replayed.history):
        out.append(f"history: {len(stored.history)} items stored, {len(replayed.history)} replayed")
    for seq, (a, b) in enumerate(zip(stored.history, replayed.history)):
        if a != b:
            out.append(f"event {seq} ({a.event} of {a.date.isoformat()}) differs from its replay")
    if len(stored.deadlines) != len(replayed.deadlines):
        out.append(f"deadlines: {len(stored.deadlines)} stored, {len(replayed.deadlines)} replayed")
    for seq, (a, b) in enumerate(zip(stored.deadlines, replayed.deadlines)):
        if a != b:
            out.append(f"deadline {seq} ({a.name} due {a.due.isoformat()}) differs from its replay")
    return out


__all__ = ["Store", "Token", "StoreError", "ConflictError", "migrations", "BUSY_BUDGET_S", "CASE_COLUMNS",
           "EVENT_COLUMNS", "DEADLINE_COLUMNS", "case_row", "event_rows", "deadline_rows", "insert_rows", "is_postgres"]
