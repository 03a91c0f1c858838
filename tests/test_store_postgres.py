"""What is particular to PostgreSQL: connecting, read-only sessions,
databases cinflow did not make or that a newer cinflow wrote, and the
command line pointed at a server (a URL, or ``CINFLOW_DATABASE``)."""

import json
import socket
from datetime import date

import psycopg
import pytest

from cinflow import Child, StoreError
from cinflow.store import Store

from helpers import Runner, plan_in_force, run


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_server_that_is_not_there_is_one_line_without_the_password(registry):
    url = f"postgresql://clerk:s3cret@127.0.0.1:{_free_port()}/cases"
    with pytest.raises(StoreError) as caught:
        Store(url, registry)
    message = str(caught.value)
    assert message.startswith("cannot connect to postgresql://clerk@127.0.0.1:") and "\n" not in message
    assert "s3cret" not in message


def test_read_only_never_writes(postgres_url, registry, kent):
    case = plan_in_force(Runner(kent, Child(birth_date=date(2014, 1, 1)), "K-1")).case
    with Store(postgres_url, registry) as store:
        store.add(case)
    with Store(postgres_url, registry, read_only=True) as store:
        assert store.load("K-1") == case
        with pytest.raises(StoreError, match="opened read-only; nothing was written"):
            store.add(plan_in_force(Runner(kent, Child(birth_date=date(2014, 1, 1)), "K-2")).case)
        b = store.backend
        with pytest.raises(StoreError, match="cannot be written here"):
            b.read(lambda: b.run("DELETE FROM events"))  # the session itself refuses
    with Store(postgres_url, registry) as store:
        assert store.case_ids() == ["K-1"] and store.count("events") == case.version


def test_a_database_with_someone_elses_cases_table_is_refused(postgres_url, registry):
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE cases (ref TEXT)")
    with pytest.raises(StoreError, match="holds a table 'cases' that cinflow did not make; nothing was changed"):
        Store(postgres_url, registry)


def test_a_database_a_newer_cinflow_wrote_is_refused(postgres_url, registry):
    Store(postgres_url, registry).close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("INSERT INTO _cinflow_migrations VALUES ('cinflow', 'm099_future', now()::text, 99)")
    with pytest.raises(StoreError, match=r"written by a newer cinflow \(migration m099_future\)"):
        Store(postgres_url, registry)


def test_many_processes_opening_a_new_database_migrate_it_once(postgres_url, registry):
    import concurrent.futures

    def open_it(_):
        with Store(postgres_url, registry) as s:
            return s.migrations()

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        results = list(pool.map(open_it, range(6)))
    assert all(r == results[0] for r in results) and len(results[0]) == 5


def test_the_command_line_takes_a_url_or_cinflow_database(postgres_url, capsys, monkeypatch, tmp_path):
    code, out, err = run(["run", "kent-cin-plan", "--db", postgres_url], capsys)
    assert code == 0 and "Stored case K-001 in postgresql://" in out
    code, out, _ = run(["show", "K-001", "--db", postgres_url, "--format", "json"], capsys)
    doc = json.loads(out)
    assert code == 0 and doc["case"] == "K-001" and doc["history"][0]["recorded_by"].startswith("cli")
    monkeypatch.setenv("CINFLOW_DATABASE", postgres_url)
    code, out, _ = run(["due", "--as-of", "2026-07-01", "--format", "json"], capsys)
    assert code == 0 and {i["case"] for i in json.loads(out)} == {"K-001"}
    code, out, _ = run(["verify"], capsys)
    assert code == 0 and "1 case(s) replayed: every one agrees with the store." in out
    code, _, err = run(["show", "K-NONE"], capsys)
    assert code == 2 and err.count("\n") == 1 and "no case 'K-NONE'" in err


def test_simulate_census_and_report_take_a_postgresql_database(postgres_url, capsys, tmp_path):
    code, out, err = run(["simulate", "--authority", "kent", "--referrals", "120", "--warm-up", "3", "--seed", "4",
                          "--db", postgres_url, "--quiet", "--format", "json"], capsys)
    assert code == 0, err
    summary = json.loads(out)
    code, _, err = run(["census", "--db", postgres_url, "--year", "2027", "--la", "886", "-o", str(tmp_path / "c.xml")],
                       capsys)
    assert code == 0 and "<LAchildID>" in (tmp_path / "c.xml").read_text()
    code, _, err = run(["report", postgres_url, "--html", str(tmp_path / "r.html")], capsys)
    assert code == 0 and (tmp_path / "r.html").stat().st_size > 100_000
    # The same run into SQLite stores the same cases.
    sqlite_db = tmp_path / "same.db"
    code, out, _ = run(["simulate", "--authority", "kent", "--referrals", "120", "--warm-up", "3", "--seed", "4",
                        "--db", str(sqlite_db), "--quiet", "--format", "json"], capsys)
    other = json.loads(out)
    assert (other["cases_stored"], other["events"], other["deadlines"]) == (
        summary["cases_stored"], summary["events"], summary["deadlines"])
    # A database that already holds a simulation is refused in one line.
    code, _, err = run(["simulate", "--authority", "kent", "--referrals", "10", "--db", postgres_url, "--quiet"], capsys)
    assert code == 2 and err.count("\n") == 1 and "already holds" in err
