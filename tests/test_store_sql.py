"""All of cinflow's SQL is in cinflow.store (issue 13): census, report,
simulation and the rest ask the store, so a backend is one module.  The
store's queries for them and its bulk load give the same on both backends."""

import ast
import json
import sqlite3
from datetime import date
from pathlib import Path

import pytest

import cinflow
from cinflow.census import store_rows
from cinflow.errors import InputError
from cinflow.simulation import report
from cinflow.simulation.runner import Parameters, simulate, unfinished_runs
from cinflow.store import Store, bulk
from cinflow.store.rows import CASE_COLUMNS, DEADLINE_COLUMNS, EVENT_COLUMNS
from cinflow.store.sqlite import SQLiteBackend

from helpers import dump

PACKAGE = Path(cinflow.__file__).parent
KEYWORDS = ("SELECT ", "INSERT ", "UPDATE ", "DELETE ", "CREATE ", "PRAGMA", "ATTACH")


# -- no SQL outside the store ---------------------------------------------------------

def sql_strings(path: Path) -> list[str]:
    """Each string constant in ``path`` (docstrings and f-strings' parts
    included) holding an SQL keyword, with its line."""
    tree = ast.parse(path.read_text(), str(path))
    return [f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {node.value.strip()[:80]!r}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and any(k in node.value for k in KEYWORDS)]


def test_no_module_outside_the_store_holds_sql():
    store = PACKAGE / "store"
    modules = [p for p in sorted(PACKAGE.rglob("*.py")) if store not in p.parents]
    assert len(modules) > 20  # the scan sees the package
    assert [line for p in modules for line in sql_strings(p)] == []


def test_the_scan_finds_sql():
    """The scan would see SQL if there were any (f-strings included)."""
    assert any("ATTACH" in s for s in sql_strings(PACKAGE / "store" / "sqlite.py"))
    assert any("INSERT INTO {table}" in s or "INSERT INTO " in s for s in sql_strings(PACKAGE / "store" / "bulk.py"))


# -- a small simulation, and the same rows on another backend ------------------------------

PARAMS = Parameters(("kent", "reading"), 400, date(2026, 4, 1), 12, 5, warm_up=3)


@pytest.fixture(scope="module")
def sim(tmp_path_factory, registry):
    db = tmp_path_factory.mktemp("sql") / "sim.db"
    simulate(PARAMS, db, registry, workers=1)
    return db


def shard_of(db, path) -> Path:
    """The rows of a stored simulation as one shard file (what the workers write)."""
    conn = sqlite3.connect(db)
    try:
        rows = [conn.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY rowid").fetchall()
                for table, cols in (("cases", CASE_COLUMNS), ("events", EVENT_COLUMNS), ("deadlines", DEADLINE_COLUMNS))]
    finally:
        conn.close()
    bulk.write_shard(path, *rows)
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def loaded(request, sim, tmp_path, registry):
    """A store holding the simulation's rows, loaded shard-wise through the
    store's bulk load: on SQLite (ATTACH) or PostgreSQL (row batches)."""
    target = str(tmp_path / "loaded.db") if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    with Store(sim, registry, read_only=True) as s:
        _, summary = s.simulation_summary()
    shard = shard_of(sim, tmp_path / "0.db")
    with Store(target, registry) as store:
        run = store.begin_simulation(json.dumps(PARAMS.as_dict()), "{}")
        store.bulk_load_started()
        store.load_shard(shard, run, json.dumps(summary))
        store.bulk_load_finished()
        store.finish_simulation(run, json.dumps(summary))
        yield store


def test_a_backend_without_copy_shard_loads_the_same_database(sim, tmp_path, registry, monkeypatch):
    """The generic bulk load (shards read with sqlite3, rows inserted in
    batches through the backend) stores what SQLite's ATTACH does, row for
    row and in the same order."""
    monkeypatch.delattr(SQLiteBackend, "copy_shard")
    monkeypatch.setattr(bulk, "BATCH", 97)  # many batches, cut mid-case
    simulate(PARAMS, tmp_path / "rows.db", registry, workers=1)
    assert dump(tmp_path / "rows.db") == dump(sim)


def test_the_store_answers_the_same_on_every_backend(sim, loaded, registry):
    with Store(sim, registry, read_only=True) as ref:
        assert loaded.authorities() == ref.authorities() == ["kent", "reading"]
        assert loaded.count("events") == ref.count("events") > 0
        for window in (None, {"start": "2026-04-01", "end": "2027-04-01"}):
            assert loaded.cohort_flow(window) == ref.cohort_flow(window) != {}
            assert loaded.recorded_in_flow(window) == ref.recorded_in_flow(window) == 0
        for authority in ("kent", "reading"):
            assert list(loaded.census_cases(authority)) == list(ref.census_cases(authority))
        case_id = ref.case_ids("reading")[3]
        assert loaded.case_rows(case_id) == ref.case_rows(case_id)
        assert report.case_timeline(loaded, case_id) == report.case_timeline(ref, case_id)
        assert loaded.load(case_id) == ref.load(case_id)
        assert loaded.simulation_summary() == ref.simulation_summary()
        assert loaded.unfinished_simulations() == []
        rows = loaded.case_rows(case_id)[0]
        assert rows["provenance"] == "simulated" and rows["authority"] == "reading"


