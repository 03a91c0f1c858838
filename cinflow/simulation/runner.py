"""Running a simulation: the cohort through each authority, in parallel, into
SQLite.

Work is cut into chunks of referrals; each chunk of each authority is one job.
Workers (processes) run cases and turn them into database rows and a
:class:`~cinflow.simulation.stats.Tally`; the parent writes the rows, one
transaction per chunk, in job order.  So the database and the summary are the
same whatever the number of workers, and a case never needs more memory than
its own chunk.

A run that does not finish says so and leaves nothing behind:

* its ``simulations`` row is written first, with ``finished = 0``; each
  chunk's transaction updates the row's summary to the cases written so far,
  and the last transaction sets ``finished = 1``.  ``cinflow census`` and
  ``cinflow report`` refuse a database with an unfinished run unless told
  ``--allow-incomplete`` (:func:`require_finished`);
* workers die with the parent, however it dies (a thread in each watches the
  parent; on Linux the kernel also kills them, ``PR_SET_PDEATHSIG``);
* SIGTERM and SIGHUP stop a run as Ctrl-C does (:class:`Stopped`): workers
  are stopped, the shard folder removed and the due-date index rebuilt;
* the shard folder (``cinflow-sim-<pid>-*`` beside the database, holding an
  ``owner`` file) of a run killed outright is removed by the next run in that
  folder, once its owner is dead.

Where the chunks run:

* in this process (``workers=1``);
* in a local pool of ``workers`` processes, forked where the platform can
  and spawned elsewhere (:data:`START_METHOD`).  Either way a worker builds
  its own context from a picklable :class:`_Spec` (the parameters, the
  loaded calibration, each policy's module name: the registry is loaded in
  the worker) and relies on nothing inherited from the parent;
* on a Dask cluster (``scheduler``: :mod:`cinflow.simulation.cluster`): the
  same chunks as futures; a remote worker cannot write into this machine's
  folder, so it returns its shard file's bytes and the parent writes them
  to its own shard folder before loading them.

And where they go: a store (``db_path``, one transaction per chunk) or a
folder of Parquet files (``out``, one file per table per chunk:
:mod:`cinflow.simulation.parquet`).  The shard files are the same bytes in
every case, loaded in job order, so the output does not depend on where
the chunks ran.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from datetime import date, timedelta
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path

from attrs import asdict, evolve, frozen

from ..calendar import add_months
from ..errors import InputError, StoreError
from ..store import Store, case_row, deadline_rows, event_rows, is_postgres
from ..store.bulk import write_shard
from ..errors import PluginError
from .calibration import load_calibration
from .cohort import Cohort
from .draws import Generator
from .practice import Practitioner
from .stats import Tally

CHUNK = 1000  # cases a chunk holds, at least (a small run's chunks)
CHUNK_MAX = 5000  # and at most (a worker holds a chunk's rows: about 8 KiB a case)
CHUNKS = 64  # between the two, a cohort is cut into about this many
MAX_WARM_UP = 120  # months
MAX_REPLICATES = 200
INTERVAL = 0.9  # the replicate interval the summary gives (5th to 95th percentile)
SHARD_PREFIX = "cinflow-sim-"
# Workers are forked where the platform can (quicker to start), spawned
# anywhere else; either way each builds its own context from a _Spec.
START_METHOD = "fork" if "fork" in get_all_start_methods() else "spawn"
OUTPUTS = ("sqlite", "parquet")
SHARD_SUFFIXES = {"sqlite": (".db",), "parquet": (".cases.parquet", ".events.parquet", ".deadlines.parquet")}
"""The files a chunk's shard is, by output: ``<shard><suffix>`` each."""
PARENT_POLL_SECONDS = 0.5


