"""The simulated practitioner: takes one referral through one authority's
policy the way a team would.

It knows no council.  It reads what to do from the policy itself: the
deadlines open on the case say what is due and which event meets it, and a
refusal's rule says how to put it right (a chair rule names who may chair; a
rule with a ``decision`` parameter names the manager decision to record
first; anything else about ending a plan means carrying on until a later
review).  Timings come from the calibration, drawn from per-case streams, so
the same child meets the same practice under every authority.  A team works
on England and Wales working days: whatever it does lands on one
(:data:`PRACTITIONER_DATED`); what happens on its own date keeps it
(:data:`OWN_DATED`).
"""

from __future__ import annotations

from datetime import date, timedelta

from ..calendar import WorkingDays, add_months, age_on, birthday, canonical, england
from ..events import EVENT_TYPES
from ..models import Child
from ..states import FINAL_STATES, PLAN_OPEN
from ..states.endings import INTERNAL, PAPERWORK
from ..vocabulary import ENDING_OUTCOMES
from . import cohort as streams
from .draws import Banded, Choice

SCHEDULED = frozenset(INTERNAL) | frozenset(PAPERWORK) | {"cin_meeting"}
TRANSFER_PAPERWORK = ("receiving_authority_notified", "transfer_information_sent", "case_records_completed")

MAX_ATTEMPTS = 4

# The draws the cohort takes from a case's streams (cohort.py,
# Cohort.__getitem__): REFERRAL 0-3, CHILD 0-12, PATHWAY 0 (the draw that
# chose the pathway); none from TIMING or PLAN.  Practice starts each stream
# past them so that it never reuses a uniform the cohort consumed: starting
# PATHWAY at 0 made the first "is there a conference?" draw of a section 47
# referral the very draw that chose section 47 (so about 60% of enquiries,
# not 31.3%, went to conference), and made every refused consent "harm
# likely".  Practice draws nothing from REFERRAL or CHILD; they are listed
# so that it never could by accident.
FIRST_DRAW = {streams.REFERRAL: 4, streams.CHILD: 13, streams.PATHWAY: 1}

# Events that happen on their own date, whatever the day of the week: the
# referral (the cohort refers on working days already), the 18th birthday, a
# death, a move abroad, and becoming looked after (children come into care on
# any day: emergency placements are made at weekends and on bank holidays, so
# the plan's ending keeps the date drawn for it).  A family's move date
# (move_notified's ``moved_on``) is an attribute and keeps its date too.
OWN_DATED = frozenset({"referral_received", "eighteenth_birthday", "child_died", "moved_abroad", "became_looked_after"})
# Everything else is something a team does (meetings, visits, conferences,
# minutes, decisions, strategy discussions, assessments and enquiries,
# notifications, transfer paperwork): on working days only.
PRACTITIONER_DATED = frozenset(EVENT_TYPES) - OWN_DATED


def working_day_on_or_after(day: date, wd: WorkingDays | None = None) -> date:
    """``day`` if it is a working day, else the next working day after it."""
    return (wd or england()).on_or_after(day)


def shift_working_days(day: date, n: int, wd: WorkingDays | None = None) -> date:
    """``day`` moved by ``n`` working days, counted as :meth:`WorkingDays.add`
    counts them (``day`` is day 0): ``n`` < 0 is the ``-n``-th working day
    before ``day``."""
    wd = wd or england()
    return wd.add(day, n) if n >= 0 else wd.back(day, -n)


def _default_chair(policy, kind: str) -> str:
    """The role a team usually asks to chair: the first the policy names."""
    for rule in policy.chair_rules:
        if kind in rule.kinds:
            return rule.roles[0]
    return "social_worker"


