"""Wherever the chunks run (this process, forked or spawned workers, a Dask
cluster) and wherever they go (a database, a folder of Parquet files), the
same seed gives the same rows and the same summary."""

import json
import sqlite3
from datetime import date

import pytest

from cinflow.cli import main
from cinflow.plugins import Registry
from cinflow.simulation import Parameters, runner, simulate

START = date(2026, 4, 1)


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def dump(path) -> list[str]:
    """The database's content as SQL, less the time each schema migration was
    applied (sqlite-utils records it)."""
    conn = sqlite3.connect(path)
    try:
        return [line for line in conn.iterdump() if '"_sqlite_migrations" VALUES' not in line]
    finally:
        conn.close()


def summary_of(out: str) -> str:
    doc = json.loads(out)
    doc.pop("seconds")
    return json.dumps(doc, sort_keys=True)


SMALL = ["--authority", "kent", "--authority", "wirral", "--referrals", "300", "--warm-up", "3", "--seed", "5",
         "--quiet", "--format", "json"]


# -- the local pool: spawned workers are the tested path ---------------------------------

def test_spawned_forked_and_single_process_runs_are_the_same(tmp_path, capsys, monkeypatch):
    dumps, outs = {}, {}
    for name, workers, method in (("one", 1, None), ("fork", 2, "fork"), ("spawn", 2, "spawn")):
        if method == "fork" and "fork" not in runner.get_all_start_methods():
            continue
        if method:
            monkeypatch.setattr(runner, "START_METHOD", method)
        db = tmp_path / f"{name}.db"
        code, out, err = run(["simulate", *SMALL, "--db", str(db), "--workers", str(workers)], capsys)
        assert code == 0, err
        dumps[name], outs[name] = dump(db), summary_of(out)
    assert len({json.dumps(d) for d in dumps.values()}) == 1
    assert len(set(outs.values())) == 1


def test_spawned_workers_load_a_policy_registered_in_process(tmp_path, monkeypatch):
    """A spawned worker inherits nothing: it loads the installed policies
    itself and imports, by name, one the parent registered in-process."""
    from policy_fixtures import strict_town

    registry = Registry.load()
    registry.add_module(strict_town)
    params = Parameters(("strict-town", "kent"), 200, START, 12, 3, warm_up=2)
    alone = simulate(params, tmp_path / "one.db", registry, workers=1)
    monkeypatch.setattr(runner, "START_METHOD", "spawn")
    spawned = simulate(params, tmp_path / "spawn.db", registry, workers=2)
    alone.pop("seconds"), spawned.pop("seconds")
    assert spawned == alone and dump(tmp_path / "spawn.db") == dump(tmp_path / "one.db")


def test_a_worker_without_the_parents_policy_says_so_in_one_line():
    with pytest.raises(runner.InputError, match="policy 'nowhere-town'.*cannot import policy module 'no_such_module'"):
        runner.worker_registry((("nowhere-town", "no_such_module"),))
    with pytest.raises(runner.InputError, match="policy 'kent' is cinflow_policies.kent here, elsewhere.kent where"):
        runner.worker_registry((("kent", "elsewhere.kent"),))