@frozen
class Parameters:
    authorities: tuple[str, ...]
    referrals: int
    start: date
    months: int
    seed: int
    calibration: str | None = None  # a file, or None for the shipped England figures
    # Months simulated before the window, so that it opens on a realistic
    # caseload; what happens in them is stored but not counted.
    warm_up: int = 0
    # Seeds run: seed, seed + 1, ...; the first replicate's cases are stored,
    # every replicate is counted (the summary gives medians and intervals).
    replicates: int = 1

    @property
    def end(self) -> date:
        """The first day after the window."""
        return add_months(self.start, self.months)

    @property
    def warm_up_start(self) -> date:
        """The first day simulated (the window's start without a warm-up)."""
        return add_months(self.start, -self.warm_up)

    def window(self) -> dict:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "warm_up_months": self.warm_up,
                "warm_up_start": self.warm_up_start.isoformat()}

    def as_dict(self) -> dict:
        d = asdict(self)
        d["authorities"] = list(self.authorities)
        d["start"] = self.start.isoformat()
        return d


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived during a simulation: it stops as Ctrl-C stops
    it (cleaned up, its run left marked unfinished)."""

    def __init__(self, signum: int):
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


class _Context:
    """Everything a worker needs, built once per process (per seed, for
    replicates: :meth:`for_seed`)."""

    def __init__(self, params: Parameters, registry, calibration=None):
        self.params = params
        self.registry = registry
        self.calibration = calibration or load_calibration(params.calibration)
        self.generator = Generator(params.seed)
        self.cohort = Cohort(self.calibration, self.generator, params.start, params.months, params.referrals,
                             params.warm_up)
        self.practitioners: dict[str, Practitioner] = {}
        self.prefixes = case_prefixes(params.authorities)
        self.replicas: dict[int, _Context] = {params.seed: self}

    def for_seed(self, seed: int) -> "_Context":
        """The same run with another seed (a replicate), made on first use."""
        ctx = self.replicas.get(seed)
        if ctx is None:
            ctx = self.replicas[seed] = _Context(evolve(self.params, seed=seed), self.registry, self.calibration)
        return ctx

    def practitioner(self, authority: str) -> Practitioner:
        pr = self.practitioners.get(authority)
        if pr is None:
            pr = Practitioner(self.registry[authority], self.calibration, self.generator, self.params.end)
            self.practitioners[authority] = pr
        return pr


@frozen
class _Spec:
    """What a worker needs to build its own context, all picklable: the
    run's parameters, the loaded calibration (so a worker on another
    machine needs no copy of the file), each authority's policy module (by
    name: the worker loads its own registry) and the shards' format."""

    params: Parameters
    calibration: object  # a Calibration
    policies: tuple[tuple[str, str], ...]  # (authority, module name)
    output: str = "sqlite"

    @classmethod
    def of(cls, params: Parameters, registry, calibration, output: str = "sqlite") -> "_Spec":
        return cls(params, calibration, tuple((a, registry.module(a).__name__) for a in params.authorities), output)


def worker_registry(policies) -> "object":
    """This process's registry, holding each ``(authority, module)`` of
    ``policies``: the installed policies, plus any the parent registered
    in-process (imported here by module name).  A policy installed here
    from another module than the parent's is an :class:`InputError`."""
    from ..plugins import Registry, import_module

    registry = Registry.load()
    for authority, module in policies:
        if authority in registry:
            try:
                found = registry.module(authority).__name__
            except PluginError as exc:
                raise InputError(f"on {socket.gethostname()}: {exc}") from None
            if found != module:
                raise InputError(f"on {socket.gethostname()}: policy {authority!r} is {found} here, {module} where the "
                                 "run started; install the same plugins everywhere")
        else:
            try:
                registry.add_module(import_module(module))
            except PluginError as exc:
                raise InputError(f"on {socket.gethostname()}: policy {authority!r}: {exc}") from None
    return registry


def worker_facts(policies) -> dict:
    """What a Dask client asks of each worker before a run: its cinflow's
    version, and whether it has the run's policies (None, or the problem)."""
    import cinflow

    try:
        worker_registry(policies)
        problem = None
    except (InputError, PluginError) as exc:
        problem = str(exc)
    return {"version": cinflow.__version__, "problem": problem}


def context_of(spec: _Spec) -> _Context:
    return _Context(spec.params, worker_registry(spec.policies), spec.calibration)


_CONTEXT: _Context | None = None  # the parent's, or a worker's own (built from _SPEC on first use)
_SPEC: _Spec | None = None  # a pool worker's (set by _worker_init)
_OUTPUT = "sqlite"  # the shards' format in this process


