"""A simulation's chunks on a Dask cluster (``cinflow simulate --scheduler``).

The client (this process) connects to an existing scheduler
(``distributed.Client(address)``: ``dask scheduler`` and ``dask worker`` on
any machines, or a cluster from dask-kubernetes or dask-jobqueue), checks that
every worker has the same cinflow and the run's policies, and submits the
same jobs a local run makes, as futures, a few per worker thread at a time.
A worker builds its context from the run's :class:`~.runner._Spec` (sent
once to every worker: the parameters, the loaded calibration, the policies'
module names), runs the chunk and returns its shard files' *bytes* (a
worker on another machine cannot write into this machine's folder); the
client writes them to its own shard folder and loads them in job order, as
for a local run.  So the database (or Parquet folder) and the summary are
the same as a local run's with the same seed.

Dask is an optional extra: ``pip install 'cinflow[dask]'``.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import socket
import tempfile
import threading
import zlib
from collections import deque
from contextlib import contextmanager
from pathlib import Path

from ..errors import CinflowError, InputError, StoreError

EXTRA = "--scheduler needs the dask extra: pip install 'cinflow[dask]'"
SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")
"""The addresses a scheduler on another machine can have."""
CONNECT_TIMEOUT = 10.0
"""Seconds to reach the scheduler, and to wait for its first worker."""
IN_FLIGHT_PER_THREAD = 2
"""Chunks submitted and not yet loaded, per worker thread: memory stays flat."""
COMPRESSED = (".db",)
"""Shard files sent compressed (SQLite's pages; Parquet files are compressed already)."""


def _one_line(exc: BaseException | str) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _distributed():
    try:
        import distributed
    except ImportError:
        raise InputError(EXTRA) from None
    return distributed


def connect(address: str):
    """A client of the scheduler at ``address``, or a one-line
    :class:`InputError` (no dask extra; nothing answering there)."""
    distributed = _distributed()
    check_scheduler(address)  # a Client would wait for ever on a port that is not a scheduler's
    try:
        return distributed.Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except Exception as exc:  # OSError, TimeoutError, ValueError (a bad address): all one line
        raise _unreachable(address, exc) from None


def check_scheduler(address: str, given_as: str = "--scheduler") -> None:
    """That a Dask scheduler answers at ``address``, else a one-line
    :class:`InputError` naming it as ``given_as`` (the option or variable
    it came from): a malformed address, nothing there, a worker, a
    dashboard.  Makes no Client (a half-made one hangs on its way out).
    Takes up to twice :data:`CONNECT_TIMEOUT`."""
    _distributed()
    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        scheme, location = parse_address(address, strict=True)
        if scheme not in SCHEMES:
            raise ValueError(f"a network scheme ({', '.join(SCHEMES)}), not {scheme}")
        host, port = parse_host_port(location)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{given_as} {address!r} is not a scheduler's address such as tcp://HOST:8786 "
                         f"({_one_line(exc)})") from None
    try:  # a refused connection says so at once (Dask's own connect retries it until its timeout)
        if scheme != "ucx":  # the others are TCP underneath
            socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
    except ConnectionRefusedError:
        raise _unreachable(address, "connection refused: nothing listens on that port", given_as) from None
    except socket.gaierror as exc:
        raise _unreachable(address, f"no such host: {exc.strerror or exc}", given_as) from None
    except OSError:
        pass  # a timeout, an unreachable network: Dask's connect below words it
    what = _identify(address, given_as)
    if what != "Scheduler":
        raise InputError(f"{given_as} {address}: that is a Dask {what.lower()}, not the scheduler; give the address "
                         "the scheduler printed ('Scheduler at: tcp://...')" if what else
                         f"{given_as} {address}: something answers there, but not a Dask scheduler (a dashboard? "
                         "the scheduler's own port is 8786 unless it was started with another)")


def _unreachable(address: str, exc: BaseException | str, given_as: str = "--scheduler") -> InputError:
    return InputError(f"{given_as} {address}: cannot reach a Dask scheduler there ({_one_line(exc)})")


def _identify(address: str, given_as: str = "--scheduler") -> str | None:
    """What Dask server listens at ``address`` (its ``identity``'s type:
    ``"Scheduler"``, ``"Worker"``, ...), None if what answers there does
    not speak Dask's protocol in time; an :class:`InputError` if nothing
    answers."""
    import asyncio

    from distributed.comm import connect as open_comm

    async def ask():
        comm = await open_comm(address, timeout=CONNECT_TIMEOUT)
        try:
            await comm.write({"op": "identity", "reply": True})
            return await comm.read()
        finally:
            comm.abort()

    try:  # connecting has CONNECT_TIMEOUT of its own (an OSError when nothing listens); then the reply
        reply = asyncio.run(asyncio.wait_for(ask(), 2 * CONNECT_TIMEOUT))
    except (asyncio.TimeoutError, TimeoutError):
        return None
    except (MemoryError, OverflowError):
        # Something spoke first in another protocol (an HTTP server's "400 Bad Request", a
        # proxy): Dask read its first bytes as a frame length too large to hold.
        return None
    except Exception as exc:  # OSError (nothing listening), ValueError (an unknown host): one line
        raise _unreachable(address, exc, given_as) from None
    return reply.get("type") if isinstance(reply, dict) and isinstance(reply.get("type"), str) else None


