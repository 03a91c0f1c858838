"""The store's read queries for census, report and simulation.

:class:`Queries` is a mixin of :class:`~cinflow.store.Store`: its methods use
only ``self.backend`` (``read``, ``all``, ``one``) and ``self.path``, with SQL
in the subset SQLite and PostgreSQL share (``?`` placeholders, ``COALESCE``,
integer flags compared ``= 1``, positional rows).  So no module outside this
package issues a query, and a backend is one module.

Whatever may be large (a simulation holds millions of events) is read in
batches of cases, by key (``id > ?``, on the primary key), never whole.
"""

from __future__ import annotations

import json
from typing import Iterator

from .rows import DEADLINE_COLUMNS, EVENT_COLUMNS

CENSUS_BATCH = 1000
"""Cases read at a time by :meth:`Queries.census_cases` (with their events)."""

CENSUS_EVENT_COLUMNS = ("case_id", "date", "event", "accepted", "from_state", "to_state", "attributes")
"""The event columns the census reads, as the keys of each event it gets."""

_CENSUS_EVENTS = (f"SELECT {', '.join(CENSUS_EVENT_COLUMNS)} FROM events "
                  "WHERE case_id >= ? AND case_id <= ? ORDER BY case_id, seq")

# The first step out of referral, accepted; and a referral accepted into a case still at referral.
_FIRST_STEP = "e.from_state = 'referral' AND e.accepted = 1 AND e.to_state != 'referral'"
_REFERRED = "c.state = 'referral' AND e.to_state = 'referral' AND COALESCE(e.from_state, '') != 'referral'"


def _window(window: dict | None) -> tuple[str, list]:
    if not window:
        return "", []
    return " AND e.date >= ? AND e.date < ?", [window["start"], window["end"]]