def _context() -> _Context:
    global _CONTEXT
    if _CONTEXT is None:
        if _SPEC is None:
            raise RuntimeError("a simulation chunk ran outside a simulation")
        _CONTEXT = context_of(_SPEC)
    return _CONTEXT


def case_prefixes(authorities) -> dict[str, str]:
    """Short, distinct case-id prefixes, so that ids fit the census's 20-character
    LAchildID: long ids use their initials (cheshire-west-and-chester -> cwac)."""
    out: dict[str, str] = {}
    for a in authorities:
        prefix = a if len(a) <= 11 else "".join(part[0] for part in a.split("-"))
        while prefix in out.values():
            prefix += "x"
        out[a] = prefix
    return out


def chunk_rows(ctx: _Context, seed: int, authority: str, lo: int, hi: int, stored: bool):
    """Run cases ``lo`` to ``hi`` (exclusive) of seed ``seed`` under
    ``authority``: their tally and, if ``stored``, their rows
    ``(cases, events, deadlines)`` (else None)."""
    ctx = ctx.for_seed(seed)
    prefix = ctx.prefixes[authority]
    pr = ctx.practitioner(authority)
    last_day = ctx.params.end - timedelta(days=1)
    cases, events, deadlines = [], [], []
    tally = Tally()
    for i in range(lo, hi):
        case = pr.run(ctx.cohort[i], f"{prefix}-{i:07d}")
        tally.add_case(case, last_day, ctx.params.start)
        if stored:
            cases.append(case_row(case))
            events.extend(event_rows(case))
            deadlines.extend(deadline_rows(case))
    return tally, ((cases, events, deadlines) if stored else None)


def write_shard_files(output: str, shard: str, rows) -> None:
    """A chunk's rows as its shard files (:data:`SHARD_SUFFIXES`)."""
    if output == "parquet":
        from .parquet import write_parts

        write_parts(shard, *rows)
    else:
        write_shard(shard + ".db", *rows)


def _run_chunk(job):
    """Run one chunk.  A stored chunk writes its rows to shard files of its
    own (so rows are never pickled between processes); a replicate's chunk
    (no shard) only counts.  Returns the shard and the tally."""
    seed, authority, lo, hi, shard = job
    tally, rows = chunk_rows(_context(), seed, authority, lo, hi, shard is not None)
    if shard is not None:
        write_shard_files(_OUTPUT, shard, rows)
    return seed, authority, hi - lo, shard, tally


def _summary(params: Parameters, calibration: str, summaries: dict[str, dict]) -> dict:
    return {
        "parameters": params.as_dict(),
        "window": params.window(),
        "calibration": calibration,
        "cases": sum(s["cases"] for s in summaries.values()),
        "cases_stored": sum(s["cases_stored"] for s in summaries.values()),
        "events": sum(s["events"] for s in summaries.values()),
        "deadlines": sum(s["deadlines"] for s in summaries.values()),
        "authorities": dict(summaries),
    }


def planned_cases(params: Parameters) -> int:
    """How many cases the run will store (every authority, warm-up included)."""
    cohort = Cohort(load_calibration(params.calibration), Generator(params.seed), params.start, params.months,
                    params.referrals, params.warm_up)
    return len(cohort) * len(params.authorities) * params.replicates


def seeds(params: Parameters) -> list[int]:
    return [params.seed + k for k in range(params.replicates)]


def default_warm_up(calibration) -> int:
    """Months of warm-up that bring a run to its steady caseload: the longest
    CIN plan the calibration draws (so by the window's start every kind of
    case the calibration makes has had time to open and close)."""
    return max(high for _, high, _ in calibration.durations.cin_plan_months.bands)


