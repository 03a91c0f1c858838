"""A Dask run whose chunks all run on another machine gives the local run's
database.

Two machines on this one, made of Linux namespaces: machine A (its own
network namespace) runs the Dask scheduler and ``cinflow simulate``;
machine B (another network namespace, reached over a virtual Ethernet link)
has its own host name and its own empty ``/tmp`` (a private mount
namespace), and runs the only Dask worker; an empty folder is mounted
over the tests' temporary folders there, so B sees none of the client's
files.  So every chunk crosses a network, runs where the client's shard
folder does not exist, and comes back as bytes, as on two real machines.
(Only those folders: the Python that runs the worker may itself be under
``/tmp``.)  Needs root and ``ip``/``unshare``
(iproute2, util-linux); skipped without them."""

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import dump, run

pytest.importorskip("distributed")

PID = os.getpid() % 100_000
NS_A, NS_B = f"cfa{PID}", f"cfb{PID}"
NET = f"10.213.{PID % 250}"
A, B = f"{NET}.1", f"{NET}.2"
SCHEDULER = f"tcp://{A}:8786"
DASK = Path(sys.executable).with_name("dask")


def sh(*argv, check=True):
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=60)


def can_make_namespaces() -> str | None:
    """Why these machines cannot be made here, or None."""
    if os.geteuid() != 0:
        return "needs root (network and mount namespaces)"
    for tool in ("ip", "unshare", "mount"):
        if shutil.which(tool) is None:
            return f"needs {tool}"
    if not DASK.exists():
        return f"needs the dask command beside {sys.executable}"
    probe = f"cfp{PID}"
    made = sh("ip", "netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"cannot make a network namespace: {made.stderr.strip()}"
    sh("ip", "netns", "del", probe, check=False)
    return None


WHY = can_make_namespaces()
pytestmark = pytest.mark.skipif(WHY is not None, reason=WHY or "")


def in_a(*argv) -> list[str]:
    return ["ip", "netns", "exec", NS_A, *argv]


def wait_for_worker(log: Path, timeout: float = 90) -> None:
    """Until the scheduler on A has a worker, asked from A."""
    code = (f"from distributed import Client\n"
            f"c = Client({SCHEDULER!r}, timeout=30)\n"
            f"c.wait_for_workers(1, timeout={timeout})\n"
            f"import socket\n"
            f"print(sorted(c.run(socket.gethostname).values()))\n"
            f"c.close()\n")
    deadline = time.monotonic() + timeout
    while True:
        done = subprocess.run(in_a(sys.executable, "-c", code), capture_output=True, text=True, timeout=timeout + 30)
        if done.returncode == 0:
            assert done.stdout.strip() == "['machine-b']", done.stdout  # the only worker is on B
            return
        if time.monotonic() > deadline:
            pytest.fail(f"no worker reached the scheduler on {SCHEDULER}; machine B's worker said: "
                        f"{log.read_text()[-1500:]}")
        time.sleep(1)


@pytest.fixture(scope="module")
def two_machines(tmp_path_factory):
    logs = tmp_path_factory.mktemp("machines")
    procs = []
    try:
        try:  # the two machines' network: what this host does not allow is a skip, not a failure
            for ns in (NS_A, NS_B):
                sh("ip", "netns", "add", ns)
            sh("ip", "link", "add", f"{NS_A}v", "type", "veth", "peer", "name", f"{NS_B}v")
            for ns, ip in ((NS_A, A), (NS_B, B)):
                sh("ip", "link", "set", f"{ns}v", "netns", ns)
                sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", f"{ns}v")
                sh("ip", "-n", ns, "link", "set", f"{ns}v", "up")
                sh("ip", "-n", ns, "link", "set", "lo", "up")
        except subprocess.CalledProcessError as exc:
            pytest.skip(f"cannot make the two machines' network here: {' '.join(exc.cmd)}: {exc.stderr.strip()}")

        def start(argv, log):
            with open(logs / log, "wb") as out:
                procs.append(subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True))

        start(in_a(str(DASK), "scheduler", "--host", A, "--port", "8786", "--dashboard-address", ":0"), "a-scheduler.log")
        hidden = tmp_path_factory.getbasetemp()  # every test's tmp_path is under it
        worker = (f"hostname machine-b && mount -t tmpfs tmpfs {shlex.quote(str(hidden))} && cd {shlex.quote(str(hidden))} "
                  f"&& exec {shlex.quote(str(DASK))} worker {SCHEDULER} --host {B} --nthreads 1 --nworkers 1 "
                  "--dashboard-address :0")
        start(["ip", "netns", "exec", NS_B, "unshare", "--uts", "--mount", "--propagation", "private", "sh", "-c", worker],
              "b-worker.log")
        wait_for_worker(logs / "b-worker.log")
        yield SCHEDULER
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for ns in (NS_A, NS_B):
            sh("ip", "netns", "del", ns, check=False)  # takes its end of the link with it


def test_every_chunk_on_another_machine_gives_the_local_database(two_machines, tmp_path, capsys):
    argv = ["simulate", "--authority", "kent", "--authority", "wirral", "--referrals", "1500", "--warm-up", "2",
            "--seed", "11", "--quiet"]
    remote = tmp_path / "remote.db"
    done = subprocess.run(in_a(sys.executable, "-m", "cinflow", *argv, "--db", str(remote), "--scheduler", two_machines),
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    code, _, err = run([*argv, "--db", str(tmp_path / "local.db"), "--workers", "2"], capsys)
    assert code == 0, err
    assert dump(remote) == dump(tmp_path / "local.db")
    assert not list(tmp_path.glob("cinflow-sim-*"))


def test_a_parquet_run_on_another_machine_is_the_local_one(two_machines, tmp_path, capsys):
    import pyarrow.parquet as pq

    argv = ["simulate", "--authority", "kent", "--referrals", "1200", "--warm-up", "0", "--seed", "4", "--quiet"]
    done = subprocess.run(in_a(sys.executable, "-m", "cinflow", *argv, "--out", str(tmp_path / "remote"),
                               "--scheduler", two_machines), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    code, _, err = run([*argv, "--out", str(tmp_path / "local")], capsys)
    assert code == 0, err
    for table in ("cases", "events", "deadlines"):
        parts = sorted(p.name for p in (tmp_path / "local" / table).glob("*.parquet"))
        assert parts and parts == sorted(p.name for p in (tmp_path / "remote" / table).glob("*.parquet"))
        for part in parts:
            assert (pq.read_table(tmp_path / "remote" / table / part).to_pylist()
                    == pq.read_table(tmp_path / "local" / table / part).to_pylist())
