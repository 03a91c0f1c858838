"""The throwaway PostgreSQL server the tests run on is real, each test's
database is its own and is dropped afterwards, and the server does not
outlive the process that started it."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psycopg
import pytest

import pgserver

SEEN = []


def tables(url):
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'").fetchall()


def databases(server):
    with psycopg.connect(server.url, autocommit=True) as conn:
        return {name for (name,) in conn.execute("SELECT datname FROM pg_database")}


def test_a_database_is_a_real_empty_postgresql(postgres_url):
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        version = conn.execute("SHOW server_version_num").fetchone()[0]
        assert int(version) >= 130000  # DROP DATABASE ... WITH (FORCE)
        assert tables(postgres_url) == []
        conn.execute("CREATE TABLE mine (x int)")
        conn.execute("INSERT INTO mine VALUES (1)")
    SEEN.append(postgres_url)


def test_another_test_does_not_see_it(postgres_url):
    assert tables(postgres_url) == [] and postgres_url not in SEEN


def test_two_databases_at_once_are_apart_and_each_is_dropped(postgres_server, postgres_url):
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE mine (x int)")
    other = postgres_server.create_database()
    left_open = psycopg.connect(other)  # a test that forgets to close its connection
    try:
        assert tables(other) == [] and tables(postgres_url) == [("mine",)]
        postgres_server.drop_database(other)
        assert pgserver.database_url(other, "x").rsplit("/", 1)[0] == postgres_url.rsplit("/", 1)[0]
        assert other.rsplit("/", 1)[1] not in databases(postgres_server)
    finally:
        left_open.close()


def test_a_database_url_keeps_host_user_and_options():
    assert pgserver.database_url("postgresql://u:pw@db.local:5433", "t_1") == "postgresql://u:pw@db.local:5433/t_1"
    assert (pgserver.database_url("postgresql://u@h/cin?sslrootcert=/etc/ca.pem", "t_1")
            == "postgresql://u@h/t_1?sslrootcert=/etc/ca.pem")


STARTER = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, sys.argv[1])
    import pgserver
    server = pgserver.start()
    print(server.folder, server.url, flush=True)
    os.kill(os.getpid(), 9)
""")


def test_a_killed_starter_leaves_no_server_behind(postgres_server):
    if postgres_server.folder is None:
        pytest.skip("CINFLOW_TEST_POSTGRES names an existing server: nothing is started")
    proc = subprocess.run([sys.executable, "-c", STARTER, str(Path(__file__).parent)], capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    folder, url = proc.stdout.split()
    for _ in range(600):  # the watchdog stops it and removes the folder; bounded, not timed
        if not os.path.exists(folder):
            break
        time.sleep(0.1)
    assert not os.path.exists(folder)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=5)