def close(client) -> None:
    try:
        client.close(timeout=CONNECT_TIMEOUT)
    except Exception:
        pass  # a scheduler already gone: nothing more to tidy


def check_workers(client, spec) -> None:
    """Every worker has a cinflow of this version (and pyarrow for a
    Parquet run) and the run's policies; else a one-line :class:`InputError`
    naming the first worker at fault.  A cluster with no worker is waited
    for :data:`CONNECT_TIMEOUT` seconds."""
    import cinflow

    from .runner import worker_facts

    address = client.scheduler.address
    try:
        client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
    except Exception:
        raise InputError(f"the Dask scheduler at {address} has no workers (start one: dask worker {address})") from None
    from importlib.metadata import version

    mine = cinflow.__version__
    needed = [("cinflow", f"install cinflow {mine} on every worker")]
    if spec.output == "parquet":
        needed.append(("pyarrow", "--out needs pyarrow on every worker: pip install 'cinflow[parquet]'"))
    for package, fix in needed:
        found = client.run(version, package, on_error="return")
        for worker, v in sorted(found.items()):
            if isinstance(v, BaseException):
                raise InputError(f"Dask worker {worker} has no {package} installed: {fix}")
    facts = client.run(worker_facts, spec.policies, on_error="return")
    for worker, f in sorted(facts.items()):
        if isinstance(f, BaseException):
            raise InputError(f"Dask worker {worker}: {_one_line(f)}")
        if f["version"] != mine:
            raise InputError(f"Dask worker {worker} has cinflow {f['version']}, this machine {mine}: install the same "
                             "version on every worker")
        if f["problem"]:
            raise InputError(f"Dask worker {worker}: {f['problem']}")


# -- on a worker -------------------------------------------------------------------------

_LOCAL = threading.local()  # each worker thread's context (a context is not shared between threads)


def run_remote(spec, key: str, version: str, job):
    """Run one job on a Dask worker: ``(seed, authority, n, payload, tally)``
    where ``payload`` is each shard file's bytes (None for a replicate's
    chunk, which only counts)."""
    import cinflow

    from .runner import SHARD_SUFFIXES, chunk_rows, context_of, write_shard_files

    if cinflow.__version__ != version:
        raise InputError(f"Dask worker on {socket.gethostname()} has cinflow {cinflow.__version__}, the client "
                         f"{version}: install the same version on every worker")
    contexts = getattr(_LOCAL, "contexts", None)
    if contexts is None or key not in contexts:
        try:
            contexts = _LOCAL.contexts = {key: context_of(spec)}  # one run's at a time
        except CinflowError as exc:
            raise InputError(str(exc)) from None
    ctx = contexts[key]
    seed, authority, lo, hi, shard = job
    tally, rows = chunk_rows(ctx, seed, authority, lo, hi, shard is not None)
    payload = None
    if rows is not None:
        with tempfile.TemporaryDirectory(prefix="cinflow-chunk-") as tmp:
            base = os.path.join(tmp, "shard")
            write_shard_files(spec.output, base, rows)
            payload = tuple(_pack(Path(base + suffix).read_bytes(), suffix) for suffix in SHARD_SUFFIXES[spec.output])
    return seed, authority, hi - lo, payload, tally


def _pack(data: bytes, suffix: str) -> bytes:
    return zlib.compress(data, 1) if suffix in COMPRESSED else data


def _unpack(data: bytes, suffix: str) -> bytes:
    return zlib.decompress(data) if suffix in COMPRESSED else data


# -- on the client -----------------------------------------------------------------------

@contextmanager
def results(client, jobs, spec):
    """Job results in job order, as :func:`~.runner._results` gives them: each
    stored chunk's shard files written here, at the job's shard path.  At most
    :data:`IN_FLIGHT_PER_THREAD` jobs per worker thread are submitted and not
    yet taken; leaving early cancels the rest."""
    import cinflow

    from .runner import SHARD_SUFFIXES

    key = hashlib.sha256(pickle.dumps(spec)).hexdigest()[:16]
    shared = client.scatter(spec, broadcast=True, hash=False)
    threads = sum(client.nthreads().values()) or 1
    limit = max(2, IN_FLIGHT_PER_THREAD * threads)
    pending: deque = deque()
    queue = iter(enumerate(jobs))

    def submit(i, job):
        pending.append((job, client.submit(run_remote, shared, key, cinflow.__version__, job, pure=False,
                                           key=f"cinflow-chunk-{key}-{i}", priority=-i)))

    def taken():
        for i, job in queue:
            submit(i, job)
            if len(pending) >= limit:
                break
        while pending:
            job, future = pending.popleft()
            try:
                seed, authority, n, payload, tally = future.result()
            except CinflowError:
                raise
            except Exception as exc:
                raise StoreError(f"a Dask worker failed running a chunk ({_one_line(exc)}); the run was stopped and "
                                 "is recorded as unfinished") from None
            future.release()
            nxt = next(queue, None)
            if nxt is not None:
                submit(*nxt)
            shard = job[4]
            if payload is not None:
                for suffix, data in zip(SHARD_SUFFIXES[spec.output], payload):
                    Path(shard + suffix).write_bytes(_unpack(data, suffix))
            yield seed, authority, n, shard, tally

    try:
        yield taken()
    finally:
        if pending:
            client.cancel([f for _, f in pending])
        try:
            client.cancel([shared])
        except Exception:
            pass
