"""A simulation that is killed, stopped or fails leaves nothing running and
nothing behind, and says in its database that it did not finish."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from cinflow.plugins import Registry
from cinflow.simulation import Parameters, runner, simulate

from helpers import run

pytestmark = pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")

REGISTRY = Registry.load()
MESSAGE = "holds an unfinished simulation (run 1 was stopped before it finished); rerun it, or pass --allow-incomplete"


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def children(pid: int) -> set[int]:
    out = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out |= {int(c) for c in (task / "children").read_text().split()}
        except OSError:
            pass
    return out


def tracker(pid: int) -> bool:
    """Whether ``pid`` is multiprocessing's resource tracker."""
    try:
        return b"resource_tracker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie waits for whoever adopts it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def cases_in(db: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute("SELECT count(*) FROM cases").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def shard_folders(folder: Path) -> list[Path]:
    return sorted(folder.glob("cinflow-sim-*"))


def _interruptible():
    """In the child, before it runs: Ctrl-C's signal at its default, whatever
    this process inherited (a shell's background job ignores SIGINT, and so
    would the simulation started from it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(db: Path, where=("--workers", "2"), ready=None) -> subprocess.Popen:
    """A simulation big enough to be stopped part-way (into ``db``, or a
    Parquet folder of that name with ``--out`` in ``where``), once
    ``ready()`` (default: it has written some cases and both its workers are
    running); ``ready`` is given the process."""
    output = ["--db", str(db)] if "--out" not in where else []
    with open(db.parent / "stderr.txt", "wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cinflow.cli", "simulate", "--authority", "kent", "--referrals", "30000",
             *where, "--quiet", *output],
            cwd=db.parent, start_new_session=True, stdout=subprocess.DEVNULL, stderr=stderr,
            preexec_fn=_interruptible)
    if ready is None:
        def ready(proc):
            return shard_folders(db.parent) and len(children(proc.pid)) >= 2 and cases_in(db) > 0
    try:
        wait_for(lambda: ready(proc), 120, "the simulation to get going")
    except BaseException:
        proc.kill()
        proc.wait(10)
        raise
    return proc


def row(db: Path) -> tuple:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT id, finished, summary FROM simulations").fetchall()
    finally:
        conn.close()


def has_due_index(db: Path) -> bool:
    conn = sqlite3.connect(db)
    try:
        return bool(conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'idx_deadlines_due'")
                    .fetchall())
    finally:
        conn.close()


def test_a_killed_run_leaves_no_workers_its_folder_goes_next_time_and_it_is_refused(tmp_path, capsys):
    db = tmp_path / "sim.db"
    proc = start(db)
    workers = children(proc.pid)
    try:
        os.kill(proc.pid, signal.SIGKILL)  # the parent only: nothing of its own runs after this
        proc.wait(10)
        wait_for(lambda: not any(running(w) for w in workers), 15, f"workers {sorted(workers)} to end with their parent")
    finally:
        for w in workers:  # never leave a stray process behind, whatever failed
            if running(w):
                os.kill(w, signal.SIGKILL)
    left = shard_folders(tmp_path)
    assert len(left) == 1 and (left[0] / "owner").read_text().split()[0] == str(proc.pid)
    [(run_id, finished, _)] = row(db)
    assert (run_id, finished) == (1, 0)

    # census and report refuse it, in one line, unless asked.
    xml, page = tmp_path / "census.xml", tmp_path / "report.html"
    census = ["census", "--db", str(db), "--year", "2027", "--la", "886", "-o", str(xml), "--datetime",
              "2027-04-15T09:00:00"]
    for argv, out in ((census, xml), (["report", str(db), "--html", str(page)], page)):
        code, _, err = run(argv, capsys)
        assert code == 2 and err.strip().splitlines() == [f"cinflow: error: {db}{' ' + MESSAGE}"], err
        assert not out.exists()
        code, _, err = run([*argv, "--allow-incomplete"], capsys)
        assert code == 0 and out.exists(), err
    code, text, err = run([*census, "--allow-incomplete"], capsys)
    assert code == 0 and "warning" in err and "before it stopped" in err  # census says what it covers

    # The next run in that folder removes the dead run's shards, and its own.
    code, _, err = run(["simulate", "--authority", "kent", "--referrals", "20", "--quiet", "--db",
                        str(tmp_path / "again.db")], capsys)
    assert code == 0, err
    assert shard_folders(tmp_path) == []


def test_sigterm_stops_cleanly_and_marks_the_run_unfinished(tmp_path):
    db = tmp_path / "sim.db"
    proc = start(db)
    stop(proc, signal.SIGTERM, children(proc.pid))
    err = (tmp_path / "stderr.txt").read_text()
    assert proc.returncode == 1 and "aborted" in err and "Traceback" not in err, err
    assert shard_folders(tmp_path) == []
    [(run_id, finished, summary)] = row(db)
    assert finished == 0 and has_due_index(db)
    # The summary on record is that of the cases written before it stopped.
    import json

    assert json.loads(summary)["cases"] == cases_in(db) > 0


def stop(proc: subprocess.Popen, signum: int, workers=(), group: bool = False) -> None:
    """Send ``signum`` to the command (``group``: to its whole process
    group, as a terminal's Ctrl-C does), wait for it and its ``workers`` to
    end; whatever fails, leave no process behind."""
    try:
        if group:
            os.killpg(proc.pid, signum)
        else:
            os.kill(proc.pid, signum)
        proc.wait(30)
        wait_for(lambda: not any(running(w) for w in workers), 15, "the workers to stop")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        for w in workers:
            if running(w):
                os.kill(w, signal.SIGKILL)


def ctrl_c(proc: subprocess.Popen, workers=()) -> None:
    stop(proc, signal.SIGINT, workers, group=True)


def parts_in(folder: Path) -> int:
    import json

    try:
        return json.loads((folder / "manifest.json").read_text())["parts"]
    except (OSError, ValueError, KeyError):
        return 0


def test_ctrl_c_on_a_parquet_run_leaves_a_folder_that_says_it_is_unfinished(tmp_path, capsys):
    out = tmp_path / "out"
    proc = start(out, ("--workers", "2", "--out", str(out)), lambda p: len(children(p.pid)) >= 2 and parts_in(out) > 0)
    ctrl_c(proc, children(proc.pid))
    err = (tmp_path / "stderr.txt").read_text()
    assert proc.returncode == 1 and "aborted" in err and "Traceback" not in err, err
    assert shard_folders(tmp_path) == []
    import json

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["finished"] is False and manifest["parts"] == len(list((out / "cases").glob("*.parquet"))) > 0
    code, _, err = run(["report", str(out), "--html", str(tmp_path / "r.html")], capsys)
    assert code == 2 and "holds an unfinished simulation" in err, err
    code, _, err = run(["simulate", "--authority", "kent", "--referrals", "20", "--out", str(out)], capsys)
    assert code == 2 and "is not empty" in err, err  # what was written stays as it was


@pytest.fixture
def cluster():
    """A real two-worker cluster, for one test (its workers are this process's
    children, which other tests here count)."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  host="127.0.0.1") as c:
        yield c


def test_ctrl_c_on_a_dask_run_stops_it_and_leaves_the_cluster_usable(tmp_path, capsys, cluster):
    db = tmp_path / "sim.db"
    proc = start(db, ("--scheduler", cluster.scheduler_address), lambda p: cases_in(db) > 0)
    ctrl_c(proc)
    err = (tmp_path / "stderr.txt").read_text()
    assert proc.returncode == 1 and "aborted" in err and "Traceback" not in err, err
    assert shard_folders(tmp_path) == []
    [(_, finished, _)] = row(db)
    assert finished == 0 and has_due_index(db)
    # The chunks it had sent were cancelled: the next run has the cluster to itself.
    from helpers import dump

    small = ["simulate", "--authority", "kent", "--referrals", "200", "--quiet"]
    code, _, err = run([*small, "--db", str(tmp_path / "again.db"), "--scheduler", cluster.scheduler_address], capsys)
    assert code == 0, err
    code, _, err = run([*small, "--db", str(tmp_path / "local.db")], capsys)
    assert code == 0, err
    assert dump(tmp_path / "again.db") == dump(tmp_path / "local.db")


def test_a_failing_run_cleans_up_and_records_it_did_not_finish(tmp_path, monkeypatch):
    db = tmp_path / "fail.db"
    calls = []

    def progress(n):
        calls.append(n)
        if len(calls) == 2:
            raise RuntimeError("the host fell over")

    with pytest.raises(RuntimeError):
        simulate(Parameters(("kent",), 3000, date(2026, 4, 1), 12, 3), db, REGISTRY, workers=2, progress=progress)
    assert shard_folders(tmp_path) == [] and has_due_index(db)
    [(_, finished, _)] = row(db)
    assert finished == 0
    # The workers were stopped (multiprocessing's resource tracker, which a spawned pool earlier in this
    # process starts and which lives as long as the process, is not a worker).
    assert not [p for p in children(os.getpid()) if running(p) and not tracker(p)]


def test_a_finished_run_is_finished_and_its_cases_simulated(tmp_path):
    db = tmp_path / "ok.db"
    simulate(Parameters(("kent", "reading"), 1200, date(2026, 4, 1), 12, 3), db, REGISTRY, workers=2)
    [(_, finished, _)] = row(db)
    assert finished == 1 and has_due_index(db) and shard_folders(tmp_path) == []
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT provenance, count(*) FROM cases GROUP BY 1").fetchall() == [("simulated", 2400)]
    conn.close()


def test_only_dead_owners_folders_are_removed(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(10)
    mine = tmp_path / f"cinflow-sim-{os.getpid()}-abc"
    gone = tmp_path / f"cinflow-sim-{dead.pid}-def"
    reused = tmp_path / f"cinflow-sim-{os.getppid()}-ghi"  # a live pid, but not the process that made it
    other = tmp_path / "cinflow-sim-elsewhere"  # not named by a pid: not ours to judge
    for folder, owner in ((mine, f"{os.getpid()} {runner._start_time(os.getpid())} {os.uname().nodename}"),
                          (gone, f"{dead.pid} 1 {os.uname().nodename}"), (reused, f"{os.getppid()} 1 {os.uname().nodename}"),
                          (other, None)):
        folder.mkdir()
        if owner:
            (folder / "owner").write_text(owner + "\n")
    import socket

    if socket.gethostname() != os.uname().nodename:
        pytest.skip("hostname and nodename differ here")
    removed = runner.remove_stale_shard_folders(tmp_path)
    assert sorted(removed) == sorted([gone, reused]) and mine.exists() and other.exists()


def test_workers_exit_when_their_parent_goes(tmp_path):
    """The watch each worker starts: a process whose parent dies exits by itself
    (here with the kernel's death signal cleared, so the watching thread does it)."""
    code = (
        "import os, sys, time, ctypes\n"
        "from cinflow.simulation import runner\n"
        "runner.PARENT_POLL_SECONDS = 0.05\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    parent = os.getppid()\n"
        "    pid2 = os.fork()\n"
        "    if pid2 == 0:\n"
        "        me = os.getppid()\n"
        "        runner.sys.platform = 'other'\n"  # no PR_SET_PDEATHSIG: the thread alone
        "        runner._die_with_parent(me)\n"
        f"        open({str(tmp_path / 'pid')!r}, 'w').write(str(os.getpid()))\n"
        "        time.sleep(30)\n"
        "        os._exit(0)\n"
        "    time.sleep(0.5)\n"
        "    os._exit(0)\n"  # the middle process dies; its child must follow
        "os.waitpid(pid, 0)\n"
    )
    subprocess.run([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    grandchild = int(wait_for(lambda: (tmp_path / "pid").exists() and (tmp_path / "pid").read_text(), 10, "its pid"))
    wait_for(lambda: not running(grandchild), 10, "the orphaned worker to exit")


def test_spawned_workers_give_the_same_run(tmp_path, monkeypatch):
    """Where workers cannot be forked they are spawned, build their own context
    and watch their parent the same way; the run is the same."""
    params = Parameters(("kent",), 1500, date(2026, 4, 1), 12, 5)
    forked = simulate(params, tmp_path / "fork.db", REGISTRY, workers=1)
    monkeypatch.setattr(runner, "START_METHOD", "spawn")
    spawned = simulate(params, tmp_path / "spawn.db", REGISTRY, workers=2)
    forked.pop("seconds"), spawned.pop("seconds")
    assert spawned == forked and row(tmp_path / "spawn.db")[0][1] == 1


def test_two_simulations_started_on_one_new_database_cannot_both_run(tmp_path):
    import subprocess
    import sys

    db = tmp_path / "same.db"
    cmd = [sys.executable, "-m", "cinflow", "simulate", "--authority", "kent", "--referrals", "1500", "--quiet",
           "--db", str(db)]
    procs = [subprocess.Popen(cmd + ["--seed", str(seed)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for seed in (1, 2)]
    results = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
    codes = sorted(r[2] for r in results)
    assert codes == [0, 2], results
    loser = next(r for r in results if r[2] == 2)
    assert loser[1].count("\n") == 1 and ("already" in loser[1])
    import sqlite3

    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*), min(finished) FROM simulations").fetchone() == (1, 1)
    conn.close()
