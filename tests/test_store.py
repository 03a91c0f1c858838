"""SQLite persistence: identical reload, optimistic concurrency, crash safety."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import date

import pytest

import cinflow
from cinflow import Child, ConflictError, StoreError
from cinflow.store import Store, migrations

from helpers import Runner, plan_in_force

D = date.fromisoformat


@pytest.fixture
def store(tmp_path, registry):
    with Store(tmp_path / "cases.db", registry) as s:
        yield s


def _case(kent, case_id="K-1"):
    r = plan_in_force(Runner(kent, Child(birth_date=date(2013, 4, 2), disabled=True), case_id))
    r("cin_meeting", "2026-03-04", kind="review", chair="social_worker", outcome="continue")  # refused
    r("visit", "2026-03-05", seen_alone=False)
    return r.case


def test_schema_is_migrated_and_wal(store):
    assert {m.name for m in migrations.applied(store.db)} == {"m001_initial", "m002_simulations", "m003_levels_and_statuses", "m004_provenance_and_finished_runs", "m005_actors_projection_tokens"}
    assert {"cases", "events", "deadlines", "simulations"} <= set(store.db.table_names())
    assert store.db.journal_mode == "wal"


def test_reload_is_identical(store, kent):
    case = _case(kent)
    store.add(case)
    loaded = store.load("K-1")
    assert loaded == case
    assert loaded.history[-2].reasons[0].rule == "kent.review_chair"


def test_append_one_event_per_transaction(store, kent):
    case = _case(kent)
    store.add(case)
    after = store.append("K-1", cinflow.event("visit", "2026-03-30"), expected_version=case.version)
    assert after.version == case.version + 1
    assert store.load("K-1") == after
    rows = store.db.execute("SELECT count(*) FROM events WHERE case_id='K-1'").fetchone()[0]
    assert rows == after.version == len(after.history)


def test_stale_writer_gets_a_conflict_and_nothing_changes(store, kent):
    case = _case(kent)
    store.add(case)
    store.append("K-1", cinflow.event("visit", "2026-03-30"), expected_version=case.version)
    with pytest.raises(ConflictError, match="version"):
        store.append("K-1", cinflow.event("visit", "2026-03-31"), expected_version=case.version)
    assert store.load("K-1").version == case.version + 1


def test_two_connections_racing_on_one_case(tmp_path, registry, kent):
    path = tmp_path / "race.db"
    case = _case(kent)
    with Store(path, registry) as a, Store(path, registry) as b:
        a.add(case)
        a.append("K-1", cinflow.event("visit", "2026-03-30"), case.version)
        with pytest.raises(ConflictError):
            b.append("K-1", cinflow.event("visit", "2026-03-30"), case.version)
        assert b.load("K-1").version == case.version + 1


def test_bad_event_in_append_writes_nothing(store, kent):
    case = _case(kent)
    store.add(case)
    with pytest.raises(cinflow.EventOrderError):
        store.append("K-1", cinflow.event("visit", "2026-01-01"), case.version)
    assert store.load("K-1") == case


def test_duplicate_case_and_missing_case(store, kent):
    case = _case(kent)
    store.add(case)
    with pytest.raises(StoreError, match="already"):
        store.add(case)
    with pytest.raises(StoreError, match="no case"):
        store.load("nope")


def test_due_across_cases_soonest_first(store, kent):
    store.add(_case(kent, "K-1"))
    other = plan_in_force(Runner(kent, case_id="K-2"), referral="2026-02-02", completed="2026-03-02", meeting="2026-03-10").case
    store.add(other)
    rows = store.due(D("2026-03-20"))
    dues = [d.due for _, _, d in rows]
    assert dues == sorted(dues) and {cid for cid, _, _ in rows} == {"K-1", "K-2"}
    statuses = {(cid, d.name): d.status(D("2026-03-20")) for cid, _, d in rows}
    assert statuses[("K-1", "minutes")] == "overdue"
    assert statuses[("K-2", "cin_review")] == "open"


def test_not_a_database_is_a_clear_error(tmp_path, registry):
    bad = tmp_path / "x.db"
    bad.write_text("this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot open database"):
        Store(bad, registry)


WRITER = textwrap.dedent("""
    import sys
    from datetime import date, timedelta
    import cinflow
    from cinflow.store import Store
    reg = cinflow.Registry.load()
    kent = reg["kent"]
    store = Store(sys.argv[1], reg)
    n = 0
    while True:
        batch = []
        for _ in range(50):
            c = kent.new_case(f"C-{n}", cinflow.Child(birth_date=date(2014, 1, 1)))
            for name, day, extra in [("referral_received", "2026-01-05", {}), ("consent_given", "2026-01-06", {}),
                                     ("assessment_completed", "2026-02-13", {"outcome": "cin_plan"}),
                                     ("cin_meeting", "2026-02-25", {"kind": "initial", "chair": "team_manager", "outcome": "continue"})]:
                c = kent.apply(c, cinflow.event(name, day, **extra))
            batch.append(c)
            n += 1
        store.add_many(batch)
        first = f"C-{n - 50}"
        case = store.load(first)
        store.append(first, cinflow.event("visit", "2026-03-01"), case.version)
        print(n, flush=True)
""")


def test_sigkill_mid_batch_leaves_no_partial_event(tmp_path, registry):
    path = tmp_path / "killed.db"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        for _ in range(4):  # let a few batches commit, then kill it while it writes more
            assert proc.stdout.readline(), "writer died early"
        time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        proc.stdout.close()
    with Store(path, registry) as store:
        ids = store.case_ids()
        assert len(ids) >= 200 and len(ids) % 50 == 0  # whole batches only
        for cid in ids:
            case = store.load(cid)  # replays and checks against the stored row
            count = store.db.execute("SELECT count(*) FROM events WHERE case_id = ?", [cid]).fetchone()[0]
            assert count == case.version == len(case.history)
