"""Running a simulation: the cohort through each authority, in parallel, into
SQLite.

Work is cut into chunks of referrals; each chunk of each authority is one job.
Workers (processes) run cases and turn them into database rows and a
:class:`~cinflow.simulation.stats.Tally`; the parent writes the rows, one
transaction per chunk, in job order.  So the database and the summary are the
same whatever the number of workers, and a case never needs more memory than
its own chunk.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from datetime import date, timedelta
from multiprocessing import get_context
from pathlib import Path

from attrs import asdict, frozen

from ..calendar import add_months
from ..errors import InputError
from ..store import CASE_COLUMNS, DEADLINE_COLUMNS, EVENT_COLUMNS, Store, case_row, deadline_rows, event_rows, insert_rows
from .calibration import load_calibration
from .cohort import Cohort
from .draws import Generator
from .practice import Practitioner
from .stats import Tally

CHUNK = 1000


@frozen
class Parameters:
    authorities: tuple[str, ...]
    referrals: int
    start: date
    months: int
    seed: int
    calibration: str | None = None  # a file, or None for the shipped England figures

    @property
    def end(self) -> date:
        """The first day after the window."""
        return add_months(self.start, self.months)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["authorities"] = list(self.authorities)
        d["start"] = self.start.isoformat()
        return d


class _Context:
    """Everything a worker needs, built once per process."""

    def __init__(self, params: Parameters, registry):
        self.params = params
        self.registry = registry
        self.calibration = load_calibration(params.calibration)
        self.generator = Generator(params.seed)
        self.cohort = Cohort(self.calibration, self.generator, params.start, params.months, params.referrals)
        self.practitioners: dict[str, Practitioner] = {}
        self.prefixes = case_prefixes(params.authorities)

    def practitioner(self, authority: str) -> Practitioner:
        pr = self.practitioners.get(authority)
        if pr is None:
            pr = Practitioner(self.registry[authority], self.calibration, self.generator, self.params.end)
            self.practitioners[authority] = pr
        return pr


_CONTEXT: _Context | None = None  # set in the parent before workers fork


def case_prefixes(authorities) -> dict[str, str]:
    """Short, distinct case-id prefixes, so that ids fit the census's 20-character
    LAchildID: long ids use their initials (cheshire-west-and-chester -> cwac)."""
    out: dict[str, str] = {}
    for a in authorities:
        prefix = a if len(a) <= 11 else "".join(part[0] for part in a.split("-"))
        while prefix in out.values():
            prefix += "x"
        out[a] = prefix
    return out


def _run_chunk(job):
    """Run one chunk; write its rows to a shard file of its own (so rows are
    never pickled between processes) and return the shard and the tally."""
    authority, lo, hi, shard = job
    ctx = _CONTEXT
    prefix = ctx.prefixes[authority]
    pr = ctx.practitioner(authority)
    last_day = ctx.params.end - timedelta(days=1)
    cases, events, deadlines = [], [], []
    tally = Tally()
    for i in range(lo, hi):
        case = pr.run(ctx.cohort[i], f"{prefix}-{i:07d}")
        tally.add_case(case, last_day)
        cases.append(case_row(case))
        events.extend(event_rows(case))
        deadlines.extend(deadline_rows(case))
    conn = sqlite3.connect(shard, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("BEGIN")
        for table, columns in (("cases", CASE_COLUMNS), ("events", EVENT_COLUMNS), ("deadlines", DEADLINE_COLUMNS)):
            conn.execute(f"CREATE TABLE {table} ({', '.join(columns)})")
        insert_rows(conn, cases, events, deadlines)
        conn.execute("COMMIT")
    finally:
        conn.close()
    return authority, hi - lo, shard, tally


def simulate(params: Parameters, db_path: str | Path, registry, workers: int = 1, progress=None) -> dict:
    """Run the simulation, write it to ``db_path`` and return the summary."""
    global _CONTEXT
    if params.referrals < 1:
        raise InputError("--referrals must be at least 1")
    if not 1 <= params.months <= 120:
        raise InputError("--months must be between 1 and 120")
    for authority in params.authorities:
        registry[authority]  # unknown ids fail here, with the known ones listed
    started = time.perf_counter()
    _CONTEXT = _Context(params, registry)
    with Store(db_path, registry) as store:
        existing = store.db["cases"].count
        if existing:
            raise InputError(f"{db_path} already holds {existing} cases; write a simulation to a new --db")
        conn = store.db.conn
        tallies = {a: Tally() for a in params.authorities}
        # A bulk load is faster without the secondary index on due dates; it
        # is rebuilt in one sorted pass at the end (also after a failure).
        conn.execute("DROP INDEX IF EXISTS idx_deadlines_due")
        with tempfile.TemporaryDirectory(prefix="cinflow-sim-", dir=Path(db_path).resolve().parent) as shards:
            jobs = [(a, lo, min(lo + CHUNK, params.referrals), str(Path(shards) / f"{k}.db"))
                    for k, (a, lo) in enumerate((a, lo) for a in params.authorities
                                                for lo in range(0, params.referrals, CHUNK))]
            try:
                for authority, n, shard, tally in _results(jobs, workers):
                    conn.execute("ATTACH DATABASE ? AS shard", [shard])
                    conn.execute("BEGIN IMMEDIATE")
                    for table, columns in (("cases", CASE_COLUMNS), ("events", EVENT_COLUMNS),
                                           ("deadlines", DEADLINE_COLUMNS)):
                        conn.execute(f"INSERT INTO main.{table} ({', '.join(columns)}) SELECT {', '.join(columns)} "
                                     f"FROM shard.{table} ORDER BY rowid")
                    conn.execute("COMMIT")
                    conn.execute("DETACH DATABASE shard")
                    Path(shard).unlink()
                    tallies[authority].merge(tally)
                    if progress is not None:
                        progress(n)
            finally:
                conn.execute("CREATE INDEX IF NOT EXISTS idx_deadlines_due ON deadlines (due)")
        summary = {
            "parameters": params.as_dict(),
            "calibration": _CONTEXT.calibration.name,
            "cases": sum(t.cases for t in tallies.values()),
            "events": sum(t.events for t in tallies.values()),
            "deadlines": sum(t.deadlines for t in tallies.values()),
            "authorities": {a: t.summary() for a, t in tallies.items()},
        }
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO simulations (parameters, summary) VALUES (?, ?)",
                     [json.dumps(params.as_dict(), sort_keys=True), json.dumps(summary, sort_keys=True)])
        conn.execute("COMMIT")
    _CONTEXT = None
    summary["seconds"] = round(time.perf_counter() - started, 3)
    return summary


def _results(jobs, workers: int):
    """Job results in job order, with at most a few jobs in flight per worker."""
    if workers <= 1:
        yield from map(_run_chunk, jobs)
        return
    with ProcessPoolExecutor(workers, mp_context=get_context("fork")) as pool:
        pending = deque()
        queue = iter(jobs)
        for job in queue:
            pending.append(pool.submit(_run_chunk, job))
            if len(pending) >= workers * 2:
                break
        while pending:
            result = pending.popleft().result()
            nxt = next(queue, None)
            if nxt is not None:
                pending.append(pool.submit(_run_chunk, nxt))
            yield result
