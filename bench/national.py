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


def heap_per_case(registry, authority: str, n: int = 2000) -> float:
    """Bytes of Python heap held per case while it is being worked on (a whole finished case)."""
    cal, gen = load_calibration(), Generator(7)
    cohort = Cohort(cal, gen, date(2026, 4, 1), 12, n)
    pr = Practitioner(registry[authority], cal, gen, date(2027, 4, 1))
    refs = [cohort[i] for i in range(n)]
    pr.run(refs[0], "warm-up")
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    cases = [pr.run(r, f"H-{r.number}") for r in refs]
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    held = sum(s.size_diff for s in after.compare_to(before, "filename"))
    open_cases = sum(c.state in ("initial_cin", "cin_plan", "transfer_out") for c in cases)
    return held / len(cases), open_cases


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--referrals", type=int, default=633000)
    ap.add_argument("--authority", default="kent")
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    args = ap.parse_args()
    registry = Registry.load()
    per_case, _ = heap_per_case(registry, args.authority)
    params = Parameters((args.authority,), args.referrals, date(2026, 4, 1), 12, 7)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "national.db"
        t0 = time.perf_counter()
        s = simulate(params, db, registry, workers=args.workers)
        wall = time.perf_counter() - t0
        size = db.stat().st_size + sum(p.stat().st_size for p in Path(tmp).glob("national.db-*"))
    parent = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"referrals {args.referrals:,} through {args.authority} with {args.workers} worker(s)")
    print(f"cases {s['cases']:,}  events {s['events']:,}  deadlines {s['deadlines']:,}")
    print(f"wall {wall:.1f} s  ->  {s['cases'] / wall:,.0f} cases/s, {s['events'] / wall:,.0f} events/s")
    print(f"peak RSS: parent {parent:,.0f} MiB, largest worker {child:,.0f} MiB")
    print(f"database {size / 2**20:,.0f} MiB = {size / s['events']:,.0f} bytes per stored event")
    print(f"Python heap per case held in memory: {per_case:,.0f} bytes (whole history and deadlines)")


if __name__ == "__main__":
    main()
