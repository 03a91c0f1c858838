import pytest
from hypothesis import HealthCheck, settings

from helpers import Runner
from cinflow.plugins import Registry

# Property tests must not flake on a busy machine: no per-example deadline and
# no health check on generation speed (the README's test command is CI's).
settings.register_profile("cinflow", deadline=None, suppress_health_check=list(HealthCheck))
settings.load_profile("cinflow")


@pytest.fixture(scope="session")
def registry():
    """Every installed policy (assembled policies are immutable, so one is shared)."""
    return Registry.load()


@pytest.fixture(scope="session")
def kent(registry):
    return registry["kent"]


@pytest.fixture
def make_runner():
    return Runner


# -- PostgreSQL ------------------------------------------------------------------

@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL server for the session (tests/pgserver.py), or
    the one CINFLOW_TEST_POSTGRES names.  In CI a missing server fails the
    tests; on a developer's machine they are skipped with the reason."""
    import os

    import pgserver

    try:
        server = pgserver.start()
    except pgserver.Unavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is needed in CI: {exc}", pytrace=False)
        pytest.skip(f"no PostgreSQL: {exc}")
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server):
    """A fresh, empty database on that server, dropped afterwards."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)