class Practitioner:
    """Runs referrals through one policy up to ``until`` (exclusive)."""

    def __init__(self, policy, calibration, generator, until: date):
        self.policy, self.cal, self.gen, self.until = policy, calibration, generator, until
        self.wd = england()
        # Deadlines counted in working days: a team's slip on them is counted in working days too.
        self.working_day_rules = frozenset(r.rule.id for r in policy.deadline_rules
                                           if r.rule.timescale is not None and r.rule.timescale.unit == "working_days")
        self.templates: dict[str, tuple[str, dict]] = {}
        for rule in policy.deadline_rules:
            trig = rule.fulfilled_by[0]
            if trig.event in SCHEDULED and not (trig.event == "cin_meeting" and dict(trig.when).get("kind") != frozenset({"review"})):
                self.templates.setdefault(rule.name, (trig.event, {k: sorted(v, key=str)[0] for k, v in trig.when}))
        share = calibration.practice.exception_share
        self.exception_share = share.value if share is not None else 0.0
        self.chair = {k: _default_chair(policy, k) for k in ("initial", "review")}
        p, d, o = calibration.practice, calibration.durations, calibration.outcomes
        self.band = {name: Banded(getattr(p, name).bands) for name in (
            "consent_working_days", "initial_meeting_working_days", "review_slip_days", "visit_slip_days",
            "paperwork_slip_days", "agreed_review_weeks", "fix_days")}
        self.band.update({name: Banded(getattr(d, name).bands) for name in (
            "assessment_working_days", "icpc_working_days", "s47_working_days", "cp_plan_months", "cin_plan_months")})
        self.endings = Choice(calibration.plan_endings.value)
        self.categories = Choice(calibration.census.abuse_categories.value)
        self.factor_shares = tuple(calibration.census.assessment_factors.value.items())
        self.o = o
        self.close_at_initial = o.close_at_initial_meeting.value if o.close_at_initial_meeting is not None else 0.0
        self.default_weeks = int(p.default_interval_weeks.value)

    def run(self, referral, case_id: str):
        return _CaseRun(self, referral, case_id).run()


class _Stop(Exception):
    """The simulation window ended."""


