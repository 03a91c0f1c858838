"""Store failures are cinflow errors: one line, exit 2, nothing half-written.

Busy databases (retried within a budget), many processes opening a new file
at once, damaged pages, databases from a newer cinflow, full disks, and
read-only opening (which never changes the file).
"""

import hashlib
import multiprocessing
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from datetime import date
from pathlib import Path

import pytest

import cinflow
from cinflow import Child, StoreError
from cinflow.store import sqlite as store_module
from cinflow.store import Store, migrations

from helpers import Runner, plan_in_force, run

REPO = Path(__file__).resolve().parents[1]
KNOWN = [m.name for m in migrations._migrations]


def one_line(message: str) -> bool:
    return "\n" not in message.strip() and "Traceback" not in message


def _case(kent, case_id="K-1"):
    return plan_in_force(Runner(kent, Child(birth_date=date(2013, 4, 2)), case_id)).case


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _companions(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.name + "-"))


@pytest.fixture
def db(tmp_path, registry, kent):
    """A cinflow database with a few cases, closed cleanly."""
    path = tmp_path / "cases.db"
    with Store(path, registry) as store:
        for k in range(3):
            store.add(_case(kent, f"K-{k}"))
    return path


# -- a busy database -----------------------------------------------------------------

def test_a_write_gives_up_after_its_busy_budget_in_one_line_and_writes_nothing(db, registry, kent):
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # holds the write lock
    try:
        with Store(db, registry, busy_timeout_ms=50, busy_budget_s=0.4) as store:
            version = store.load("K-0").version
            started = time.monotonic()
            with pytest.raises(StoreError) as caught:
                store.add(_case(kent, "K-NEW"))
            waited = time.monotonic() - started
            with pytest.raises(StoreError, match="is busy"):
                store.append("K-0", cinflow.event("visit", "2026-03-30"), version)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    message = str(caught.value)
    assert message == (f"database {db} is busy: another writer held it for more than 0.4 s; nothing was written")
    assert 0.35 <= waited < 3
    with Store(db, registry) as store:
        assert "K-NEW" not in store.case_ids() and store.load("K-0").version == version


def test_a_write_waits_out_a_short_lock_with_retries(db, registry, kent):
    blocker = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.6, lambda: blocker.execute("ROLLBACK"))
    release.start()
    try:
        # Each attempt waits 50 ms; the retries (within 20 s) outlast the lock.
        with Store(db, registry, busy_timeout_ms=50, busy_budget_s=20) as store:
            store.add(_case(kent, "K-NEW"))
            assert "K-NEW" in store.case_ids()
    finally:
        release.join()
        blocker.close()


def test_the_cli_reports_a_busy_database_in_one_line(db, capsys, monkeypatch):
    import cinflow.store
    monkeypatch.setattr(cinflow.store, "BUSY_BUDGET_S", 0.3)
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        code, out, err = run(["tick", "--db", str(db), "--as-of", "2040-01-01"], capsys)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert code == 2 and one_line(err) and "is busy" in err and "nothing was written" in err


# -- many processes opening a new file at once -------------------------------------

def _open_new(path, barrier, results):
    from cinflow.store import Store

    barrier.wait()
    try:
        with Store(path, {}) as store:
            results.put(("ok", store.db.journal_mode))
    except Exception as exc:  # reported to the test, which fails on it
        results.put(("error", repr(exc)))


