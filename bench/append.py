"""Appends that do not slow down: latency per ``Store.append`` on cases of
10, 100 and 1,000 events, on SQLite and PostgreSQL, against replaying the
case (what every append did before issue 13), and events/s with 16
concurrent clients over HTTP (``cinflow serve``).

    .venv/bin/python bench/append.py            # both backends, HTTP too
    .venv/bin/python bench/append.py --quick    # fewer appends, 10 and 100 events
    .venv/bin/python bench/append.py --no-http --backend sqlite

PostgreSQL is the throwaway server the tests use (``tests/pgserver.py``:
Debian's binaries; here with fsync on, as SQLite syncs each commit), or
``CINFLOW_TEST_POSTGRES``'s server.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import attrs  # noqa: E402

import cinflow  # noqa: E402
from cinflow.store import Store  # noqa: E402

START = [("referral_received", "2026-01-05", {}), ("consent_given", "2026-01-06", {}),
         ("assessment_completed", "2026-02-13", {"outcome": "cin_plan"}),
         ("cin_meeting", "2026-02-25", {"kind": "initial", "chair": "team_manager", "outcome": "continue"})]


def long_case(policy, case_id: str, events: int):
    """A Kent case with a plan in force, then visits on consecutive days
    (each accepted, each meeting the visit deadline and opening the next)."""
    case = policy.new_case(case_id, cinflow.Child(birth_date=date(2013, 4, 2)))
    for name, day, attrs in START:
        case = policy.apply(case, cinflow.event(name, day, **attrs))
    day = date(2026, 3, 1)
    while case.version < events:
        case = policy.apply(case, cinflow.event("visit", day.isoformat()))
        day += timedelta(days=1)
    assert all(h.accepted for h in case.history)
    return case, day


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


WARM_UP = 20


def measure(target, registry, sizes, appends):
    """p50/p99 of ``Store.append`` to cases of exactly ``n`` events: each timed
    append goes to its own copy of one long case (so the case does not grow
    while it is measured), after ``WARM_UP`` untimed ones."""
    policy = registry["kent"]
    rows = []
    in_memory = max(512, WARM_UP + appends)  # every copy stays in the cache
    for cache, label in ((in_memory, "append (whole case in memory)"), (0, "append (nothing in memory)")):
        with Store(target, registry, cache_cases=cache) as store:
            for n in sizes:
                case, day = long_case(policy, f"B{n}-{cache}", n)
                ids = [f"B{n}-{cache}-{k}" for k in range(WARM_UP + appends)]
                for k in range(0, len(ids), 100):
                    store.add_many([attrs.evolve(case, id=i) for i in ids[k:k + 100]])
                if cache:
                    for i in ids:
                        store.load(i)
                times = []
                for i in ids:
                    t0 = time.perf_counter_ns()
                    after = store.append(i, cinflow.event("visit", day.isoformat()), case.version)
                    times.append(time.perf_counter_ns() - t0)
                    assert after.last.accepted and after.version == n + 1
                times = times[WARM_UP:]
                rows.append((label, n, statistics.median(times) / 1e6, pct(times, 0.99) / 1e6))
    with Store(target, registry) as store:
        for n in sizes:
            case_id = f"R{n}"
            store.add(long_case(policy, case_id, n)[0])
            times = []
            for _ in range(max(5, appends // 10)):
                t0 = time.perf_counter_ns()
                store.replay(case_id)
                times.append(time.perf_counter_ns() - t0)
            rows.append(("replay (what each append did before)", n, statistics.median(times) / 1e6,
                         pct(times, 0.99) / 1e6))
    return rows


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(target, clients, per_client):
    """events/s with ``clients`` threads, each appending to its own case over HTTP."""
    import httpx

    cinflow_cli = str(Path(sys.executable).with_name("cinflow"))
    token = subprocess.run([cinflow_cli, "tokens", "create", f"bench-{os.getpid()}-{time.monotonic_ns()}", "--db", target,
                            "--authority", "kent"], capture_output=True, text=True, check=True).stdout.split()[-1]
    port = free_port()
    server = subprocess.Popen([cinflow_cli, "serve", "--db", target, "--port", str(port), "--log-level", "warning"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {token}"}
    try:
        for _ in range(100):
            try:
                httpx.get(f"{base}/api/policies", headers=headers, timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise SystemExit(f"cinflow serve did not start: {server.stderr.read()[-500:]}")
        errors = []

        def client(k):
            with httpx.Client(base_url=base, headers=headers, timeout=30) as c:
                case_id = f"H-{k}-{time.monotonic_ns()}"
                r = c.post("/api/cases", json={"authority": "kent", "case": case_id,
                                               "child": {"birth_date": "2013-04-02"}})
                version = r.json()["version"]
                for name, day, attrs in START:
                    version = c.post(f"/api/cases/{case_id}/events", json={
                        "expected_version": version, "event": {"event": name, "date": day, **attrs}}).json()["version"]
                day = date(2026, 3, 1)
                for _ in range(per_client):
                    r = c.post(f"/api/cases/{case_id}/events", json={
                        "expected_version": version, "event": {"event": "visit", "date": day.isoformat()}})
                    if r.status_code != 200:
                        errors.append(r.text)
                        return
                    version = r.json()["version"]
                    day += timedelta(days=1)

        threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        if errors:
            raise SystemExit(f"HTTP bench: {errors[0][:200]}")
        return clients * (per_client + len(START) + 1) / wall
    finally:
        server.terminate()
        server.wait(10)


def main():
    ap = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--no-http", action="store_true")
    ap.add_argument("--clients", type=int, default=16)
    args = ap.parse_args()
    sizes = (10, 100) if args.quick else (10, 100, 1000)
    appends = 50 if args.quick else 300
    registry = cinflow.Registry.load()
    folder = tempfile.mkdtemp(prefix="cinflow-bench-")
    server = None
    targets = []
    try:
        if args.backend in ("sqlite", "both"):
            targets.append(("SQLite", os.path.join(folder, "bench.db")))
        if args.backend in ("postgresql", "both"):
            import pgserver

            server = pgserver.start(fsync=True)  # durable, as SQLite's commits are
            targets.append(("PostgreSQL", server.create_database()))
        print(f"{'backend':<11} {'operation':<38} {'events':>6} {'p50 ms':>8} {'p99 ms':>8}")
        for name, target in targets:
            for label, n, p50, p99 in measure(target, registry, sizes, appends):
                print(f"{name:<11} {label:<38} {n:>6} {p50:>8.3f} {p99:>8.3f}")
        if not args.no_http:
            for name, target in targets:
                rate = http(target, args.clients, 20 if args.quick else 100)
                print(f"{name:<11} HTTP, {args.clients} clients, each its own case: {rate:,.0f} events/s")
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
