"""The same simulation on a two-worker Dask cluster and on the local pool of
two processes, wall time and ratio; and the local pool into a Parquet folder.

    .venv/bin/python bench/dask_vs_pool.py [--referrals 100000] [--authority kent] [--rounds 1]

The cluster is a ``distributed.LocalCluster(n_workers=2, threads_per_worker=1,
processes=True)``: two worker processes on this machine, reached over TCP as
workers on other machines would be (the chunks' shards travel back to the
client as bytes).  Each round runs the three in turn; every run gives the
same summary (checked)."""

import argparse
import tempfile
import time
from datetime import date
from pathlib import Path

from cinflow.plugins import Registry
from cinflow.simulation import Parameters, simulate


def timed(fn):
    t0 = time.perf_counter()
    summary = fn()
    summary.pop("seconds")
    return time.perf_counter() - t0, summary


def main():
    from distributed import LocalCluster

    ap = argparse.ArgumentParser()
    ap.add_argument("--referrals", type=int, default=100000)
    ap.add_argument("--authority", default="kent")
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    registry = Registry.load()
    params = Parameters((args.authority,), args.referrals, date(2026, 4, 1), 12, 7)
    walls: dict[str, list[float]] = {"pool": [], "dask": [], "pool, parquet": []}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      host="127.0.0.1") as cluster, tempfile.TemporaryDirectory() as tmp:
        summaries = []
        for r in range(args.rounds):
            for name, run in (
                    ("pool", lambda: simulate(params, Path(tmp) / f"pool{r}.db", registry, workers=2)),
                    ("dask", lambda: simulate(params, Path(tmp) / f"dask{r}.db", registry,
                                              scheduler=cluster.scheduler_address)),
                    ("pool, parquet", lambda: simulate(params, None, registry, workers=2, out=Path(tmp) / f"pq{r}"))):
                wall, summary = timed(run)
                walls[name].append(wall)
                summaries.append(summary)
                print(f"round {r + 1}: {name:<14} {wall:6.1f} s")
        assert all(s == summaries[0] for s in summaries), "the runs differ"
        s = summaries[0]
    print(f"\nreferrals {args.referrals:,} through {args.authority}: cases {s['cases']:,}, events {s['events']:,}, "
          f"deadlines {s['deadlines']:,}; the same summary from every run")
    best = {k: min(v) for k, v in walls.items()}
    for name, wall in best.items():
        print(f"{name:<14} best {wall:6.1f} s  {s['cases'] / wall:8,.0f} cases/s  {s['events'] / wall:9,.0f} events/s  "
              f"{wall / best['pool']:.2f}x the pool's time")


if __name__ == "__main__":
    main()