def simulate(params: Parameters, db_path: str | Path | None, registry, workers: int = 1, progress=None, *,
             out: str | Path | None = None, scheduler: str | None = None) -> dict:
    """Run the simulation, write it to ``db_path`` (a SQLite file, or a
    ``postgresql://`` URL: any store) or, instead, to ``out`` (a new or
    empty folder of Parquet files: :mod:`cinflow.simulation.parquet`), and
    return the summary.  The shard folder is made beside a SQLite file or
    the ``out`` folder, in the system's temporary folder for a server
    database.  The chunks run here (``workers=1``), in a local pool of
    ``workers`` processes, or, with ``scheduler`` (a Dask scheduler's
    address, ``tcp://HOST:PORT``), on that Dask cluster."""
    global _CONTEXT, _OUTPUT
    if (db_path is None) == (out is None):
        raise InputError("give a database (--db) or a Parquet folder (--out), one of the two")
    if params.referrals < 1:
        raise InputError("--referrals must be at least 1")
    if not 1 <= params.months <= 120:
        raise InputError("--months must be between 1 and 120")
    if not 0 <= params.warm_up <= MAX_WARM_UP:
        raise InputError(f"--warm-up must be between 0 and {MAX_WARM_UP} months")
    if not 1 <= params.replicates <= MAX_REPLICATES:
        raise InputError(f"--replicates must be between 1 and {MAX_REPLICATES}")
    for authority in params.authorities:
        registry[authority]  # unknown ids fail here, with the known ones listed
    started = time.perf_counter()
    output = "sqlite" if out is None else "parquet"
    if out is not None:
        from .parquet import check_out

        out = Path(out)
        check_out(out, create=True)  # a new or empty folder (made now), and pyarrow to write it
        folder = out.resolve().parent
    else:
        folder = Path(tempfile.gettempdir()) if is_postgres(db_path) else Path(db_path).resolve().parent
    client = None
    if scheduler:
        from .cluster import connect

        client = connect(scheduler)  # one line if there is no such cluster, before anything is written
    try:
        if folder.is_dir():
            remove_stale_shard_folders(folder)
        _CONTEXT = _Context(params, registry)
        _OUTPUT = output
        spec = _Spec.of(params, registry, _CONTEXT.calibration, output)
        if client is not None:
            from .cluster import check_workers

            check_workers(client, spec)
        with _stop_on_signals():
            if out is not None:
                from .parquet import ParquetOut

                summary = _simulate(params, ParquetOut(out), folder, workers, progress, spec, client)
            else:
                with Store(db_path, registry) as store:
                    summary = _simulate(params, _StoreSink(store), folder, workers, progress, spec, client)
    finally:
        _CONTEXT = None
        _OUTPUT = "sqlite"
        if client is not None:
            from .cluster import close

            close(client)
    summary["seconds"] = round(time.perf_counter() - started, 3)
    return summary


class _StoreSink:
    """Where a run's shards go: a store (one transaction per shard)."""

    def __init__(self, store: Store):
        self.store = store
        self.run: int | None = None

    def begin(self, parameters_json: str, summary_json: str) -> None:
        # The run is on record before any case is: unfinished until the last write
        # (checked and claimed in one write transaction: see Store.begin_simulation).
        self.run = self.store.begin_simulation(parameters_json, summary_json)

    def bulk_load_started(self) -> None:
        self.store.bulk_load_started()

    def bulk_load_finished(self) -> None:
        self.store.bulk_load_finished()

    def load(self, shard: str, summary_json: str) -> None:
        path = Path(shard + ".db")
        self.store.load_shard(path, self.run, summary_json)
        path.unlink()

    def finish(self, summary_json: str) -> None:
        self.store.finish_simulation(self.run, summary_json)


def _simulate(params: Parameters, sink, folder: Path, workers: int, progress, spec: _Spec, client=None) -> dict:
    calibration = _CONTEXT.calibration.name
    tallies = {a: Tally() for a in params.authorities}
    summaries = {a: t.summary(_CONTEXT.calibration, params.months) for a, t in tallies.items()}
    replicate_tallies = {(seed, a): Tally() for seed in seeds(params)[1:] for a in params.authorities}
    sink.begin(json.dumps(params.as_dict(), sort_keys=True),
               json.dumps(_summary(params, calibration, summaries), sort_keys=True))
    loaded = False
    try:
        # A bulk load may be faster without some indexes (SQLite's on due
        # dates); they are rebuilt at the end, also after a failure.
        sink.bulk_load_started()
        with _shard_folder(folder) as shards:
            with _results(_jobs(params, shards), workers, spec, client) as results:
                for seed, authority, n, shard, tally in results:
                    if shard is None:  # a further replicate: counted only
                        replicate_tallies[(seed, authority)].merge(tally)
                    else:
                        tallies[authority].merge(tally)
                        summaries[authority] = tallies[authority].summary(_CONTEXT.calibration, params.months)
                        sink.load(shard, json.dumps(_summary(params, calibration, summaries), sort_keys=True))
                    if progress is not None:
                        progress(n)
        loaded = True
    finally:
        try:
            sink.bulk_load_finished()
        except StoreError:
            if loaded:
                raise
            # after a failure, what failed is the news; the index is rebuilt where it can be
    summary = _summary(params, calibration, summaries)
    if params.replicates > 1:
        summary["replicates"] = _replicates(params, summaries, replicate_tallies)
    sink.finish(json.dumps(summary, sort_keys=True))
    return summary


