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


def start(db: Path) -> subprocess.Popen:
    """A simulation big enough to be stopped part-way, once it has written some
    cases and both its workers are running."""
    with open(db.parent / "stderr.txt", "wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cinflow.cli", "simulate", "--authority", "kent", "--referrals", "30000",
             "--workers", "2", "--quiet", "--db", str(db)],
            cwd=db.parent, start_new_session=True, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        wait_for(lambda: shard_folders(db.parent) and len(children(proc.pid)) >= 2 and cases_in(db) > 0, 120,
                 "the simulation to get going")
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
    workers = children(proc.pid)
    try:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(30)
        wait_for(lambda: not any(running(w) for w in workers), 15, "the workers to stop")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        for w in workers:
            if running(w):
                os.kill(w, signal.SIGKILL)
    err = (tmp_path / "stderr.txt").read_text()
    assert proc.returncode == 1 and "aborted" in err and "Traceback" not in err, err
    assert shard_folders(tmp_path) == []
    [(run_id, finished, summary)] = row(db)
    assert finished == 0 and has_due_index(db)
    # The summary on record is that of the cases written before it stopped.
    import json

    assert json.loads(summary)["cases"] == cases_in(db) > 0


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
