"""Where a simulation worker's time goes, section by section, in µs per case.

    .venv/bin/python bench/sections.py [--referrals 20000] [--authority kent] [--warm-up 0]

Runs the same loop as a simulation worker (``runner._run_chunk``: cohort,
practitioner and engine, tally, row builders, the shard write) in one
process, timing each section separately, and prints µs per case and per
event for each.  The parent's share (copying shards in, the index) is not
here: see ``national.py``'s wall time."""

import argparse
import sqlite3
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from cinflow.plugins import Registry
from cinflow.simulation.calibration import load_calibration
from cinflow.simulation.cohort import Cohort
from cinflow.simulation.draws import Generator
from cinflow.simulation.practice import Practitioner
from cinflow.simulation.runner import Parameters, chunk_size

try:
    from cinflow.store.bulk import write_shard
except ImportError:  # before the store's bulk module
    from cinflow.simulation.runner import _write_shard as write_shard
from cinflow.simulation.stats import Tally
from cinflow.store import case_row, deadline_rows, event_rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--referrals", type=int, default=20000)
    ap.add_argument("--authority", default="kent")
    ap.add_argument("--warm-up", type=int, default=0)
    ap.add_argument("--cpu", action="store_true", help="time by this process's CPU time rather than the wall clock")
    args = ap.parse_args()
    params = Parameters((args.authority,), args.referrals, date(2026, 4, 1), 12, 7, warm_up=args.warm_up)
    cal, gen = load_calibration(), Generator(params.seed)
    cohort = Cohort(cal, gen, params.start, params.months, params.referrals, params.warm_up)
    pr = Practitioner(Registry.load()[args.authority], cal, gen, params.end)
    last_day = params.end - timedelta(days=1)
    t = dict.fromkeys(("cohort", "practitioner + engine", "tally", "rows", "shard write"), 0.0)
    n = len(cohort)
    events = 0
    # CPU time, not wall: on a shared machine other processes' work is not counted.
    clock = time.process_time if args.cpu else time.perf_counter
    with tempfile.TemporaryDirectory() as tmp:
        step = chunk_size(n)  # as cinflow simulate cuts the cohort
        for lo in range(0, n, step):
            cases, ev_rows, dl_rows = [], [], []
            tally = Tally()
            for i in range(lo, min(lo + step, n)):
                t0 = clock()
                ref = cohort[i]
                t1 = clock()
                case = pr.run(ref, f"k-{i:07d}")
                t2 = clock()
                tally.add_case(case, last_day, params.start)
                t3 = clock()
                cases.append(case_row(case))
                ev_rows.extend(event_rows(case))
                dl_rows.extend(deadline_rows(case))
                t4 = clock()
                t["cohort"] += t1 - t0
                t["practitioner + engine"] += t2 - t1
                t["tally"] += t3 - t2
                t["rows"] += t4 - t3
                events += len(case.history)
            t5 = clock()
            write_shard(str(Path(tmp) / f"{lo}.db"), cases, ev_rows, dl_rows)
            t["shard write"] += clock() - t5
    total = sum(t.values())
    print(f"{n:,} cases, {events:,} events ({events / n:.2f} per case), {args.authority}, one process")
    for name, s in t.items():
        print(f"{name:<24} {s * 1e6 / n:8.1f} us/case {s * 1e6 / events:7.2f} us/event  {100 * s / total:5.1f}%")
    print(f"{'total':<24} {total * 1e6 / n:8.1f} us/case {total * 1e6 / events:7.2f} us/event  "
          f"{events / total:,.0f} events/s")


if __name__ == "__main__":
    main()