class Queries:
    """Reads for census, report and simulation (a mixin of ``Store``)."""

    # -- census ----------------------------------------------------------------------

    def authorities(self) -> list[str]:
        """The authorities the stored cases are under, sorted."""
        b = self.backend
        return b.read(lambda: [r[0] for r in b.all("SELECT DISTINCT authority FROM cases ORDER BY authority")])

    def recorded_cases(self, authority: str) -> int:
        """Cases of ``authority`` not made by the simulator (real records)."""
        b = self.backend
        return b.read(lambda: b.one("SELECT count(*) FROM cases WHERE authority = ? AND provenance != 'simulated'",
                                    (authority,))[0])

    def census_cases(self, authority: str, batch: int = CENSUS_BATCH) -> Iterator[tuple[str, dict, dict, list[dict]]]:
        """``(case_id, child, facts, events)`` for each case of ``authority``
        in id order: the child and facts decoded, the events (in order) as
        dicts of :data:`CENSUS_EVENT_COLUMNS`.

        Streams: ``batch`` cases at a time (each batch one read), keyed on
        the primary key so that every batch costs the same; the authority is
        told apart here, so neither query sorts."""
        b = self.backend
        after = None

        def read_batch():
            if after is None:
                cases = b.all("SELECT id, authority, child, facts FROM cases ORDER BY id LIMIT ?", (batch,))
            else:
                cases = b.all("SELECT id, authority, child, facts FROM cases WHERE id > ? ORDER BY id LIMIT ?",
                              (after, batch))
            mine = [r for r in cases if r[1] == authority]
            events = b.all(_CENSUS_EVENTS, (mine[0][0], mine[-1][0])) if mine else []
            return cases, mine, events

        while True:
            cases, mine, events = b.read(read_batch)
            if not cases:
                return
            after = cases[-1][0]
            by_case: dict[str, list[dict]] = {r[0]: [] for r in mine}
            for e in events:
                found = by_case.get(e[0])
                if found is not None:  # another authority's case between two of ours: not ours
                    found.append(dict(zip(CENSUS_EVENT_COLUMNS, e)))
            for case_id, _, child, facts in mine:
                yield case_id, json.loads(child), json.loads(facts), by_case[case_id]
            if len(cases) < batch:
                return

    # -- simulations -----------------------------------------------------------------

    def simulation_summary(self, simulation: int | None = None) -> tuple[int, dict] | None:
        """``(id, summary)`` of simulation run ``simulation`` (the latest if
        None); None if there is no such run."""
        b = self.backend
        if simulation is None:
            row = b.read(lambda: b.one("SELECT id, summary FROM simulations ORDER BY id DESC LIMIT 1"))
        else:
            row = b.read(lambda: b.one("SELECT id, summary FROM simulations WHERE id = ?", (simulation,)))
        return None if row is None else (row[0], json.loads(row[1]))

    def unfinished_simulations(self) -> list[int]:
        """The ids of the simulation runs that did not finish, in order."""
        b = self.backend
        return b.read(lambda: [r[0] for r in b.all("SELECT id FROM simulations WHERE finished = 0 ORDER BY id")])

    # -- the report ------------------------------------------------------------------

    def cohort_flow(self, window: dict | None = None) -> dict[str, dict[str, int]]:
        """Per authority: ``"first step|state at the end"`` -> cases, and
        ``"referral|referral"`` for the cases referred that took no step.
        With a ``window`` ({"start", "end"}), only first steps taken, and
        referrals made, in it count."""
        b = self.backend
        where, args = _window(window)

        def body():
            steps = b.all(
                f"""SELECT c.authority, e.to_state, c.state, count(*) FROM cases c JOIN events e ON e.case_id = c.id
                   WHERE {_FIRST_STEP}{where}
                   GROUP BY c.authority, e.to_state, c.state ORDER BY c.authority, e.to_state, c.state""", args)
            waiting = b.all(
                f"""SELECT c.authority, count(DISTINCT c.id) FROM cases c JOIN events e ON e.case_id = c.id
                   WHERE {_REFERRED} AND e.accepted = 1{where}
                   AND NOT EXISTS (SELECT 1 FROM events s WHERE s.case_id = c.id AND s.from_state = 'referral'
                                   AND s.accepted = 1 AND s.to_state != 'referral')
                   GROUP BY c.authority ORDER BY c.authority""", args)
            return steps, waiting

        steps, waiting = b.read(body)
        flow: dict[str, dict[str, int]] = {}
        for authority, step, final, n in steps:
            flow.setdefault(authority, {})[f"{step}|{final}"] = n
        for authority, n in waiting:
            if n:
                flow.setdefault(authority, {})["referral|referral"] = n
        return flow

    def recorded_in_flow(self, window: dict | None = None) -> int:
        """Cases :meth:`cohort_flow` counts that were not made by the simulator."""
        b = self.backend
        where, args = _window(window)
        sql = f"""SELECT count(DISTINCT c.id) FROM cases c JOIN events e ON e.case_id = c.id
                  WHERE e.accepted = 1 AND c.provenance != 'simulated'
                  AND ((e.from_state = 'referral' AND e.to_state != 'referral') OR ({_REFERRED})){where}"""
        return b.read(lambda: b.one(sql, args)[0])

    def case_rows(self, case_id: str) -> tuple[dict, list[dict], list[dict]] | None:
        """One case as stored, for a timeline: its row (``authority``,
        ``state``, ``provenance``), its events (dicts of
        :data:`~cinflow.store.rows.EVENT_COLUMNS`) and its deadlines (of
        :data:`~cinflow.store.rows.DEADLINE_COLUMNS`), in order; None if
        there is no such case."""
        b = self.backend

        def body():
            row = b.one("SELECT authority, state, provenance FROM cases WHERE id = ?", (case_id,))
            if row is None:
                return None
            events = b.all(f"SELECT {', '.join(EVENT_COLUMNS)} FROM events WHERE case_id = ? ORDER BY seq", (case_id,))
            deadlines = b.all(f"SELECT {', '.join(DEADLINE_COLUMNS)} FROM deadlines WHERE case_id = ? ORDER BY seq",
                              (case_id,))
            return row, events, deadlines

        found = b.read(body)
        if found is None:
            return None
        row, events, deadlines = found
        return (dict(zip(("authority", "state", "provenance"), row)),
                [dict(zip(EVENT_COLUMNS, e)) for e in events], [dict(zip(DEADLINE_COLUMNS, d)) for d in deadlines])
