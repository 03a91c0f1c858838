"""The simulated practitioner: takes one referral through one authority's
policy the way a team would.

It knows no council.  It reads what to do from the policy itself: the
deadlines open on the case say what is due and which event meets it, and a
refusal's rule says how to put it right (a chair rule names who may chair; a
rule with a ``decision`` parameter names the manager decision to record
first; anything else about ending a plan means carrying on until a later
review).  Timings come from the calibration, drawn from per-case streams, so
the same child meets the same practice under every authority.
"""

from __future__ import annotations

from datetime import date, timedelta

from ..calendar import add_months, age_on, birthday, england
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
        self.slips: dict = {}  # one slip per deadline occurrence, drawn when first seen

    # -- draws ------------------------------------------------------------------

    def _next(self, stream: int):
        """The case's stream for ``stream`` (made on first use) and its next draw number."""
        try:
            s = self.s[stream]
        except KeyError:
            s = self.s[stream] = self.pr.gen.stream(self.ref.number, stream)
            self.n[stream] = 0
        k = self.n[stream]
        self.n[stream] = k + 1
        return s, k

    def u(self, stream: int) -> float:
        s, k = self._next(stream)
        return s.u(k)

    def draw(self, band: str, stream: int) -> int:
        return self.pr.band[band].draw(self.u(stream), self.u(stream))

    def later(self, day: date, working_days: int) -> date:
        return self.pr.wd.add(day, working_days)

    # -- applying ---------------------------------------------------------------

    def event(self, name: str, day: date, **attrs):
        return EVENT_TYPES[name](date=day, **attrs)

    def apply(self, ev) -> bool:
        """Apply ``ev``, putting refusals right as a team would; False if it
        could not be done (the refusals stay in the case history)."""
        for _ in range(MAX_ATTEMPTS):
            if ev.date >= self.pr.until:
                raise _Stop
            if ev.date < self.today:
                ev = _with(ev, date=self.today)
            if ev.date >= self.adult and self.case.state not in FINAL_STATES and ev.event not in PAPERWORK:
                self.case = self.policy.advance(self.case, ev.date)
                if self.case.state in FINAL_STATES:
                    raise _Stop  # the child turned 18: the case closed itself
            self.case = self.policy.apply(self.case, ev)
            self.today = ev.date
            item = self.case.last
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
            day = ev.date + timedelta(days=self.draw("fix_days", streams.FIX))
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
        day = ev.date + timedelta(days=self.draw("fix_days", streams.FIX))
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
        if ev.date >= self.pr.until:
            raise _Stop
        if ev.date >= self.adult:
            self.case = self.policy.advance(self.case, ev.date)
            if self.case.state in FINAL_STATES:
                raise _Stop
        self.case = self.policy.apply(self.case, ev)
        self.today = max(self.today, ev.date)

    def agreed_review(self, day: date) -> date:
        return day + timedelta(weeks=self.draw("agreed_review_weeks", streams.AGREED))

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
        done = self.later(day, self.draw("assessment_working_days", streams.TIMING))
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
                ended = add_months(conference, self.draw("cp_plan_months", streams.TIMING))
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
            day = self.later(max(self.today, due - timedelta(days=14)), 0)
            day = day if self.pr.wd.is_working_day(day) else self.later(day, 1)
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
        self.postponed = False
        while self.case.state == "initial_cin":
            if not self.apply(self.meeting(meeting_day, "initial", "continue")):
                meeting_day = self.later(max(meeting_day, self.today), 5)
        while True:
            if self.case.state not in PLAN_OPEN:
                self.paperwork_after_end()
                return
            action = self.next_action(intended_end, ending)
            if action is None:
                return
            day, kind, tmpl = action
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
            self.apply(self.event(name, day, **attrs))

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
            slip = self.slips.get(key)
            if slip is None:
                if kind == "review":
                    slip = self.draw("review_slip_days", streams.REVIEW_SLIP)
                elif kind == "visit":
                    slip = self.draw("visit_slip_days", streams.VISIT_SLIP)
                else:
                    slip = self.draw("paperwork_slip_days", streams.PAPER_SLIP)
                self.slips[key] = slip
            day = max(self.today, d.opened_on, d.due + timedelta(days=slip))
            if best is None or (day, kind) < (best[0], best[1]):
                best = (day, kind, tmpl)
        if not has_review and case.state == "cin_plan":
            last = case.facts.last_meeting or self.today
            day = max(self.today, last + timedelta(weeks=pr.default_weeks))
            if best is None or day < best[0]:
                best = (day, "review", None)
        if ending in ("looked_after", "moved_away") and case.state in ("cin_plan",):
            day = max(self.today, intended_end)
            if best is None or day < best[0]:
                best = (day, "end", None)
        return best

    def end_plan(self, day: date, ending: str) -> None:
        if ending == "looked_after":
            self.apply(self.event("became_looked_after", day))
            return
        moved = day + timedelta(days=7)
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
            day = max(self.today, d.opened_on, d.due + timedelta(days=self.draw("paperwork_slip_days", streams.PAPER_SLIP)))
            self.apply(self.event(tmpl[0], day, **tmpl[1]))


def _with(ev, **changes):
    from attrs import evolve

    return evolve(ev, **changes)


def finished(case) -> bool:
    return case.state in FINAL_STATES
