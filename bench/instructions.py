"""Instructions per case, counted by valgrind's callgrind: a measure that does
not move with the machine's load, for comparing two versions of the code.

    .venv/bin/python bench/instructions.py                      # this checkout
    .venv/bin/python bench/instructions.py --against ../old     # and another checkout, same run

Each section is the difference between two runs of the same process that
stop at different points (setup only; setup and the practitioner with the
engine; all of that and the tally and row builders), so import and setup
costs cancel. Needs valgrind (``apt-get install valgrind``); a run of 2,000
Kent cases takes about a minute per checkout under callgrind. Both
checkouts are measured with this interpreter and its installed libraries.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve()
STOPS = ("setup", "engine", "all")


def work(n: int, stop: str) -> None:
    """The measured process: build a Kent cohort, warm up, then run to ``stop``."""
    from datetime import date

    from cinflow.plugins import Registry
    from cinflow.simulation.calibration import load_calibration
    from cinflow.simulation.cohort import Cohort
    from cinflow.simulation.draws import Generator
    from cinflow.simulation.practice import Practitioner
    from cinflow.simulation.stats import Tally
    from cinflow.store import case_row, deadline_rows, event_rows

    cal, gen = load_calibration(), Generator(7)
    cohort = Cohort(cal, gen, date(2026, 4, 1), 12, n, 0)
    pr = Practitioner(Registry.load()["kent"], cal, gen, date(2027, 4, 1))
    refs = [cohort[i] for i in range(n)]
    cases = [pr.run(refs[i], f"k-{i:07d}") for i in range(min(n, 200))]  # warm the caches
    if stop == "setup":
        return
    cases = [pr.run(refs[i], f"k-{i:07d}") for i in range(n)]
    if stop == "all":
        tally = Tally()
        for case in cases:
            tally.add_case(case, date(2027, 3, 31), date(2026, 4, 1))
            case_row(case)
            event_rows(case)
            deadline_rows(case)


def count(root: Path, n: int, stop: str) -> int:
    env = dict(os.environ, PYTHONPATH=str(root), PYTHONHASHSEED="0")
    out = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
         sys.executable, str(HERE), "--work", stop, "--cases", str(n)],
        env=env, cwd=root, capture_output=True, text=True)
    found = re.search(r"Collected : (\d+)", out.stderr)
    if out.returncode or not found:
        raise SystemExit(f"callgrind failed for {root} ({stop}): {out.stderr.strip().splitlines()[-1:]}")
    return int(found.group(1))


def per_case(root: Path, n: int, pool: ThreadPoolExecutor) -> dict[str, float]:
    setup, engine, everything = pool.map(lambda s: count(root, n, s), STOPS)
    return {"practitioner + engine": (engine - setup) / n, "tally + rows": (everything - engine) / n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--against", type=Path, help="another checkout of cinflow to measure in the same run")
    ap.add_argument("--work", choices=STOPS, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.work:
        work(args.cases, args.work)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    roots = [HERE.parent.parent] + ([args.against.resolve()] if args.against else [])
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        results = [per_case(root, args.cases, pool) for root in roots]
    print(f"instructions per case, {args.cases:,} Kent cases (callgrind)")
    for name in results[0]:
        line = f"{name:24}" + "".join(f"{r[name]:>14,.0f}" for r in results)
        if len(results) == 2:
            line += f"   {results[0][name] / results[1][name]:.3f} of the other"
        print(line)
    print(" " * 24 + "".join(f"{str(r)[-13:]:>14}" for r in roots))


if __name__ == "__main__":
    main()
