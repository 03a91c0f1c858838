from datetime import date

import pytest

from helpers import Runner
from cinflow.plugins import Registry


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