def test_sixteen_processes_open_one_new_database_at_once(tmp_path):
    path = str(tmp_path / "new.db")
    ctx = multiprocessing.get_context("spawn")
    n = 16
    barrier, results = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_open_new, args=(path, barrier, results)) for _ in range(n)]
    for p in procs:
        p.start()
    try:
        outcomes = [results.get(timeout=120) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=60)
    assert outcomes == [("ok", "wal")] * n
    conn = sqlite3.connect(path)
    names = [r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations WHERE migration_set = 'cinflow' ORDER BY rowid")]
    assert names == KNOWN  # migrated once
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(KNOWN)
    conn.close()


# -- a damaged database ------------------------------------------------------------

def _damage(path: Path) -> None:
    """Write garbage over the root page of the events table (the schema and
    the migrations table stay readable, so the damage is found by the check)."""
    conn = sqlite3.connect(path)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'events'").fetchone()[0]
    conn.close()
    assert not Path(f"{path}-wal").exists()
    with open(path, "r+b") as f:
        f.seek((root - 1) * page_size)
        f.write(bytes((i * 37 + 11) % 256 for i in range(page_size)))


@pytest.fixture
def damaged(tmp_path, registry, kent):
    path = tmp_path / "damaged.db"
    with Store(path, registry) as store:
        store.add_many([_case(kent, f"K-{k}") for k in range(60)])  # events over several pages
    _damage(path)
    return path


def test_check_names_a_damaged_database(damaged, registry, db):
    with Store(damaged, registry, read_only=True) as store:
        with pytest.raises(StoreError) as caught:
            store.check()
    message = str(caught.value)
    assert message.startswith(f"{damaged} is damaged (quick_check: ") and message.endswith("; it was not exported")
    assert one_line(message)
    with Store(db, registry, read_only=True) as store:
        store.check()  # a sound database passes


def test_census_refuses_a_damaged_database(damaged, tmp_path, capsys):
    out = tmp_path / "census.xml"
    code, _, err = run(["census", "--db", str(damaged), "--year", "2027", "--la", "886", "-o", str(out)], capsys)
    assert code == 2 and one_line(err) and "is damaged (quick_check:" in err and not out.exists()


def test_the_report_refuses_a_damaged_database(damaged, tmp_path):
    from cinflow.simulation.report import write_report

    with pytest.raises(StoreError, match="is damaged .*no report was written"):
        write_report(damaged, tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


# -- a database from a newer cinflow -----------------------------------------------

def test_a_database_with_an_unknown_migration_is_refused(db, registry, capsys):
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
                 "VALUES ('cinflow', 'm009_future_thing', '2030-01-01')")
    conn.commit()
    conn.close()
    before = _digest(db)
    expected = (f"{db} was written by a newer cinflow (migration m009_future_thing); this is cinflow "
                f"{cinflow.__version__} with migrations up to {KNOWN[-1]} (schema version {len(KNOWN)}); upgrade cinflow")
    for read_only in (False, True):
        with pytest.raises(StoreError) as caught:
            Store(db, registry, read_only=read_only)
        assert str(caught.value) == expected
    code, _, err = run(["due", "--db", str(db), "--as-of", "2026-06-01"], capsys)
    assert code == 2 and one_line(err) and "newer cinflow" in err
    code, _, err = run(["tick", "--db", str(db), "--as-of", "2026-06-01"], capsys)
    assert code == 2 and one_line(err) and "newer cinflow" in err
    assert _digest(db) == before


def test_a_database_with_a_newer_schema_version_is_refused(db, registry):
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version = 9")
    conn.close()
    with pytest.raises(StoreError, match=r"newer cinflow \(schema version 9\).*upgrade cinflow"):
        Store(db, registry)


def test_the_schema_version_is_recorded(db):
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(KNOWN)
    conn.close()


def test_another_applications_database_is_left_alone(tmp_path, registry):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    before = _digest(path)
    for read_only in (False, True):
        with pytest.raises(StoreError, match=r"is not a cinflow database \(it holds tables invoices\)"):
            Store(path, registry, read_only=read_only)
    assert _digest(path) == before


# -- other SQLite failures ----------------------------------------------------------

def test_a_full_disk_is_one_line_and_writes_nothing(db, registry, kent):
    with Store(db, registry) as store:
        pages = store.db.execute("PRAGMA page_count").fetchone()[0]
        store.db.execute(f"PRAGMA max_page_count = {pages}")  # as good as a full disk
        with pytest.raises(StoreError) as caught:
            store.add_many([_case(kent, f"F-{k}") for k in range(50)])
        assert str(caught.value).startswith(f"database {db}: the disk is full (")
        assert str(caught.value).endswith("; nothing was written") and one_line(str(caught.value))
        assert not [c for c in store.case_ids() if c.startswith("F-")]


def test_a_constraint_or_a_bad_query_is_a_store_error(db, registry, kent):
    with Store(db, registry) as store:
        with pytest.raises(StoreError, match="UNIQUE constraint failed.*; nothing was written"):
            store.add_many([_case(kent, "K-0")])
    with pytest.raises(StoreError, match="no such table: nope"):
        with Store(db, registry) as store:
            store.db.execute("SELECT * FROM nope")  # a caller's own query inside the with block


# -- read-only opening -------------------------------------------------------------

def test_read_only_reads_and_changes_no_byte(db, registry, kent):
    before = _digest(db)
    with Store(db, registry, read_only=True) as store:
        assert store.case_ids() == ["K-0", "K-1", "K-2"]
        assert store.load("K-1").id == "K-1"
        assert store.due(date(2026, 3, 20))
        store.check()
        with pytest.raises(StoreError, match="opened read-only; nothing was written"):
            store.add(_case(kent, "K-NEW"))
        with pytest.raises(StoreError, match="opened read-only"):
            store.advance(date(2040, 1, 1))
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            store.db.conn.execute("DELETE FROM cases")  # the connection itself cannot write either
    assert _digest(db) == before
    # SQLite's own WAL companions may appear next to a WAL database, never with anything in the log.
    wal = Path(f"{db}-wal")
    assert not wal.exists() or wal.stat().st_size == 0


def test_read_only_works_on_a_read_only_file(db, registry):
    os.chmod(db, 0o444)
    try:
        before = _digest(db)
        with Store(db, registry, read_only=True) as store:
            assert len(store.case_ids()) == 3
        assert _digest(db) == before
        if os.geteuid() != 0:  # root writes through file permissions
            with pytest.raises(StoreError, match="cannot open database"):
                Store(db, registry)
    finally:
        os.chmod(db, 0o644)


READER = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, sys.argv[2])
    from cinflow.errors import StoreError
    from cinflow.store import Store
    if os.geteuid() == 0:  # root reads and writes anything: be nobody (imports done first)
        os.setgid(65534)
        os.setuid(65534)
    with Store(sys.argv[1], {}, read_only=True) as store:
        print(",".join(store.case_ids()))
    try:
        Store(sys.argv[1], {})
    except StoreError as exc:
        print("refused:", exc)
