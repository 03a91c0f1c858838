"""The throwaway PostgreSQL server the tests run on is real and each test's
database is its own."""

import psycopg

SEEN = []


def test_a_database_is_a_real_empty_postgresql(postgres_url):
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        version = conn.execute("SHOW server_version_num").fetchone()[0]
        assert int(version) >= 130000
        assert conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'").fetchone() == (0,)
        conn.execute("CREATE TABLE mine (x int)")
    SEEN.append(postgres_url)


def test_another_test_does_not_see_it(postgres_url):
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        tables = conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'").fetchall()
    assert tables == [] and postgres_url not in SEEN
