"""The store on both backends (SQLite, PostgreSQL): identical reload,
optimistic concurrency, crash safety, projections, actors, tokens, verify."""

import os
import signal
import subprocess
import sys
import textwrap
import time
import json
from datetime import date, timedelta

import pytest

import cinflow
import cinflow.errors
from cinflow import Child, ConflictError, StoreError
from cinflow.store import Store, migrations

from helpers import Runner, plan_in_force

D = date.fromisoformat


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request, tmp_path):
    """Where the store lives: a SQLite file, or a fresh PostgreSQL database
    on the throwaway server the test session started."""
    if request.param == "sqlite":
        return str(tmp_path / "cases.db")
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def store(target, registry):
    with Store(target, registry) as s:
        yield s


def _case(kent, case_id="K-1"):
    r = plan_in_force(Runner(kent, Child(birth_date=date(2013, 4, 2), disabled=True), case_id))
    r("cin_meeting", "2026-03-04", kind="review", chair="social_worker", outcome="continue")  # refused
    r("visit", "2026-03-05", seen_alone=False)
    return r.case


def test_schema_is_migrated(store):
    assert store.migrations() == ["m001_initial", "m002_simulations", "m003_levels_and_statuses",
                                  "m004_provenance_and_finished_runs", "m005_actors_projection_tokens"]
    assert {"cases", "events", "deadlines", "simulations", "tokens"} <= set(store.backend.tables())
    if store.backend.name == "sqlite":
        assert store.db.journal_mode == "wal"


def test_both_backends_have_the_same_schema(tmp_path, registry, postgres_url):
    with Store(tmp_path / "s.db", registry) as s, Store(postgres_url, registry) as p:
        for table in ("cases", "events", "deadlines", "simulations", "tokens"):
            assert s.backend.columns(table) == p.backend.columns(table), table


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
    assert store.count("events", "K-1") == after.version == len(after.history)


def test_stale_writer_gets_a_conflict_and_nothing_changes(store, kent):
    case = _case(kent)
    store.add(case)
    store.append("K-1", cinflow.event("visit", "2026-03-30"), expected_version=case.version)
    with pytest.raises(ConflictError, match="version"):
        store.append("K-1", cinflow.event("visit", "2026-03-31"), expected_version=case.version)
    assert store.load("K-1").version == case.version + 1


def test_two_connections_racing_on_one_case(target, registry, kent):
    case = _case(kent)
    with Store(target, registry) as a, Store(target, registry) as b:
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


def test_sigkill_mid_batch_leaves_no_partial_event(target, registry):
    path = target
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
            case = store.load(cid)
            assert store.count("events", cid) == case.version == len(case.history)
        assert store.verify() == []  # every case replays to what is stored


# -- projections: an append reads a few rows, whatever the case's length --------------

def _long_case(kent, case_id, visits):
    r = plan_in_force(Runner(kent, Child(birth_date=date(2013, 4, 2)), case_id))
    day = date(2026, 3, 5)
    for _ in range(visits):
        r("visit", day.isoformat())
        day += timedelta(days=1)
    return r.case, day


def _rows_read_by_append(store, case_id, day):
    counted = []
    real = store.backend.all

    def counting(sql, params=()):
        rows = real(sql, params)
        counted.append(len(rows))
        return rows

    store.backend.all = counting
    try:
        store.append(case_id, cinflow.event("visit", day.isoformat()), store.version(case_id))
    finally:
        store.backend.all = real
    return sum(counted)


def test_an_append_reads_as_many_rows_at_300_events_as_at_10(store, kent):
    short, day_s = _long_case(kent, "SHORT", 3)
    long, day_l = _long_case(kent, "LONG", 300)
    store.add(short)
    store.add(long)
    assert long.version > 300 and short.version < 15
    store.load("SHORT"), store.load("LONG")  # a server's steady state: the whole cases are in memory
    assert _rows_read_by_append(store, "SHORT", day_s) == _rows_read_by_append(store, "LONG", day_l)


@pytest.mark.parametrize("cache", [512, 0])
def test_what_append_returns_is_what_is_stored_and_what_replay_gives(target, registry, kent, cache):
    case, day = _long_case(kent, "K-9", 40)
    with Store(target, registry, cache_cases=cache) as store:
        store.add(case)
        expected = case
        for k, (name, attrs) in enumerate([("visit", {}), ("cin_meeting", dict(kind="review", chair="team_manager",
                                                                              outcome="continue")),
                                           ("minutes_circulated", {}), ("visit", {})]):
            ev = cinflow.event(name, (day + timedelta(days=k)).isoformat(), **attrs)
            expected = kent.apply(expected, ev)
            after = store.append("K-9", ev, store.version("K-9"))
            assert after == expected
        assert store.verify() == []
    with Store(target, registry) as fresh:  # nothing in memory: from the rows
        assert fresh.load("K-9") == expected == fresh.replay("K-9")


def test_verify_reports_a_stored_row_that_disagrees_with_its_events(store, kent):
    store.add(_case(kent))
    store.add(_case(kent, "K-2"))
    b = store.backend
    seq = store.load("K-2").version - 2  # the review a social worker chaired: refused
    assert not store.load("K-2").history[seq].accepted
    # Someone edits the log: the stored chair becomes a Team Manager, so replay accepts that review.
    b.write(lambda: b.run("UPDATE events SET attributes = ? WHERE case_id = ? AND seq = ?",
                          ('{"chair":"team_manager","kind":"review","outcome":"continue"}', "K-2", seq)))
    problems = store.verify()
    assert problems and all(p.startswith("case K-2:") for p in problems)
    assert f"case K-2: event {seq} (cin_meeting of 2026-03-04) differs from its replay" in problems