class _CaseRun:
    def __init__(self, pr: Practitioner, ref, case_id: str):
        self.pr, self.ref = pr, ref
        self.policy = pr.policy
        child = Child(birth_date=ref.birth_date, disabled=ref.disabled, short_break_nights=ref.short_break_nights,
                      short_break_settings=1 if ref.short_break_nights else 0, sex=ref.sex, ethnicity=ref.ethnicity,
                      upn_unknown_reason=ref.upn_unknown_reason, disability_codes=ref.disability_codes)
        self.case = pr.policy.new_case(case_id, child)
        self.s: dict = {}  # streams, made on first use
        self.n: dict = {}
        self.today = ref.date
        self.adult = birthday(ref.birth_date, 18)
        self.slips: dict = {}  # per deadline occurrence: the day its slip (drawn when first seen) plans it for
        # Occurrences whose event was refused on a day: tried again no sooner than the day after.
        self.retry: dict = {}

    # -- draws ------------------------------------------------------------------

    def _next(self, stream: int):
        """The case's stream for ``stream`` (made on first use) and its next draw number."""
        try:
            s = self.s[stream]
        except KeyError:
            s = self.s[stream] = self.pr.gen.stream(self.ref.number, stream)
            self.n[stream] = FIRST_DRAW.get(stream, 0)  # past the cohort's draws
        k = self.n[stream]
        self.n[stream] = k + 1
        return s, k

    def u(self, stream: int) -> float:
        # _next, inlined: this runs a few dozen times a case.
        n = self.n
        k = n.get(stream)
        if k is None:
            s, k = self._next(stream)
            return s.u(k)
        n[stream] = k + 1
        return self.s[stream].u(k)

    def draw(self, band: str, stream: int) -> int:
        # Two uniforms, the stream's next two: u(stream), u(stream), inlined.
        k = self.n.get(stream)
        if k is None:
            s, k = self._next(stream)
        else:
            s = self.s[stream]
        self.n[stream] = k + 2
        return self.pr.band[band].draw(s.u(k), s.u(k + 1))

    def later(self, day: date, working_days: int) -> date:
        return self.pr.wd.add(day, working_days)

    def workday(self, day: date) -> date:
        """The day a team does what was planned for ``day``: the first working day on or after it."""
        return self.pr.wd.on_or_after(day)

    def fix_day(self, ev) -> date:
        """When a refused ``ev`` is put right: ``fix_days`` working days after it."""
        return self.later(self.workday(ev.date), self.draw("fix_days", streams.FIX))

    def slipped(self, d, slip: int, today: date | None = ...) -> date:
        """Deadline ``d`` met ``slip`` days from its due date (negative: early), on
        a working day, never before today or the deadline opened.  The slip is
        in working days where the deadline is counted in them, else drawn in
        calendar days and applied as the working days it spans.  Early is never the day the deadline opened, but at the
        soonest the working day after: a visit every 10 working days slipped
        10 early would otherwise fall on the day of the visit that opened it,
        opening the same occurrence again, for ever."""
        wd = self.pr.wd
        if d.rule in self.pr.working_day_rules:
            day = shift_working_days(d.due, slip, wd)
        else:
            # A slip of so many calendar days spans about 5/7 as many working
            # days: applied as those, from the working day nearest the due
            # date, a week's work spreads over the week (moving a weekend
            # date to the next working day piled visits up on Mondays).
            due = d.due
            if not wd.is_working_day(due):
                due = shift_working_days(due, -1, wd) if slip <= 0 else wd.add(due, 1)
            day = shift_working_days(due, round(slip * 5 / 7), wd)
        # Early (even by moving off a weekend due date) is never the day the deadline opened.
        earliest = self.later(d.opened_on, 1) if day < d.due else d.opened_on
        if today is ...:
            today = self.today
        return self.workday(max(earliest, day) if today is None else max(today, earliest, day))

    # -- applying ---------------------------------------------------------------

    def event(self, name: str, day: date, **attrs):
        return EVENT_TYPES[name](date=day, **attrs)

    def apply(self, ev) -> bool:
        """Apply ``ev``, putting refusals right as a team would; False if it
        could not be done (the refusals stay in the case history)."""
        for _ in range(MAX_ATTEMPTS):
            # Never back in time; what a team does waits for a working day
            # (today may be a weekend an own-dated event fell on).
            day = max(ev.date, self.today)
            if ev.event in PRACTITIONER_DATED:
                day = self.pr.wd.on_or_after(day)
            if day != ev.date:
                ev = _with(ev, date=day)
            if ev.date >= self.pr.until:
                raise _Stop
            if ev.date >= self.adult and self.case.state not in FINAL_STATES and ev.event not in PAPERWORK:
                self.case = self.policy.advance(self.case, ev.date)
                if self.case.state in FINAL_STATES:
                    raise _Stop  # the child turned 18: the case closed itself
            self.case = self.policy.apply(self.case, ev)
            self.today = ev.date
            item = self.case.history[-1]
            if item.accepted:
                return True
            ev = self.fix(ev, item.reasons)
            if ev is None:
                return False
        return False

    def fix(self, ev, reasons):
        """Put a refusal right from the remedies it states: the chair it
        names, the decisions it asks for, or (for a "should", as often as the
        calibration says) an exception a manager authorises.  An ending that
        may not happen yet becomes "carry on" until a later review."""
        remedies = [[m for m in r.remedies if m.kind != "needs_exception"] for r in reasons]
        exceptions = [next((m for m in r.remedies if m.kind == "needs_exception"), None) for r in reasons]
        share = self.pr.exception_share
        if share and all(e is not None for e in exceptions) and self.u(streams.EXCEPTION) < share:
            day = self.fix_day(ev)
            for e in exceptions:
                self.apply_simple(self.event("manager_decision", day, kind="exception", rule=e.rule, role=e.roles[0],
                                             reason="authorised departure (simulated)"))
            return _with(ev, date=day)
        # Each reason's remedies are alternatives: a team takes the first it can act on now.
        actions = [next((m for m in ms if m.kind in ("needs_chair", "needs_decision")), None) for ms in remedies]
        fixable = [m is not None for m in actions]
        ending = ev.event == "cin_meeting" and ev.outcome in ENDING_OUTCOMES
        if ending and not all(fixable):
            # Not allowed to end yet: carry on and try again at a later review.
            self.postponed = True
            return _with(ev, outcome="continue", next_review=ev.next_review or self.agreed_review(ev.date),
                         lead_professional_named=None)
        if ev.event == "cin_meeting" and any(m.kind == "one_of" and m.attribute == "outcome" for ms in remedies for m in ms):
            return _with(ev, outcome="continue", next_review=ev.next_review or self.agreed_review(ev.date))
        if not all(fixable):
            return None  # nothing this team knows how to put right
        day = self.fix_day(ev)
        allowed = None
        for m in actions:
            if m.kind == "needs_decision":
                for role in (m.roles if m.each else m.roles[:1]) or ("team_manager",):
                    self.apply_simple(self.event("manager_decision", day, kind=m.decision, role=role))
            elif m.kind == "needs_chair":
                allowed = set(m.roles) if allowed is None else allowed & set(m.roles)
        if allowed is not None:
            if not allowed:
                return None
            return _with(ev, date=day, chair=sorted(allowed)[0])
        return _with(ev, date=day)

    def apply_simple(self, ev) -> None:
        if ev.event in PRACTITIONER_DATED and not self.pr.wd.is_working_day(ev.date):
            ev = _with(ev, date=self.workday(ev.date))
        if ev.date >= self.pr.until:
            raise _Stop
        if ev.date >= self.adult:
            self.case = self.policy.advance(self.case, ev.date)
            if self.case.state in FINAL_STATES:
                raise _Stop
        self.case = self.policy.apply(self.case, ev)
        self.today = max(self.today, ev.date)

    def agreed_review(self, day: date) -> date:
        return canonical(day + timedelta(weeks=self.draw("agreed_review_weeks", streams.AGREED)))

    # -- the lifecycle ----------------------------------------------------------

    def run(self):
        try:
            self.intake()
        except _Stop:
            pass
        return self.policy.advance(self.case, self.pr.until - timedelta(days=1))

    def intake(self) -> None:
        ref, o = self.ref, self.pr.o
        day = ref.date
        self.apply(self.event("referral_received", day, referral_source=ref.source, primary_need=ref.need))
        pathway = ref.pathway
        if pathway == "no_further_action":
            self.apply(self.event("case_closed", self.later(day, 1), reason="no further action at referral"))
            return
        consent_day = self.later(day, self.draw("consent_working_days", streams.CONSENT))
        if pathway == "consent_refused":
            harm = self.u(streams.PATHWAY) < o.consent_refused_harm_share.value
            self.apply(self.event("consent_refused", consent_day, significant_harm_likely=harm))
            if self.case.state == "s47_enquiry":
                self.section_47(consent_day)
            return
        if pathway == "section_47":
            start = self.later(day, self.draw("consent_working_days", streams.CONSENT))
            self.apply(self.event("strategy_discussion", start))
            self.section_47(start)
            return
        young = age_on(ref.birth_date, consent_day) >= 16
        self.apply(self.event("consent_given", consent_day, young_person_consent=True if young else None))
        # The assessment starts with consent, as the census counts its duration (S4's bands).
        done = self.later(consent_day, self.draw("assessment_working_days", streams.TIMING))
        if pathway == "not_in_need":
            early = self.u(streams.PATHWAY) < o.not_in_need_early_help_share.value
            self.apply(self.event("assessment_completed", done, outcome="early_help" if early else "no_further_action",
                                  factors=("21",)))
            return
        if self.apply(self.event("assessment_completed", done, outcome="cin_plan", primary_need=ref.need,
                                 factors=self.factors())):
            self.plan(done)

    def section_47(self, start: date) -> None:
        o = self.pr.o
        if self.u(streams.PATHWAY) < o.icpc_per_s47.value:
            conference = self.later(start, self.draw("icpc_working_days", streams.TIMING))
            if not self.apply(self.event("s47_completed", conference, outcome="icpc", factors=self.factors())):
                return
            if self.u(streams.PATHWAY) < o.cp_plan_per_icpc.value:
                census = self.pr.cal.census
                category = self.pr.categories.pick(self.u(streams.TIMING))
                previous = 1 if self.u(streams.TIMING) < census.repeat_cp_plan.value else 0
                self.apply(self.event("cp_plan_started", conference, categories=(category,), previous_plans=previous))
                # The plan ends at a review conference: on a working day.
                ended = self.workday(add_months(conference, self.draw("cp_plan_months", streams.TIMING)))
                self.cp_reviews(ended)
                to_cin = self.u(streams.PATHWAY) < o.cp_step_down_to_cin.value
                if self.apply(self.event("cp_plan_ended", ended, outcome="cin_plan" if to_cin else "closed")) and to_cin:
                    self.plan(ended)
                return
            to_cin = self.u(streams.PATHWAY) < o.icpc_to_cin_plan.value
            if self.apply(self.event("icpc_held", conference, outcome="cin_plan" if to_cin else "no_further_action")) and to_cin:
                self.plan(conference)
            return
        done = self.later(start, self.draw("s47_working_days", streams.TIMING))
        to_cin = self.u(streams.PATHWAY) < o.s47_to_cin_plan.value
        if self.apply(self.event("s47_completed", done, outcome="cin_plan" if to_cin else "no_further_action",
                                 factors=self.factors())) and to_cin:
            self.plan(done)

    def cp_reviews(self, ended: date) -> None:
        """Review conferences while the CP plan lasts, when the policy's deadline says."""
        while self.case.state == "child_protection":
            due = next((d.due for d in self.case.deadlines if d.name == "cp_review" and d.is_open), None)
            if due is None:
                return
            day = self.workday(max(self.today, due - timedelta(days=14)))
            if day >= ended:
                return
            if not self.apply(self.event("cp_review", day)):
                return

    def plan(self, decided: date) -> None:
        """From the decision that a plan is needed to its end."""
        pr = self.pr
        meeting_day = self.later(decided, self.draw("initial_meeting_working_days", streams.INITIAL))
        intended_end = add_months(meeting_day, self.draw("cin_plan_months", streams.PLAN))
        ending = pr.endings.pick(self.u(streams.PLAN))
        # Some initial meetings find that no plan is needed and close the case
        # (where the policy lets a case close there; else it carries on).
        first = "close" if pr.close_at_initial and self.u(streams.PLAN) < pr.close_at_initial else "continue"
        self.postponed = False
        while self.case.state == "initial_cin":
            if not self.apply(self.meeting(meeting_day, "initial", first)):
                meeting_day = self.later(max(meeting_day, self.today), 5)
        while True:
            if self.case.state not in PLAN_OPEN:
                self.paperwork_after_end()
                return
            action = self.next_action(intended_end, ending)
            if action is None:
                return
            day, kind, tmpl, key = (*action, None)[:4]
            if kind == "end":
                self.end_plan(day, ending)
                if ending == "escalate" and self.case.state == "s47_enquiry":
                    self.section_47(self.today)
                    return
                continue
            if kind == "review":
                outcome = "continue"
                if day >= intended_end and ending in ("close", "step_down", "escalate"):
                    outcome = ending
                self.apply(self.meeting(day, "review", outcome))
                if self.case.state == "cin_plan" and self.case.last.accepted and outcome == "escalate":
                    self.apply(self.event("strategy_discussion", self.later(self.today, 1)))
                    if self.case.state == "s47_enquiry":
                        self.section_47(self.today)
                        return
                continue
            name, attrs = tmpl
            if name == "visit":
                attrs = {**attrs, "seen_alone": True}
            if not self.apply(self.event(name, day, **attrs)) and key is not None:
                # Refused and not put right (e.g. too early for the policy): a team tries
                # again the next working day, rather than the same day for ever.
                self.retry[key] = self.later(max(day, self.today), 1)

    def factors(self) -> tuple[str, ...]:
        """Factors found at assessment: each by its national share, at least one
        (four factors per draw: this runs for most cases)."""
        shares = self.pr.factor_shares
        draws: list[float] = []
        while len(draws) < len(shares):
            draws.extend(self.u4(streams.TIMING))
        found = tuple(code for (code, share), u in zip(shares, draws) if u < share)
        return found or ("20",)

    def u4(self, stream: int):
        s, k = self._next(stream)
        return s.u4(k)

    def meeting(self, day: date, kind: str, outcome: str):
        attrs = {"kind": kind, "chair": self.pr.chair[kind], "outcome": outcome}
        if outcome in ("continue", "reassess", "escalate"):
            attrs["next_review"] = self.agreed_review(day)
        if kind == "initial":
            attrs["review_chair"] = self.pr.chair["review"]
        if outcome == "step_down":
            attrs["lead_professional_named"] = True
        return self.event("cin_meeting", day, **attrs)

    def next_action(self, intended_end: date, ending: str):
        """The soonest thing due: an open deadline's fulfilling event (at its
        due date plus this team's slip), or the plan's intended end."""
        pr, case = self.pr, self.case
        best = None
        has_review = False
        for d in case.deadlines:
            if d.met_on is not None or d.ended_on is not None:
                continue
            tmpl = pr.templates.get(d.name)
            if tmpl is None:
                continue
            event = tmpl[0]
            kind = "review" if event == "cin_meeting" else "visit" if event == "visit" else "paper"
            has_review = has_review or kind == "review"
            key = (d.name, d.opened_on, d.due)
            planned = self.slips.get(key)
            if planned is None:
                if kind == "review":
                    slip = self.draw("review_slip_days", streams.REVIEW_SLIP)
                elif kind == "visit":
                    slip = self.draw("visit_slip_days", streams.VISIT_SLIP)
                else:
                    slip = self.draw("paperwork_slip_days", streams.PAPER_SLIP)
                # The day it is planned for whatever today is (slipped() with
                # today at its earliest); today later than that moves it to today.
                planned = self.slips[key] = self.slipped(d, slip, None)
            day = planned if planned >= self.today else self.workday(self.today)
            if key in self.retry:
                day = max(day, self.retry[key])
            if best is None or (day, kind) < (best[0], best[1]):
                best = (day, kind, tmpl, key)
        if not has_review and case.state == "cin_plan":
            last = case.facts.last_meeting or self.today
            day = self.workday(max(self.today, last + timedelta(weeks=pr.default_weeks)))
            if best is None or day < best[0]:
                best = (day, "review", None)
        if ending in ("looked_after", "moved_away") and case.state in ("cin_plan",):
            day = max(self.today, intended_end)  # a working day for a move (end_plan), any day into care
            if best is None or day < best[0]:
                best = (day, "end", None)
        return best

    def end_plan(self, day: date, ending: str) -> None:
        if ending == "looked_after":
            self.apply(self.event("became_looked_after", day))
            return
        day = self.workday(day)  # the team records the notice on a working day
        moved = canonical(day + timedelta(days=7))  # the family's own date: any day
        if not self.apply(self.event("move_notified", day, planned=True, moved_on=moved)):
            return
        for i, name in enumerate(TRANSFER_PAPERWORK, start=1):
            self.apply(self.event(name, self.later(day, i)))
        self.apply(self.event("transfer_completed", self.later(day, 15)))

    def paperwork_after_end(self) -> None:
        """Paperwork still owed once the case has ended (minutes of the last meeting)."""
        pr = self.pr
        for d in sorted((d for d in self.case.deadlines if d.is_open), key=lambda d: (d.due, d.name)):
            tmpl = pr.templates.get(d.name)
            if tmpl is None or tmpl[0] not in PAPERWORK:
                continue
            day = self.slipped(d, self.draw("paperwork_slip_days", streams.PAPER_SLIP))
            self.apply(self.event(tmpl[0], day, **tmpl[1]))


def _with(ev, **changes):
    from attrs import evolve

    return evolve(ev, **changes)


def finished(case) -> bool:
    return case.state in FINAL_STATES
