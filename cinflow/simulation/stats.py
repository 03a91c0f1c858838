"""What a simulation counts, case by case, and the summary it prints.

Workers fill a :class:`Tally` per chunk of cases; tallies add up in any order
to the same totals, so the summary does not depend on the number of workers.

Only the window counts.  A run with a warm-up stores every case from the
warm-up's start, but a tally counts what happened in [window start, end):
events, activity, refusals and closures dated in it, stays that ended in it,
and the deadlines due in it or still unresolved when it opened (a breach
carried into the window stays a breach).  Cases count when they were
referred in the window or still open when it opened.
"""

from __future__ import annotations

from collections import Counter
from datetime import date

from ..models import STATUSES
from ..states import FINAL_STATES, PLAN_OPEN

ACTIVITIES = {
    "visit": "visits",
    "minutes_circulated": "minutes",
    "manager_decision": "manager decisions",
    "assessment_completed": "assessments",
    "strategy_discussion": "strategy discussions",
    "referral_received": "referrals",
}


class Tally:
    """Counts for one authority (or one chunk of its cases)."""

    __slots__ = ("cases", "events", "deadlines", "compliance", "stays", "open_plans", "closures", "activity",
                 "roles", "refusals", "exceptions", "advice", "states", "stored", "referred", "open_at_start",
                 "plans_at_start")

    def __init__(self):
        self.cases = self.events = self.deadlines = self.open_plans = 0
        self.stored = 0          # every case stored, warm-up included
        self.referred = 0        # referred in the window
        self.open_at_start = 0   # open when the window opened (referred in the warm-up)
        self.plans_at_start = 0  # of those, with a plan in force
        self.compliance: Counter = Counter()   # (deadline name, status)
        self.stays: Counter = Counter()        # (state, days)
        self.closures: Counter = Counter()     # closure reason
        self.activity: Counter = Counter()     # (YYYY-MM, activity)
        self.roles: Counter = Counter()        # (YYYY-MM, role)
        self.refusals: Counter = Counter()     # rule id
        self.exceptions: Counter = Counter()   # rule id: events let through by an authorised exception
        self.advice: Counter = Counter()       # rule id: events accepted with advice
        self.states: Counter = Counter()       # state at the end

    def add_case(self, case, end: date, start: date | None = None) -> None:
        """Count one finished case; ``end`` is the last day of the window and
        ``start`` its first (None: count the whole case)."""
        self.stored += 1
        history = case.history
        if start is None or history[0].date >= start:
            self.referred += 1
            counted = history
        else:
            # The state the case was in when the window opened.
            before = [h for h in history if h.date < start]
            state = next((h.to_state for h in reversed(before) if h.accepted), before[0].from_state)
            if state in FINAL_STATES:
                return  # over before the window: warm-up only
            self.open_at_start += 1
            self.plans_at_start += state in PLAN_OPEN
            counted = history[len(before):]
        self.cases += 1
        self.events += len(counted)
        self.states[case.state] += 1
        if case.state in PLAN_OPEN:
            self.open_plans += 1
        if case.state in FINAL_STATES and case.facts.closure_reason and (start is None or counted):
            self.closures[case.facts.closure_reason] += 1
        for d in case.deadlines:
            if start is not None and d.due < start and not _unresolved_on(d, start):
                continue
            self.deadlines += 1
            self.compliance[(d.name, d.status(end))] += 1
        entered = None
        for h in history:
            if h.accepted and h.from_state != h.to_state:
                if entered is not None and (start is None or h.date >= start):
                    self.stays[(h.from_state, (h.date - entered).days)] += 1
                entered = h.date
        for h in counted:
            if not h.accepted:
                for r in h.reasons:
                    self.refusals[r.rule] += 1
                continue
            for e in h.exceptions:
                self.exceptions[e.rule] += 1
            for a in h.advice:
                self.advice[a.rule] += 1
            month = h.date.isoformat()[:7]
            name = h.event
            if name == "cin_meeting":
                kind = h.attributes["kind"]
                self.activity[(month, "initial meetings" if kind == "initial" else "reviews")] += 1
                chair = h.attributes["chair"]
                self.roles[(month, f"chaired {kind}: {chair}")] += 1
                if kind == "review" and chair == "iro":
                    self.activity[(month, "reviews chaired by an IRO")] += 1
            elif name in ACTIVITIES:
                self.activity[(month, ACTIVITIES[name])] += 1
                if name == "visit":
                    self.roles[(month, "visits: social_worker")] += 1
                elif name == "manager_decision":
                    self.roles[(month, f"decisions: {h.attributes.get('role') or 'unrecorded'}")] += 1

    def merge(self, other: "Tally") -> None:
        self.cases += other.cases
        self.stored += other.stored
        self.referred += other.referred
        self.open_at_start += other.open_at_start
        self.plans_at_start += other.plans_at_start
        self.events += other.events
        self.deadlines += other.deadlines
        self.open_plans += other.open_plans
        for name in ("compliance", "stays", "closures", "activity", "roles", "refusals", "exceptions", "advice", "states"):
            getattr(self, name).update(getattr(other, name))

    def summary(self) -> dict:
        compliance: dict[str, dict[str, int]] = {}
        for (name, status), n in sorted(self.compliance.items()):
            row = compliance.setdefault(name, dict.fromkeys(STATUSES, 0))
            row[status] = n
        stays: dict[str, Counter] = {}
        for (state, days), n in self.stays.items():
            stays.setdefault(state, Counter())[days] += n
        workload: dict[str, dict[str, dict[str, int]]] = {}
        for (month, what), n in sorted(self.activity.items()):
            workload.setdefault(month, {"activity": {}, "role": {}})["activity"][what] = n
        for (month, role), n in sorted(self.roles.items()):
            workload.setdefault(month, {"activity": {}, "role": {}})["role"][role] = n
        return {
            "cases": self.cases,
            "cases_stored": self.stored,
            "referred_in_window": self.referred,
            "open_at_window_start": self.open_at_start,
            "plans_open_at_start": self.plans_at_start,
            "events": self.events,
            "deadlines": self.deadlines,
            "deadline_compliance": compliance,
            "days_in_state": {s: _quantiles(c) for s, c in sorted(stays.items())},
            "plans_open_at_end": self.open_plans,
            "states_at_end": dict(sorted(self.states.items())),
            "closures": dict(sorted(self.closures.items(), key=lambda kv: int(kv[0][2:]))),
            "workload": workload,
            "refusals": dict(sorted(self.refusals.items(), key=lambda kv: (-kv[1], kv[0]))),
            "exceptions": dict(sorted(self.exceptions.items(), key=lambda kv: (-kv[1], kv[0]))),
            "advice": dict(sorted(self.advice.items(), key=lambda kv: (-kv[1], kv[0]))),
        }


def _unresolved_on(d, day: date) -> bool:
    """Whether deadline ``d`` was neither met nor ended before ``day``."""
    return (d.met_on is None or d.met_on >= day) and (d.ended_on is None or d.ended_on >= day)


def _quantiles(counts: Counter) -> dict:
    """Exact median and 90th percentile (nearest rank) of a histogram."""
    total = sum(counts.values())
    out = {"stays": total}
    for label, num, den in (("median", 1, 2), ("p90", 9, 10)):
        rank = max(1, (num * total + den - 1) // den)  # nearest rank, in integers
        seen = 0
        for days in sorted(counts):
            seen += counts[days]
            if seen >= rank:
                out[label] = days
                break
    return out
