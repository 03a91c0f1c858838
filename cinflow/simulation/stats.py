"""What a simulation counts, case by case, and the summary it prints.

Workers fill a :class:`Tally` per chunk of cases; tallies add up in any order
to the same totals, so the summary does not depend on the number of workers.

Only the window counts.  A run with a warm-up stores every case from the
warm-up's start, but a tally counts what happened in [window start, end):
events, activity, refusals and closures dated in it, stays that ended in it,
and the deadlines due in it or still unresolved when it opened (a breach
carried into the window stays a breach).  Cases count when they were
referred in the window or still open when it opened.

Work by role.  Each activity in the window is counted with the role its event
records (a meeting's chair, a decision's maker); :meth:`Tally.summary` turns
the counts into activities by role and, given a calibration with a
``workload`` table, hours and FTE by role.  Who takes part: with a table, the
roles it gives time for that activity ("chair" and "decision_maker" standing
for the recorded role); without one, :data:`TAKES_PART`.  Assumptions, as the
events record no more: child protection conferences (initial and review) are
chaired by an IRO/CP chair (:data:`CONFERENCE_CHAIR`); minutes are written by
the chair of the CIN meeting they minute; a decision with no role recorded is
a team manager's.  Hours add up per role: a social worker who chairs their own
child's review does the chair's part and the worker's.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

from ..models import STATUSES
from ..states import FINAL_STATES, OPEN_STATES, PLAN_OPEN

ACTIVITIES = {
    "visit": "visits",
    "minutes_circulated": "minutes",
    "manager_decision": "manager decisions",
    "assessment_completed": "assessments",
    "strategy_discussion": "strategy discussions",
    "referral_received": "referrals",
    "s47_completed": "s47 enquiries",
    "cp_plan_started": "initial conferences",
    "icpc_held": "initial conferences",
    "cp_review": "review conferences",
}
# The month's activity labels that are meetings of some kind (workload_total["meetings"]).
MEETINGS = ("initial meetings", "reviews", "initial conferences", "review conferences")

# The activities work is counted by (the names a calibration's workload table uses).
WORK = ("visit", "initial_meeting", "review", "icpc", "cp_review", "minutes", "assessment", "s47_enquiry",
        "strategy_discussion", "manager_decision")
# The event each is counted at (meetings: cin_meeting by its kind; an initial
# conference at its outcome, a CP plan or not; an s47 enquiry at its end).
WORK_EVENTS = {"visit": "visit", "minutes_circulated": "minutes", "assessment_completed": "assessment",
               "s47_completed": "s47_enquiry", "strategy_discussion": "strategy_discussion",
               "cp_plan_started": "icpc", "icpc_held": "icpc", "cp_review": "cp_review",
               "manager_decision": "manager_decision"}
# The role an activity's event records, by the name a workload table gives it.
RECORDED_ROLE = {"initial_meeting": "chair", "review": "chair", "icpc": "chair", "cp_review": "chair",
                 "minutes": "chair", "manager_decision": "decision_maker"}
# Who takes part when the calibration has no workload table.
TAKES_PART = {"visit": ("social_worker",), "initial_meeting": ("chair", "social_worker"),
              "review": ("chair", "social_worker"), "icpc": ("chair", "social_worker"),
              "cp_review": ("chair", "social_worker"), "minutes": ("chair",), "assessment": ("social_worker",),
              "s47_enquiry": ("social_worker",), "strategy_discussion": ("social_worker",),
              "manager_decision": ("decision_maker",)}
CONFERENCE_CHAIR = "iro"           # assumption: the events record no conference chair
UNRECORDED_DECISION = "team_manager"  # assumption: a decision with no role recorded
# Cases held by a social worker: open past the referral (assessment, s47
# enquiry, awaiting conference, CP plan, CIN plan required or in force,
# transfer out).  Referrals awaiting a decision sit with the front door.
HELD_STATES = OPEN_STATES - {"referral"}

_MONTHS: dict = {}  # date -> "YYYY-MM" (a bounded cache: a run spans a few thousand days)


def _month(day: date) -> str:
    if len(_MONTHS) > 100_000:
        _MONTHS.clear()
    text = _MONTHS[day] = day.isoformat()[:7]
    return text


class Tally:
    """Counts for one authority (or one chunk of its cases)."""

    __slots__ = ("cases", "events", "deadlines", "compliance", "stays", "open_plans", "closures", "activity",
                 "roles", "refusals", "exceptions", "advice", "states", "stored", "referred", "open_at_start",
                 "plans_at_start", "work", "window")

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
        self.work: Counter = Counter()         # (YYYY-MM, WORK activity, role recorded or "")
        self.window: tuple[date, date] | None = None  # (first day, last day) counted

    def add_case(self, case, end: date, start: date | None = None) -> None:
        """Count one finished case; ``end`` is the last day of the window and
        ``start`` its first (None: count the whole case)."""
        self.stored += 1
        if start is not None and self.window is None:
            self.window = (start, end)
        history = case.history
        chair = ""  # the chair of the last CIN meeting (its minutes are that chair's)
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
            chair = next((h.attributes["chair"] for h in reversed(before) if h.accepted and h.event == "cin_meeting"),
                         "")
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
            month = _MONTHS.get(h.date) or _month(h.date)
            name = h.event
            if name == "cin_meeting":
                kind = h.attributes["kind"]
                self.activity[(month, "initial meetings" if kind == "initial" else "reviews")] += 1
                chair = h.attributes["chair"]
                self.roles[(month, f"chaired {kind}: {chair}")] += 1
                self.work[(month, "initial_meeting" if kind == "initial" else "review", chair)] += 1
                if kind == "review" and chair == "iro":
                    self.activity[(month, "reviews chaired by an IRO")] += 1
            elif name in ACTIVITIES:
                self.activity[(month, ACTIVITIES[name])] += 1
                work = WORK_EVENTS.get(name)
                if work is not None:
                    role = ("" if work not in RECORDED_ROLE else chair if work == "minutes"
                            else CONFERENCE_CHAIR if work in ("icpc", "cp_review") else h.attributes.get("role") or "")
                    self.work[(month, work, role)] += 1
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
        if self.window is None:
            self.window = other.window
        elif other.window is not None and other.window != self.window:
            raise ValueError(f"cannot merge tallies of different windows: {self.window} and {other.window}")
        for name in ("compliance", "stays", "closures", "activity", "roles", "refusals", "exceptions", "advice", "states",
                     "work"):
            getattr(self, name).update(getattr(other, name))

    def summary(self, calibration=None, months: float | None = None) -> dict:
        """The counts as a summary.  ``calibration`` (its ``workload`` and
        ``benchmarks``; None, or a calibration without them: no hours or FTE)
        turns activity into hours and FTE by role; ``months`` is the window's
        length (default: the window the cases were counted in, else 12)."""
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
        workforce = self._workforce(workload, calibration, months)
        totals: Counter = Counter(dict.fromkeys((*ACTIVITIES.values(), "initial meetings", "reviews",
                                                  "reviews chaired by an IRO"), 0))
        for (_, what), n in self.activity.items():
            totals[what] += n
        totals["meetings"] = sum(totals[m] for m in MEETINGS)
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
            "workload_total": dict(sorted(totals.items())),
            "workforce": workforce,
            "refusals": dict(sorted(self.refusals.items(), key=lambda kv: (-kv[1], kv[0]))),
            "exceptions": dict(sorted(self.exceptions.items(), key=lambda kv: (-kv[1], kv[0]))),
            "advice": dict(sorted(self.advice.items(), key=lambda kv: (-kv[1], kv[0]))),
        }


    def _workforce(self, workload: dict, calibration, months: float | None) -> dict:
        """Activities, hours and FTE by role; adds each month's ``by_role``
        (and ``hours``, with a workload table) to ``workload``."""
        table = getattr(calibration, "workload", None)
        hours_table = table.hours.value if table is not None else None
        if months is None:
            months = _months(*self.window) if self.window is not None else 12
        monthly_hours: dict[str, Counter] = {}
        by_role: dict[str, dict[str, Counter]] = {}
        activities: dict[str, Counter] = {}
        activity_hours: dict[str, Counter] = {}
        for (month, work, recorded), n in sorted(self.work.items()):
            recorded = recorded or (UNRECORDED_DECISION if work == "manager_decision" else "unrecorded")
            parts = hours_table.get(work, {}) if hours_table is not None else dict.fromkeys(TAKES_PART[work], 0)
            month_roles = by_role.setdefault(month, {})
            for role in {recorded if r == RECORDED_ROLE.get(work) else r for r in parts}:
                month_roles.setdefault(role, Counter())[work] += n
                activities.setdefault(role, Counter())[work] += n
            if hours_table is not None:
                for r, h in sorted(parts.items()):
                    role = recorded if r == RECORDED_ROLE.get(work) else r
                    monthly_hours.setdefault(month, Counter())[role] += n * h
                    activity_hours.setdefault(role, Counter())[work] += n * h
        for month, roles in by_role.items():
            entry = workload.setdefault(month, {"activity": {}, "role": {}})
            entry["by_role"] = {r: dict(sorted(c.items())) for r, c in sorted(roles.items())}
            if hours_table is not None:
                entry["hours"] = {r: round(h, 2) for r, h in sorted(monthly_hours.get(month, Counter()).items())}
        held = sum(n for st, n in self.states.items() if st in HELD_STATES)
        bench = getattr(getattr(calibration, "benchmarks", None), "caseload_per_fte", None)
        out = {
            "window_months": round(months, 3),
            "activities": {r: dict(sorted(c.items())) for r, c in sorted(activities.items())},
            "hours": {}, "fte": {}, "activity_hours": {}, "hours_total": None, "fte_total": None,
            "cases_held_at_end": held,
            "caseload_per_fte": None,
            "national_caseload_per_fte": bench.value if bench is not None else None,
            "national_caseload_source": bench.source if bench is not None else None,
            "assumptions": "",
        }
        conference = f"conferences chaired by an {CONFERENCE_CHAIR}, unrecorded decisions a {UNRECORDED_DECISION}'s"
        held_text = "cases held = open past the referral (assessment to CIN plan), no looked-after children"
        if table is None:
            out["assumptions"] = f"no workload table in the calibration: activities only; {conference}; {held_text}"
            return out
        hours: Counter = Counter()
        for role, c in activity_hours.items():
            hours[role] = sum(v for _, v in sorted(c.items()))
        fte_year = table.fte_hours_per_year.value * table.counted_share.value
        per_year = 12 / months if months else 0.0
        out["hours"] = {r: round(h, 2) for r, h in sorted(hours.items())}
        out["activity_hours"] = {r: {w: round(h, 2) for w, h in sorted(c.items())} for r, c in sorted(activity_hours.items())}
        out["fte"] = {r: round(h * per_year / fte_year, 3) for r, h in sorted(hours.items())}
        out["hours_total"] = round(sum(v for _, v in sorted(hours.items())), 2)
        out["fte_total"] = round(out["hours_total"] * per_year / fte_year, 3)
        sw = hours.get("social_worker", 0) * per_year / fte_year
        out["caseload_per_fte"] = round(held / sw, 2) if sw > 0 else None
        out["assumptions"] = (f"hours from the calibration's workload table (assumptions); FTE = hours a year / "
                              f"({table.fte_hours_per_year.value:g} h x {table.counted_share.value:g} on the activities "
                              f"counted); {conference}; minutes by the meeting's chair; {held_text}")
        return out


def _months(start: date, last: date) -> float:
    """The length in months of the window from ``start`` to ``last`` (inclusive)."""
    after = last + timedelta(days=1)
    whole = (after.year - start.year) * 12 + after.month - start.month
    if after.day == start.day:
        return whole
    return (after - start).days / (365.2425 / 12)


def figures(s: dict) -> dict[str, float]:
    """An authority's summary as ``{dotted key: number}``: every figure worth
    an interval over replicates, each key a path into the summary."""
    out: dict[str, float] = {}

    def put(key, value):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = value

    for key in ("cases", "referred_in_window", "open_at_window_start", "plans_open_at_start", "plans_open_at_end",
                "events", "deadlines"):
        put(key, s.get(key))
    for name, row in (s.get("deadline_compliance") or {}).items():
        for status, n in row.items():
            put(f"deadline_compliance.{name}.{status}", n)
    for state, q in (s.get("days_in_state") or {}).items():
        for k in ("median", "p90"):
            put(f"days_in_state.{state}.{k}", q.get(k))
    for section in ("states_at_end", "closures", "refusals", "exceptions", "advice", "workload_total"):
        for k, n in (s.get(section) or {}).items():
            put(f"{section}.{k}", n)
    for month, w in (s.get("workload") or {}).items():
        for kind in ("activity", "hours"):
            for k, n in (w.get(kind) or {}).items():
                put(f"workload.{month}.{kind}.{k}", n)
    wf = s.get("workforce") or {}
    for kind in ("hours", "fte"):
        for role, n in (wf.get(kind) or {}).items():
            put(f"workforce.{kind}.{role}", n)
    for role, c in (wf.get("activities") or {}).items():
        for work, n in c.items():
            put(f"workforce.activities.{role}.{work}", n)
    for key in ("hours_total", "fte_total", "cases_held_at_end", "caseload_per_fte"):
        put(f"workforce.{key}", wf.get(key))
    return out


def quantile(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` by linear interpolation between the
    order statistics (numpy's default, Hyndman and Fan type 7)."""
    v = sorted(values)
    pos = q * (len(v) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def intervals(runs: list[dict[str, float]], interval: float = 0.9) -> dict[str, dict[str, float]]:
    """Median and central ``interval`` of each figure over replicates (a
    :func:`figures` dict each; a key missing from one counts as 0), by
    :func:`quantile`."""
    if not 0 < interval < 1:
        raise ValueError(f"interval must be between 0 and 1, got {interval}")
    keys = sorted({k for r in runs for k in r})
    out = {}
    for k in keys:
        values = [float(r.get(k, 0)) for r in runs]
        out[k] = {"median": round(quantile(values, 0.5), 6), "low": round(quantile(values, (1 - interval) / 2), 6),
                  "high": round(quantile(values, (1 + interval) / 2), 6)}
    return out


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
