"""The clock reaches the store: ``Store.advance`` / ``cinflow tick`` persist
the 18th birthday; ``cinflow show`` prints a stored case; ``cinflow due``
lists nothing of a case that has ended; an old database migrates."""

import json
from datetime import date

import pytest

from cinflow import Child
from cinflow.cli import cli_actor
from cinflow.store import Store

from helpers import Runner, plan_in_force, run

D = date.fromisoformat


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path, registry):
    """Two Kent cases with plans in force: K-OLD turns 18 on Fri 12 Jun 2026,
    K-YOUNG on 12 Jun 2032; in a SQLite file or a PostgreSQL database."""
    path = tmp_path / "cases.db" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    with Store(path, registry) as store:
        for case_id, born in (("K-OLD", date(2008, 6, 12)), ("K-YOUNG", date(2014, 6, 12))):
            r = plan_in_force(Runner(registry["kent"], Child(birth_date=born), case_id))
            store.add(r.case)
    return path


def test_tick_persists_the_18th_birthday_once(db, registry, capsys):
    code, out, err = run(["tick", "--db", str(db), "--as-of", "2026-07-01"], capsys)
    assert (code, err) == (0, "")
    assert "K-OLD: eighteenth_birthday -> closed" in out and "1 case(s) moved to 2026-07-01." in out
    with Store(db, registry) as store:
        b = store.backend
        rows = b.read(lambda: b.all("SELECT date, event, automatic, recorded_by FROM events WHERE case_id = 'K-OLD' "
                                    "ORDER BY seq DESC LIMIT 1"))
        states = dict(b.read(lambda: b.all("SELECT id, state FROM cases")))
    assert [tuple(r) for r in rows] == [("2026-06-12", "eighteenth_birthday", 1, cli_actor())]
    assert states == {"K-OLD": "closed", "K-YOUNG": "cin_plan"}
    # Twice changes nothing.
    code, out, _ = run(["tick", "--db", str(db), "--as-of", "2026-07-01"], capsys)
    assert code == 0 and out.strip() == "Nothing changed by 2026-07-01."
    with Store(db, registry) as store:
        case = store.load("K-OLD")  # replays, matching the stored row
        assert case.state == "closed" and case.history[-1].automatic and case.facts.closure_reason == "RC7"
        # The plan's visits (due 25 Mar, never made) were missed, not cancelled.
        assert {d.name: d.status() for d in case.deadlines if d.name == "visit"} == {"visit": "missed"}


def test_due_never_lists_a_case_that_has_ended(db, capsys):
    # Before tick: the birthday has passed by 1 Jul, so K-OLD's deadlines are not a work list any more.
    code, out, _ = run(["due", "--db", str(db), "--as-of", "2026-07-01", "--format", "json"], capsys)
    assert code == 0 and {i["case"] for i in json.loads(out)} == {"K-YOUNG"}
    run(["tick", "--db", str(db), "--as-of", "2026-07-01"], capsys)
    code, out, _ = run(["due", "--db", str(db), "--as-of", "2026-07-01", "--format", "json"], capsys)
    assert {i["case"] for i in json.loads(out)} == {"K-YOUNG"}
    # On 1 Jun 2026 K-OLD was still a child with work owed.
    code, out, _ = run(["due", "--db", str(db), "--as-of", "2026-06-01", "--format", "json"], capsys)
    assert {i["case"] for i in json.loads(out)} == {"K-OLD", "K-YOUNG"}


def test_show_prints_a_stored_case_in_the_run_contract(db, capsys):
    code, out, _ = run(["show", "K-YOUNG", "--db", str(db), "--as-of", "2026-04-01", "--format", "json"], capsys)
    doc = json.loads(out)
    assert code == 0 and (doc["case"], doc["state"], doc["as_of"]) == ("K-YOUNG", "cin_plan", "2026-04-01")
    assert doc["next_wakeup"] == "2032-06-12"
    assert {d["name"]: d["status"] for d in doc["deadlines"] if d["name"] == "visit"} == {"visit": "overdue"}
    assert {"advice", "exceptions", "reasons"} <= set(doc["history"][0])
    code, out, _ = run(["show", "K-YOUNG", "--db", str(db)], capsys)
    assert code == 0 and "Case K-YOUNG under kent" in out and "Next changes by itself on 2032-06-12" in out
    code, _, err = run(["show", "K-NONE", "--db", str(db)], capsys)
    assert code == 2 and err.count("\n") == 1 and "no case 'K-NONE'" in err


def test_store_advance_reports_what_changed(db, registry):
    with Store(db, registry) as store:
        assert store.advance(D("2026-06-11")) == []  # the day before the birthday
        (changed,) = store.advance(D("2026-06-12"))
        assert (changed.id, changed.state, changed.history[-1].event) == ("K-OLD", "closed", "eighteenth_birthday")
        assert store.advance(D("2030-01-01")) == []


def test_tick_and_show_explain_bad_input(tmp_path, capsys):
    code, _, err = run(["tick", "--db", str(tmp_path / "none.db"), "--as-of", "2026-07-01"], capsys)
    assert code == 2 and "no such database" in err and err.count("\n") == 1
    code, _, err = run(["tick", "--db", str(tmp_path / "none.db"), "--as-of", "2026-02-30"], capsys)
    assert code == 2 and "'2026-02-30' is not a real date" in err


def test_a_database_from_the_previous_release_migrates(tmp_path, registry):
    """m003 renames cancelled_on to ended_on and adds advice/exceptions to
    events, keeping every row."""
    from sqlite_utils import Database
    from sqlite_utils.migrations import Migrations

    from cinflow import store as store_module

    path = tmp_path / "old.db"
    old = Migrations("cinflow")
    old._migrations = [m for m in store_module.migrations._migrations if m.name in ("m001_initial", "m002_simulations")]
    db = Database(path)
    old.apply(db)
    db["cases"].insert({"id": "K-1", "authority": "kent", "state": "referral", "version": 1,
                        "child": '{"birth_date":"2014-06-12"}', "facts": "{}"})
    db["events"].insert({"case_id": "K-1", "seq": 0, "date": "2026-01-05", "event": "referral_received", "accepted": 1,
                         "from_state": "new", "to_state": "referral", "automatic": 0, "attributes": "{}", "reasons": "[]"})
    db["deadlines"].insert({"case_id": "K-1", "seq": 0, "name": "assessment", "due": "2026-03-09",
                            "rule": "england.assessment_timescale", "source": "x", "opened_on": "2026-01-05",
                            "met_on": None, "cancelled_on": None})
    db.close()
    with Store(path, registry) as store:
        assert store.load("K-1").state == "referral"
        assert "ended_on" in store.db["deadlines"].columns_dict and "cancelled_on" not in store.db["deadlines"].columns_dict
        assert [r["advice"] for r in store.db.query("SELECT advice FROM events")] == ["[]"]
        assert [d.name for _, _, d in store.due(D("2026-03-10"))] == ["assessment"]