def test_census_cases_streams_in_batches_the_same_rows(sim, registry):
    """Batches of any size give every case of the authority, in id order,
    with its events in order: what one query over the whole table gives."""
    conn = sqlite3.connect(sim)
    conn.row_factory = sqlite3.Row
    expected = []
    for c in conn.execute("SELECT id, child, facts FROM cases WHERE authority = 'kent' ORDER BY id"):
        events = [dict(e) for e in conn.execute(
            "SELECT case_id, date, event, accepted, from_state, to_state, attributes FROM events "
            "WHERE case_id = ? ORDER BY seq", [c["id"]])]
        expected.append((c["id"], json.loads(c["child"]), json.loads(c["facts"]), events))
    conn.close()
    with Store(sim, registry, read_only=True) as store:
        for batch in (1, 7, 1000, 10**6):
            assert list(store.census_cases("kent", batch=batch)) == expected
        assert list(store_rows(store, "kent")) == [c for c in expected if c[3]]
        assert list(store.census_cases("nowhere")) == []


def test_the_simulators_writes_through_the_store(tmp_path, sim, registry):
    shard = shard_of(sim, tmp_path / "0.db")
    with Store(tmp_path / "bulk.db", registry) as store:
        run = store.begin_simulation("{}", '{"cases": 0}')
        assert store.unfinished_simulations() == [run] == unfinished_runs(store)
        with pytest.raises(InputError, match="already holds another simulation; write a simulation to a new --db"):
            store.begin_simulation("{}", "{}")
        store.load_shard(shard, run, '{"cases": 1}')
        assert store.simulation_summary() == (run, {"cases": 1})
        store.finish_simulation(run, '{"cases": 1, "done": true}')
        assert store.unfinished_simulations() == []
        assert store.simulation_summary(run) == (run, {"cases": 1, "done": True})
        assert store.simulation_summary(run + 1) is None
    with Store(tmp_path / "other.db", registry) as store:
        with store.db.conn:
            store.db.conn.execute("INSERT INTO cases (id, authority, state, version, child, facts) "
                                  "VALUES ('K-1', 'kent', 'referral', 0, '{}', '{}')")
        with pytest.raises(InputError, match=r"already holds 1 cases; write a simulation to a new --db"):
            store.begin_simulation("{}", "{}")
        assert store.count("simulations") == 0


@pytest.fixture(params=["sqlite", "sqlite-rows", "postgresql"])
def empty(request, tmp_path, registry, monkeypatch):
    """A new store: SQLite (its ATTACH copy, or the generic one) or PostgreSQL."""
    if request.param == "sqlite-rows":
        monkeypatch.delattr(SQLiteBackend, "copy_shard")
    target = request.getfixturevalue("postgres_url") if request.param == "postgresql" else str(tmp_path / "new.db")
    with Store(target, registry) as store:
        yield store


@pytest.mark.parametrize("shard", ["damaged", "missing", "no events table"])
def test_a_bad_shard_is_one_line_and_loads_nothing(empty, tmp_path, shard):
    path = tmp_path / "bad.db"
    if shard == "damaged":
        path.write_bytes(b"not a database" * 100)
    elif shard == "no events table":
        conn = sqlite3.connect(path)
        conn.execute(f"CREATE TABLE cases ({', '.join(CASE_COLUMNS)})")
        conn.execute(f"INSERT INTO cases VALUES ({', '.join('?' * len(CASE_COLUMNS))})",
                     ("K-1", "kent", "referral", 0, "{}", "{}", "{}"))
        conn.commit()
        conn.close()
    run = empty.begin_simulation("{}", "{}")
    with pytest.raises(cinflow.StoreError) as caught:
        empty.load_shard(path, run, '{"cases": 9}')
    assert str(caught.value).startswith(f"cannot read simulation shard {path}: ") and "\n" not in str(caught.value)
    assert str(caught.value).endswith("; nothing was written")
    assert empty.count("cases") == 0 and empty.simulation_summary() == (run, {})
    assert path.exists() == (shard != "missing")


def test_a_simulation_into_postgresql_stores_what_sqlite_does(sim, postgres_url, registry):
    """The simulator on a server database (shards copied row by row): the
    same cases, events and deadlines, and the same report figures."""
    summary = simulate(PARAMS, postgres_url, registry, workers=2)
    with Store(sim, registry, read_only=True) as ref, Store(postgres_url, registry, read_only=True) as pg:
        assert pg.unfinished_simulations() == [] and unfinished_runs(pg) == []
        number, stored = report.load_summary(pg)
        summary.pop("seconds")
        assert stored == summary == report.load_summary(ref)[1]
        for table in ("cases", "events", "deadlines"):
            assert pg.count(table) == ref.count(table) > 0
        for authority in PARAMS.authorities:
            assert list(pg.census_cases(authority)) == list(ref.census_cases(authority))
            assert list(store_rows(pg, authority)) == list(store_rows(ref, authority))
        window = summary["window"]
        assert report.cohort_flow(pg, window) == report.cohort_flow(ref, window)
        case_id = ref.case_ids("kent")[-1]
        assert pg.load(case_id) == ref.load(case_id)
        assert pg.due(date(2026, 10, 1)) == ref.due(date(2026, 10, 1))
