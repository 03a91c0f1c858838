"""The national-size simulation: England's annual referral flow through one
authority's policy, every event and deadline persisted.

    .venv/bin/python bench/national.py [--referrals 633000] [--authority kent] [--workers N]

Prints wall time, cases/s, events/s, peak RSS (parent and workers), bytes per
stored event, and the Python heap a finished case holds (measured with
tracemalloc on a sample)."""

import argparse
import os
import resource
import tempfile
import time
import tracemalloc
from datetime import date
from pathlib import Path

from cinflow.plugins import Registry
from cinflow.simulation import Parameters, simulate
from cinflow.simulation.calibration import load_calibration
from cinflow.simulation.cohort import Cohort
from cinflow.simulation.draws import Generator
from cinflow.simulation.practice import Practitioner


def heap_per_case(registry, authority: str, n: int = 2000, between: int = 20000) -> tuple[float, float]:
    """Bytes of Python heap held per case (a whole finished case), twice:
    the first ``n`` cases of a fresh process, and ``n`` cases after
    ``between`` more have run, when the bounded caches shared by every case
    (18th birthdays, one object per calendar day, equal attribute dicts) are
    as full as in a long run and cost nothing more per case."""
    cal, gen = load_calibration(), Generator(7)
    cohort = Cohort(cal, gen, date(2026, 4, 1), 12, 2 * n + between)
    pr = Practitioner(registry[authority], cal, gen, date(2027, 4, 1))
    pr.run(cohort[0], "warm-up")

    def held(first: int) -> float:
        refs = [cohort[i] for i in range(first, first + n)]
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        cases = [pr.run(r, f"H-{r.number}") for r in refs]
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        del cases
        return sum(s.size_diff for s in after.compare_to(before, "filename")) / n

    cold = held(0)
    for i in range(n, n + between):
        pr.run(cohort[i], f"W-{i}")
    return cold, held(n + between)


def rss_per_case(registry, authority: str, n: int = 40000, between: int = 20000) -> float:
    """Resident memory (what the operating system gives the process) that
    holding ``n`` more finished cases adds, per case, after ``between``
    cases have filled the shared caches: tracemalloc counts the bytes asked
    for, this counts what they cost once the allocator has rounded them."""
    import gc

    def resident() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    cal, gen = load_calibration(), Generator(7)
    cohort = Cohort(cal, gen, date(2026, 4, 1), 12, n + between)
    pr = Practitioner(registry[authority], cal, gen, date(2027, 4, 1))
    for i in range(between):
        pr.run(cohort[i], f"W-{i}")
    refs = [cohort[i] for i in range(between, between + n)]
    gc.collect()
    start = resident()
    cases = [pr.run(r, f"H-{r.number}") for r in refs]
    gc.collect()
    grown = resident() - start
    del cases
    return grown / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--referrals", type=int, default=633000)
    ap.add_argument("--authority", default="kent")
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    args = ap.parse_args()
    registry = Registry.load()
    params = Parameters((args.authority,), args.referrals, date(2026, 4, 1), 12, 7)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "national.db"
        t0 = time.perf_counter()
        s = simulate(params, db, registry, workers=args.workers)
        wall = time.perf_counter() - t0
        size = db.stat().st_size + sum(p.stat().st_size for p in Path(tmp).glob("national.db-*"))
    parent = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    # Measured after the run, so the cases held here do not count in its peak RSS.
    cold, steady = heap_per_case(registry, args.authority)
    resident = rss_per_case(registry, args.authority) if os.path.exists("/proc/self/statm") else None
    print(f"referrals {args.referrals:,} through {args.authority} with {args.workers} worker(s)")
    print(f"cases {s['cases']:,}  events {s['events']:,}  deadlines {s['deadlines']:,}")
    print(f"wall {wall:.1f} s  ->  {s['cases'] / wall:,.0f} cases/s, {s['events'] / wall:,.0f} events/s")
    print(f"peak RSS: parent {parent:,.0f} MiB, largest worker {child:,.0f} MiB")
    print(f"database {size / 2**20:,.0f} MiB = {size / s['events']:,.0f} bytes per stored event")
    print(f"Python heap per case held in memory (whole history and deadlines): {steady:,.0f} bytes "
          f"once the shared caches are full, {cold:,.0f} for the first cases of a process")
    if resident is not None:
        print(f"resident memory per case held: {resident:,.0f} bytes (40,000 cases, allocator rounding included)")


if __name__ == "__main__":
    main()