def chunk_size(cases: int) -> int:
    """Cases per chunk for a cohort of ``cases``: from :data:`CHUNK` up to
    :data:`CHUNK_MAX`, about :data:`CHUNKS` chunks. Fewer, larger chunks
    cost the parent less (it merges each chunk's tally, recomputes the
    summary and copies the shard in); the size depends on the cohort alone,
    so a seed's database is the same on any machine."""
    return max(CHUNK, min(CHUNK_MAX, cases // CHUNKS))


def _jobs(params: Parameters, shards: Path) -> list[tuple]:
    """(seed, authority, first, last, shard) for every chunk: the stored
    replicate's chunks (each with its shard: the files' common stem, see
    :data:`SHARD_SUFFIXES`), then the other replicates' (no shard: counted,
    not stored)."""
    size = len(_CONTEXT.cohort)  # the window's referrals, then the warm-up's
    step = chunk_size(size)
    jobs = []
    for k, seed in enumerate(seeds(params)):
        for a in params.authorities:
            for lo in range(0, size, step):
                shard = str(shards / str(len(jobs))) if k == 0 else None
                jobs.append((seed, a, lo, min(lo + step, size), shard))
    return jobs


def _replicates(params: Parameters, stored: dict[str, dict], tallies: dict) -> dict:
    """Median and interval of each figure over the replicates, per authority."""
    from .stats import figures, intervals

    out = {}
    for a in params.authorities:
        runs = [figures(stored[a])] + [figures(tallies[(seed, a)].summary(_CONTEXT.calibration, params.months)) for seed in seeds(params)[1:]]
        out[a] = intervals(runs, INTERVAL)
    return {"n": params.replicates, "seeds": seeds(params), "interval": INTERVAL, "stored_seed": params.seed,
            "figures": out}


# -- unfinished runs ---------------------------------------------------------------

def unfinished_runs(store: Store) -> list[int]:
    """The ids of the simulation runs in ``store`` that did not finish."""
    return store.unfinished_simulations()


def require_finished(store: Store, allow_incomplete: bool = False) -> str | None:
    """Refuse (:class:`InputError`) a database holding a simulation that was
    stopped before it finished; with ``allow_incomplete``, return a warning
    line instead.  None when every run finished."""
    runs = unfinished_runs(store)
    if not runs:
        return None
    which = (f"run {runs[0]} was" if len(runs) == 1 else f"runs {', '.join(map(str, runs))} were")
    if not allow_incomplete:
        raise InputError(f"{store.path} holds an unfinished simulation ({which} stopped before it finished); "
                         "rerun it, or pass --allow-incomplete")
    return (f"{store.path} holds an unfinished simulation ({which} stopped before it finished): "
            "this covers only the cases written before it stopped")


# -- stopping cleanly --------------------------------------------------------------

@contextmanager
def _stop_on_signals():
    """SIGTERM and SIGHUP raise :class:`Stopped` (once) in the main thread, so
    that the run's clean-up runs; the handlers before are put back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    names = [s for s in ("SIGTERM", "SIGHUP") if hasattr(signal, s)]
    stopping = []

    def handler(signum, frame):
        if not stopping:  # a second signal during the clean-up does not cut it short
            stopping.append(signum)
            raise Stopped(signum)

    before = {}
    for name in names:
        sig = getattr(signal, name)
        previous = signal.getsignal(sig)
        if previous in (signal.SIG_DFL, None):  # leave a host's own handler (or SIG_IGN) alone
            before[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, previous in before.items():
            signal.signal(sig, previous)


@contextmanager
def _shard_folder(parent: Path):
    """A temporary folder for the shards beside the database, named and
    marked with its owner so that a later run can tell it was abandoned."""
    path = Path(tempfile.mkdtemp(prefix=f"{SHARD_PREFIX}{os.getpid()}-", dir=parent))
    try:
        (path / "owner").write_text(f"{os.getpid()} {_start_time(os.getpid()) or '-'} {socket.gethostname()}\n")
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def remove_stale_shard_folders(parent: Path) -> list[Path]:
    """Remove the shard folders in ``parent`` left by runs whose process is
    gone (killed outright, so their own clean-up never ran); return them."""
    removed = []
    host = socket.gethostname()
    for path in Path(parent).glob(f"{SHARD_PREFIX}*"):
        m = re.fullmatch(re.escape(SHARD_PREFIX) + r"(\d+)-.+", path.name)
        if m is None or not path.is_dir():
            continue
        pid, started = int(m[1]), None
        try:
            owner = (path / "owner").read_text().split()
        except OSError:
            owner = None
        if owner:
            if len(owner) > 2 and owner[2] != host:
                continue  # another machine's (a shared folder): not ours to judge
            if len(owner) > 1 and owner[1] != "-":
                started = owner[1]
        elif time.time() - _mtime(path) < 60:
            continue  # just made: its owner may not have written the owner file yet
        if pid == os.getpid() or _alive(pid, started):
            continue
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            removed.append(path)
    return removed


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks) from /proc, or None without /proc."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], fields[19]


def _start_time(pid: int) -> str | None:
    stat = _proc_stat(pid)
    return stat[1] if stat else None


def _alive(pid: int, started: str | None = None) -> bool:
    """Whether process ``pid`` runs (not a zombie), and is the one that
    started at ``started`` (so a reused pid does not count)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    except OSError:
        return False
    stat = _proc_stat(pid)
    if stat is None:
        return not Path("/proc/self/stat").exists()  # no /proc: trust the signal check
    state, start = stat
    if state in ("Z", "X", "x"):
        return False
    return started is None or start == started


# -- workers -------------------------------------------------------------------------

def _worker_init(parent: int, spec: _Spec) -> None:
    """Each worker's first act: die with ``parent``; then keep the spec it
    builds its own context from on first use (forked or spawned alike:
    nothing of the parent's context is used)."""
    global _CONTEXT, _SPEC, _OUTPUT
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it stops the workers
    for name in ("SIGTERM", "SIGHUP"):  # not the parent's handlers (a fork inherits them): just end
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    _die_with_parent(parent)
    _CONTEXT, _SPEC, _OUTPUT = None, spec, spec.output


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            PR_SET_PDEATHSIG = 1
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the watching thread below still does it
    if os.getppid() != parent:  # gone already, before the watch began
        os._exit(1)

    def watch():
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="cinflow-parent-watch", daemon=True).start()


@contextmanager
def _results(jobs, workers: int, spec: _Spec, client=None):
    """Job results in job order, with at most a few jobs in flight per worker.
    Leaving early (an error, a signal) stops the workers at once."""
    if client is not None:
        from .cluster import results

        with results(client, jobs, spec) as found:
            yield found
        return
    if workers <= 1:
        yield map(_run_chunk, jobs)
        return
    pool = ProcessPoolExecutor(workers, mp_context=get_context(START_METHOD), initializer=_worker_init,
                               initargs=(os.getpid(), spec))
    done = False
    try:
        yield _in_order(pool, jobs, workers)
        done = True
    finally:
        if not done:
            _stop_workers(pool)
        pool.shutdown(wait=True)


def _in_order(pool, jobs, workers: int):
    pending = deque()
    queue = iter(jobs)
    for job in queue:
        pending.append(pool.submit(_run_chunk, job))
        if len(pending) >= workers * 2:
            break
    while pending:
        try:
            result = pending.popleft().result()
        except BrokenProcessPool:
            raise StoreError("a simulation worker process died (killed, or out of memory); the run was stopped "
                             "and is recorded as unfinished") from None
        nxt = next(queue, None)
        if nxt is not None:
            pending.append(pool.submit(_run_chunk, nxt))
        yield result


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        if p.is_alive():
            p.terminate()
    deadline = time.monotonic() + 5
    for p in processes:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join(1)