# -- who recorded it; refused events that store nothing --------------------------------

def test_every_stored_event_records_who_stored_it(store, kent):
    case = _case(kent)
    store.add(case, recorded_by="cms-import")
    after = store.append("K-1", cinflow.event("visit", "2026-03-30"), case.version, recorded_by="team-a")
    assert after.history[-1].recorded_by == "team-a"
    with Store(store.path if store.backend.name == "sqlite" else store.backend.url, store.registry) as fresh:
        loaded = fresh.load("K-1")
    assert [h.recorded_by for h in loaded.history] == ["cms-import"] * case.version + ["team-a"]
    from cinflow.report import case_contract

    assert case_contract(loaded, None)["history"][-1]["recorded_by"] == "team-a"


def test_a_refused_event_need_not_be_stored(store, kent):
    case = _case(kent)
    store.add(case)
    refused = store.append("K-1", cinflow.event("cin_meeting", "2026-03-30", kind="review", chair="social_worker",
                                                outcome="continue"), case.version, keep_refused=False)
    assert not refused.history[-1].accepted and refused.history[-1].reasons[0].rule == "kent.review_chair"
    assert refused.version == case.version == store.version("K-1")
    assert store.count("events", "K-1") == case.version and store.load("K-1") == case
    accepted = store.append("K-1", cinflow.event("visit", "2026-03-30"), case.version, keep_refused=False)
    assert accepted.version == case.version + 1 == store.version("K-1")


# -- threads sharing one store ----------------------------------------------------------

def test_threads_sharing_one_store_each_win_once_per_version(store, kent):
    import threading

    case = _case(kent)
    store.add(case)
    for i in range(4):
        store.add(_case(kent, f"T-{i}"))
    outcomes, errors = [], []

    def racer():
        try:
            store.append("K-1", cinflow.event("visit", "2026-03-30"), case.version)
            outcomes.append("won")
        except ConflictError:
            outcomes.append("conflict")
        except Exception as exc:  # a thread-safety failure shows up here
            errors.append(repr(exc))

    def worker(i):
        try:
            v = store.version(f"T-{i}")
            for k in range(10):
                v = store.append(f"T-{i}", cinflow.event("visit", f"2026-04-{k + 1:02d}"), v).version
        except Exception as exc:
            errors.append(repr(exc))

    threads = [threading.Thread(target=racer) for _ in range(6)] + [threading.Thread(target=worker, args=(i,))
                                                                      for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(outcomes) == ["conflict"] * 5 + ["won"]
    assert [store.version(f"T-{i}") for i in range(4)] == [case.version + 10] * 4
    assert store.verify() == []


# -- access tokens ------------------------------------------------------------------------

def test_tokens_are_shown_once_and_stored_as_a_hash(store):
    secret = store.create_token("team-a", "kent")
    ro = store.create_token("auditor", "reading", read_only=True)
    assert secret != ro and secret.startswith("cf_") and len(secret) > 40
    token = store.token_for(secret)
    assert (token.name, token.authority, token.read_only) == ("team-a", "kent", False)
    assert store.token_for(ro).read_only and store.token_for("cf_wrong") is None
    b = store.backend
    stored = b.read(lambda: b.all("SELECT name, hash FROM tokens ORDER BY name"))
    assert all(secret not in h and ro not in h for _, h in stored)
    with pytest.raises(StoreError, match="already exists"):
        store.create_token("team-a", "kent")
    with pytest.raises(cinflow.UnknownPolicyError):
        store.create_token("x", "atlantis")
    assert [t.name for t in store.tokens()] == ["auditor", "team-a"]
    assert store.revoke_token("team-a") and not store.revoke_token("team-a")
    assert store.token_for(secret) is None
    assert [t.revoked_at is not None for t in store.tokens()] == [False, True]


# -- an older database gets its projection on migration ------------------------------------

def test_an_older_database_gets_heads_and_appends_read_them(tmp_path, registry, kent):
    import sqlite_utils

    from cinflow.store import rows as R

    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)
    old = type(migrations)("cinflow")
    old._migrations = [m for m in migrations._migrations if m.name != "m005_actors_projection_tokens"]
    old.apply(db)
    case = _case(kent)
    db["cases"].insert(dict(zip(R.CASE_COLUMNS[:-1], R.case_row(case)[:-1])))
    for row in R.event_rows(case):
        db["events"].insert(dict(zip(R.EVENT_COLUMNS[:-1], row[:-1])))
    for row in R.deadline_rows(case):
        db["deadlines"].insert(dict(zip(R.DEADLINE_COLUMNS, row)))
    db.close()
    with Store(path, registry) as store:
        heads = json.loads(store.backend.read(lambda: store.backend.one("SELECT heads FROM cases"))[0])
        assert heads == R.heads_of(case.history) and heads["visit"] == case.version - 1
        after = store.append("K-1", cinflow.event("visit", "2026-03-30"), case.version)
        assert after == kent.apply(case, cinflow.event("visit", "2026-03-30"))
        assert store.verify() == [] and store.load("K-1").history[0].recorded_by is None
