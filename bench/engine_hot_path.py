"""Micro-benchmark of the engine hot path (guards + transition + deadline
arithmetic), and of storing the result in SQLite.

    .venv/bin/python bench/engine_hot_path.py [--cases 2000]

Prints events/s for the engine alone, for the engine plus a batched store, and
the ratio between them (ratios in one run are comparable; absolute figures on
these shared machines are noisy)."""

import argparse
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import cinflow
from cinflow.store import Store

LIFE = [
    ("referral_received", 0, {}), ("consent_given", 1, {"young_person_consent": True}),
    ("assessment_completed", 30, {"outcome": "cin_plan"}),
    ("cin_meeting", 40, {"kind": "initial", "chair": "team_manager", "outcome": "continue"}),
    ("minutes_circulated", 45, {}), ("visit", 60, {"seen_alone": True}), ("visit", 85, {"seen_alone": True}),
    ("cin_meeting", 110, {"kind": "review", "chair": "senior_practitioner", "outcome": "continue"}),
    ("visit", 130, {}), ("manager_decision", 188, {"kind": "closure_rationale", "role": "team_manager"}),
    ("cin_meeting", 190, {"kind": "review", "chair": "team_manager", "outcome": "close"}),
]


def build_events(start: date):
    return [cinflow.event(name, start + timedelta(days=offset), **attrs) for name, offset, attrs in LIFE]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=2000)
    args = parser.parse_args()
    kent = cinflow.Registry.load()["kent"]
    scripts = [build_events(date(2026, 1, 5) + timedelta(days=i % 300)) for i in range(args.cases)]
    child = cinflow.Child(birth_date=date(2014, 6, 12))

    def run(policy):
        t0 = time.perf_counter()
        out = []
        for i, events in enumerate(scripts):
            case = policy.new_case(f"B-{i}", child)
            for ev in events:
                case = policy.apply(case, ev)
            out.append(case)
        return out, time.perf_counter() - t0

    reference_cases, reference_s = run(kent.reference())
    cases, engine_s = run(kent)
    assert cases == reference_cases, "the fast path must give the plain engine's cases"
    n_events = sum(len(c.history) for c in cases)

    with tempfile.TemporaryDirectory() as tmp:
        with Store(Path(tmp) / "bench.db") as store:
            t1 = time.perf_counter()
            for k in range(0, len(cases), 500):
                store.add_many(cases[k:k + 500])
            store_s = time.perf_counter() - t1
            size = (Path(tmp) / "bench.db").stat().st_size

    refused = sum(not h.accepted for c in cases for h in c.history)
    print(f"cases {len(cases)}, events {n_events}, refused {refused}")
    print(f"engine (fast path): {n_events / engine_s:,.0f} events/s ({engine_s * 1e6 / n_events:.1f} us/event)")
    print(f"engine through the transitions machine: {n_events / reference_s:,.0f} events/s; "
          f"fast path is {reference_s / engine_s:.2f}x")
    print(f"store (batches of 500 cases): {n_events / store_s:,.0f} events/s; {size / n_events:.0f} bytes/event on disk")
    print(f"ratio engine:store time = 1:{store_s / engine_s:.2f}")


if __name__ == "__main__":
    main()