""")


def test_read_only_reads_a_wal_database_in_a_read_only_folder(db):
    folder = Path(tempfile.mkdtemp(prefix="cinflow-ro-"))  # outside pytest's private tmp: nobody can reach it
    try:
        os.chmod(folder, 0o755)
        path = folder / "cases.db"
        shutil.copy(db, path)
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.close()
        assert _companions(path) == []  # no -wal: nobody is writing it
        before = _digest(path)
        os.chmod(path, 0o444)
        os.chmod(folder, 0o555)
        proc = subprocess.run([sys.executable, "-c", READER, str(path), str(REPO)], capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.splitlines()
        assert lines[0] == "K-0,K-1,K-2"
        assert lines[1].startswith(f"refused: cannot open database {path}")
        assert _digest(path) == before and _companions(path) == []
    finally:
        os.chmod(folder, 0o755)
        shutil.rmtree(folder)


def test_due_and_show_leave_an_empty_file_untouched(tmp_path, capsys):
    empty = tmp_path / "empty.db"
    empty.touch()
    for argv in (["due", "--db", str(empty), "--as-of", "2026-06-01"], ["show", "K-1", "--db", str(empty)]):
        code, _, err = run(argv, capsys)
        assert code == 2 and one_line(err) and f"{empty} is empty, not a cinflow database" in err
    assert empty.stat().st_size == 0 and _companions(empty) == []


def test_due_and_show_never_create_a_database(tmp_path, capsys):
    missing = tmp_path / "none.db"
    for argv in (["due", "--db", str(missing), "--as-of", "2026-06-01"], ["show", "K-1", "--db", str(missing)]):
        code, _, err = run(argv, capsys)
        assert code == 2 and "no such database" in err
    with pytest.raises(StoreError, match="no such database"):
        Store(missing, {}, read_only=True)
    assert list(tmp_path.iterdir()) == []


def _old_release(path: Path) -> None:
    from sqlite_utils import Database
    from sqlite_utils.migrations import Migrations

    old = Migrations("cinflow")
    old._migrations = [m for m in migrations._migrations if m.name in ("m001_initial", "m002_simulations")]
    db = Database(path)
    old.apply(db)
    db.close()


def test_read_only_migrates_an_older_database_it_may_write(tmp_path, registry):
    path = tmp_path / "old.db"
    _old_release(path)
    with Store(path, registry, read_only=True) as store:
        assert store.case_ids() == [] and "ended_on" in store.db["deadlines"].columns_dict
        assert [m.name for m in migrations.applied(store.db)] == KNOWN


def test_read_only_refuses_an_older_database_it_may_not_write(tmp_path, registry, monkeypatch):
    path = tmp_path / "old.db"
    _old_release(path)
    before = _digest(path)
    monkeypatch.setattr(store_module.os, "access", lambda *a, **k: False)
    with pytest.raises(StoreError) as caught:
        Store(path, registry, read_only=True)
    assert str(caught.value).startswith(f"{path} is a cinflow database from an older release "
                                        "(migrations up to m002_simulations) and cannot be migrated here")
    assert one_line(str(caught.value)) and _digest(path) == before
