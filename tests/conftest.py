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
# (provisional: CINFLOW_TEST_POSTGRES names a server where the user may CREATE DATABASE)
import os
import uuid


@pytest.fixture
def postgres_url():
    base = os.environ.get("CINFLOW_TEST_POSTGRES")
    if not base:
        pytest.skip("no PostgreSQL server (set CINFLOW_TEST_POSTGRES)")
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield base.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
