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

from helpers import run, dump

START = date(2026, 4, 1)


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


# -- a Dask cluster ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def cluster():
    """A real two-worker cluster on this machine: separate processes, as on two machines."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      host="127.0.0.1") as c:
        yield c


def test_a_dask_run_is_the_local_run(tmp_path, capsys, cluster):
    local, remote = tmp_path / "local.db", tmp_path / "dask.db"
    code, out_local, err = run(["simulate", *SMALL, "--db", str(local), "--workers", "2"], capsys)
    assert code == 0, err
    code, out_remote, err = run(["simulate", *SMALL, "--db", str(remote), "--scheduler", cluster.scheduler_address],
                                capsys)
    assert code == 0, err
    assert summary_of(out_remote) == summary_of(out_local)
    assert dump(remote) == dump(local)
    conn = sqlite3.connect(remote)
    assert conn.execute("SELECT count(*), sum(finished) FROM simulations").fetchone() == (1, 1)
    assert conn.execute("SELECT count(*) FROM cases").fetchone()[0] == json.loads(out_local)["cases_stored"]
    conn.close()
    assert not list(tmp_path.glob("cinflow-sim-*"))  # its shard folder went with it


def test_a_dask_run_into_parquet_with_replicates_is_the_local_run(tmp_path, capsys, cluster):
    argv = [*SMALL, "--replicates", "2"]
    code, out_local, err = run(["simulate", *argv, "--out", str(tmp_path / "local"), "--workers", "2"], capsys)
    assert code == 0, err
    code, out_remote, err = run(["simulate", *argv, "--out", str(tmp_path / "dask"), "--scheduler",
                                 cluster.scheduler_address], capsys)
    assert code == 0, err
    assert summary_of(out_remote) == summary_of(out_local) and "replicates" in json.loads(out_remote)
    files = sorted(p.relative_to(tmp_path / "local") for p in (tmp_path / "local").rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "dask") for p in (tmp_path / "dask").rglob("*") if p.is_file())
    for f in files:  # every part, the summary, the manifest: the same bytes
        assert (tmp_path / "local" / f).read_bytes() == (tmp_path / "dask" / f).read_bytes(), f


def test_the_scheduler_env_var_is_the_option(tmp_path, capsys, cluster, monkeypatch):
    monkeypatch.setenv("CINFLOW_DASK_SCHEDULER", cluster.scheduler_address)
    code, out, err = run(["simulate", *SMALL[:6], "--db", str(tmp_path / "env.db"), "--quiet"], capsys)
    assert code == 0, err
    assert "on the Dask cluster at " + cluster.scheduler_address in out


def test_workers_with_another_cinflow_are_refused_in_one_line(tmp_path, capsys, cluster, monkeypatch):
    import cinflow

    theirs = cinflow.__version__
    monkeypatch.setattr(cinflow, "__version__", "0.0.0-elsewhere")
    code, _, err = run(["simulate", *SMALL, "--db", str(tmp_path / "v.db"), "--scheduler", cluster.scheduler_address],
                       capsys)
    assert code == 2 and err.count("\n") == 1
    assert f"has cinflow {theirs}, this machine 0.0.0-elsewhere: install the same version on every worker" in err
    assert not (tmp_path / "v.db").exists()


def test_workers_without_the_runs_policy_are_refused_in_one_line(tmp_path, cluster, monkeypatch):
    import importlib
    from pathlib import Path

    import policy_fixtures.strict_town

    # A policy module only this process can import: on its path since the workers started.
    (tmp_path / "only_here_town.py").write_text(Path(policy_fixtures.strict_town.__file__).read_text())
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry.load()
    registry.add_module(importlib.import_module("only_here_town"))
    params = Parameters(("strict-town",), 100, START, 12, 3, warm_up=0)
    with pytest.raises(runner.InputError) as caught:
        simulate(params, tmp_path / "p.db", registry, scheduler=cluster.scheduler_address)
    assert "policy 'strict-town': cannot import policy module 'only_here_town'" in str(caught.value)
    assert str(caught.value).startswith("Dask worker tcp://") and "\n" not in str(caught.value)


def test_a_scheduler_that_cannot_be_reached_is_one_line(tmp_path, capsys, monkeypatch):
    import socket

    from cinflow.simulation import cluster as dask_cluster

    monkeypatch.setattr(dask_cluster, "CONNECT_TIMEOUT", 1.0)
    with socket.socket() as s:  # a free port: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for address, message in ((f"tcp://127.0.0.1:{port}", "cannot reach a Dask scheduler there (connection refused"),
                             ("tcp://no-such-host.invalid:8786", "(no such host: "),  # .invalid never resolves
                             ("localhost", "is not a scheduler's address such as tcp://HOST:8786")):
        code, _, err = run(["simulate", *SMALL, "--db", str(tmp_path / "u.db"), "--scheduler", address], capsys)
        assert code == 2 and err.count("\n") == 1 and message in err and "Traceback" not in err, err
    assert not (tmp_path / "u.db").exists()
    # From the environment, the line names the variable the address came from.
    monkeypatch.setenv("CINFLOW_DASK_SCHEDULER", "localhost")
    code, _, err = run(["simulate", *SMALL, "--db", str(tmp_path / "u.db")], capsys)
    assert code == 2 and err.startswith("cinflow: error: CINFLOW_DASK_SCHEDULER 'localhost' is not a scheduler's"), err
    assert not (tmp_path / "u.db").exists()


def test_an_address_that_is_not_the_scheduler_is_one_line_not_a_hang(tmp_path, capsys, monkeypatch, cluster):
    """A Dask client waits for ever on a port that accepts a connection and
    never answers in Dask's protocol (a dashboard waiting for an HTTP
    request, say): cinflow asks what is there first."""
    import socket

    from cinflow.simulation import cluster as dask_cluster

    monkeypatch.setattr(dask_cluster, "CONNECT_TIMEOUT", 2.0)
    worker = next(iter(cluster.scheduler_info["workers"]))
    with socket.socket() as silent:  # accepts (the kernel does), never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        for address, message in ((f"tcp://127.0.0.1:{silent.getsockname()[1]}", "but not a Dask scheduler"),
                                 (worker, "that is a Dask worker, not the scheduler")):
            code, _, err = run(["simulate", *SMALL, "--db", str(tmp_path / "n.db"), "--scheduler", address], capsys)
            assert code == 2 and err.count("\n") == 1 and message in err and "Traceback" not in err, err
    assert not (tmp_path / "n.db").exists()


def test_a_server_that_answers_in_another_protocol_is_not_a_scheduler(tmp_path, capsys, monkeypatch):
    """A web server or a proxy that speaks first (HTTP's 400 Bad Request):
    Dask reads "HTTP/1.1" as a frame length and cannot allocate it."""
    import socket
    import threading

    pytest.importorskip("distributed")
    from cinflow.simulation import cluster as dask_cluster

    monkeypatch.setattr(dask_cluster, "CONNECT_TIMEOUT", 2.0)
    with socket.socket() as web:
        web.bind(("127.0.0.1", 0))
        web.listen(4)

        def answer():
            while True:
                try:
                    conn, _ = web.accept()
                except OSError:
                    return  # the test closed the socket
                with conn:
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n")

        threading.Thread(target=answer, daemon=True).start()
        code, _, err = run(["simulate", *SMALL, "--db", str(tmp_path / "h.db"), "--scheduler",
                            f"tcp://127.0.0.1:{web.getsockname()[1]}"], capsys)
    assert code == 2 and err.count("\n") == 1 and "but not a Dask scheduler" in err, err
    assert "MemoryError" not in err and not (tmp_path / "h.db").exists()


def test_without_the_dask_extra_scheduler_is_one_line(tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed: ImportError
    code, _, err = run(["simulate", *SMALL, "--db", str(tmp_path / "x.db"), "--scheduler", "tcp://127.0.0.1:8786"],
                       capsys)
    assert code == 2 and err == "cinflow: error: --scheduler needs the dask extra: pip install 'cinflow[dask]'\n"


@pytest.mark.parametrize("argv, message", [
    (["--db", "a.db", "--out", "dir"], "give --db or --out, not both"),
    ([], "give --db FILE (a new database) or --out DIR (a new folder of Parquet files)"),
    (["--db", "a.db", "--workers", "2", "--scheduler", "tcp://127.0.0.1:8786"],
     "give --workers (local processes) or --scheduler (a Dask cluster), not both"),
    (["--out", "full"], "--out full is not empty; simulations write to a new or empty folder"),
    (["--out", "file.txt"], "Invalid value for '--out': Directory 'file.txt' is a file"),
])
def test_bad_combinations_are_one_line(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    (tmp_path / "file.txt").write_text("x")
    code, _, err = run(["simulate", *SMALL, *argv], capsys)
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "a.db").exists() and not (tmp_path / "dir").exists()


def test_without_pyarrow_out_is_one_line(tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pyarrow", None)
    code, _, err = run(["simulate", *SMALL, "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and err == "cinflow: error: --out needs the parquet extra: pip install 'cinflow[parquet]'\n"


# -- Parquet out -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """The same run into a database and into a Parquet folder."""
    tmp = tmp_path_factory.mktemp("pq")
    args = ["simulate", "--authority", "kent", "--authority", "reading", "--referrals", "800", "--warm-up", "6",
            "--seed", "9", "--quiet", "--format", "json", "--workers", "2"]
    for name, where in (("db", ["--db", str(tmp / "run.db")]), ("pq", ["--out", str(tmp / "run")])):
        assert main([*args, *where]) == 0
    return tmp / "run.db", tmp / "run"


def test_the_parquet_folder_holds_the_databases_rows_and_summary(both):
    import pyarrow.dataset as ds

    db, folder = both
    conn = sqlite3.connect(db)
    stored = json.loads(conn.execute("SELECT summary FROM simulations").fetchone()[0])
    assert json.loads((folder / "summary.json").read_text()) == stored
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["finished"] is True and manifest["synthetic"] is True and manifest["summary"] == stored
    assert "SYNTHETIC DATA ONLY" in (folder / "README.txt").read_text()
    parts = sorted(p.name for p in (folder / "events").iterdir())
    assert parts == [f"part-{n:05d}.parquet" for n in range(manifest["parts"])] and len(parts) == 4  # 2 chunks each
    for table, order in (("cases", "id"), ("events", "case_id, seq"), ("deadlines", "case_id, seq")):
        columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
        t = ds.dataset(folder / table, format="parquet").to_table()
        assert sorted(t.column_names) == sorted(columns)
        rows = t.select(columns).to_pylist()
        key = [c.strip() for c in order.split(",")]
        rows.sort(key=lambda r: tuple(r[k] for k in key))
        expected = [dict(zip(columns, r)) for r in conn.execute(f"SELECT * FROM {table} ORDER BY {order}")]
        assert rows == expected, table
    conn.close()


def test_report_and_census_read_the_folder_as_the_database(both, tmp_path, capsys):
    db, folder = both
    for name, source in (("db", db), ("pq", folder)):
        code, _, err = run(["report", str(source), "--html", str(tmp_path / f"{name}.html"), "--case",
                            "reading-0000042"], capsys)
        assert code == 0, err
        for authority, la in (("kent", "886"), ("reading", "870")):
            code, _, err = run(["census", "--db", str(source), "--authority", authority, "--year", "2027", "--la", la,
                                "-o", str(tmp_path / f"{name}-{authority}.xml"), "--datetime", "2027-04-15T09:00:00"],
                               capsys)
            assert code == 0, err
    assert (tmp_path / "pq.html").read_bytes() == (tmp_path / "db.html").read_bytes()
    for authority in ("kent", "reading"):
        xml = (tmp_path / f"pq-{authority}.xml").read_bytes()
        assert xml == (tmp_path / f"db-{authority}.xml").read_bytes()
        assert b"simulated cases only: synthetic data" in xml.split(b"-->")[0]  # the folder's provenance, read


def test_an_unfinished_or_foreign_folder_is_refused_in_one_line(both, tmp_path, capsys):
    import shutil

    _, folder = both
    part = tmp_path / "part"
    shutil.copytree(folder, part)
    manifest = json.loads((part / "manifest.json").read_text())
    manifest["finished"] = False
    (part / "manifest.json").write_text(json.dumps(manifest))
    code, _, err = run(["report", str(part), "--html", str(tmp_path / "r.html")], capsys)
    assert code == 2 and "holds an unfinished simulation" in err and err.count("\n") == 1
    code, _, err = run(["report", str(part), "--html", str(tmp_path / "r.html"), "--allow-incomplete"], capsys)
    assert code == 0 and "warning" in err
    (part / "events" / "part-00001.parquet").unlink()
    code, _, err = run(["census", "--db", str(part), "--authority", "kent", "--year", "2027", "--la", "886", "-o",
                        str(tmp_path / "c.xml"), "--allow-incomplete"], capsys)
    assert code == 2 and "is damaged (events/part-00001.parquet is missing); nothing was written" in err
    assert err.count("\n") == 1
    code, _, err = run(["report", str(tmp_path), "--html", str(tmp_path / "r.html")], capsys)
    assert code == 2 and "not a simulation's --out folder" in err
