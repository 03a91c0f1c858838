"""Building blocks policy authors reuse: predicates, triggers and guard
builders for rules that recur across procedures.

Each builder takes the :class:`~cinflow.rules.RuleInfo` it enforces and reads
its numbers, roles and decision kinds from the rule's ``params`` (so they stay
data in ``policy.yaml``).  Nothing here knows any authority.

Decision parameters: ``decision`` is the ``manager_decision`` kind a rule asks
for and ``decision_roles`` (optional) who must have made it.
"""

from __future__ import annotations

from datetime import date

from .calendar import add_months
from .models import needs_decision, not_before, one_of
from .rules import Guard, Predicate, Refusal, on
from .states import DECIDED_ENDINGS, PLAN_IN_FORCE, PLAN_OPEN
from .vocabulary import CLOSURES_BY_CIRCUMSTANCE, CONTINUING_OUTCOMES, ENDING_OUTCOMES, OUTCOME_LABELS, roles_in_words

# States in which a CIN plan is required or in force, including while a move
# away is handed over: closing the case from any of them ends a plan.
PLAN_STATES = PLAN_OPEN
PLAN_ENDING_EVENTS = frozenset({"cin_meeting", "case_closed"})
# Where a plan ends by decision: guards about ending only look at these moves.
ENDINGS = DECIDED_ENDINGS
# Where a meeting that continues the plan leaves the case.
CONTINUING = PLAN_IN_FORCE

# -- predicates ---------------------------------------------------------------

DISABLED = Predicate("the child is disabled (open to a disabled children's service)", lambda ctx: ctx.child.disabled)
NOT_DISABLED = Predicate("the child is not disabled", lambda ctx: not ctx.child.disabled)
SHORT_BREAKS = Predicate("the child is on a short-breaks plan", lambda ctx: ctx.child.short_breaks_plan)
NO_SHORT_BREAKS = Predicate("the child is not on a short-breaks plan", lambda ctx: not ctx.child.short_breaks_plan)
UNPLANNED_MOVE = Predicate("the move was unplanned", lambda ctx: not ctx.event.planned)
HARM_LIKELY = Predicate("significant harm is likely", lambda ctx: ctx.event.significant_harm_likely)
EARLY_HELP = Predicate("early help, universal or targeted services can meet the need", lambda ctx: ctx.event.early_help)


def plan_start(facts) -> date | None:
    """When the current plan began: the initial meeting, else the decision
    that a plan was required."""
    return facts.plan_started or facts.plan_required_on


def decided(rule, since: str = "plan", each_role: bool = False) -> Predicate:
    """True when the decision ``rule`` names was recorded since the plan was
    required (``since="plan"``) or at any time (``since="ever"``); with
    ``each_role``, one such decision by each of its ``decision_roles``."""
    kind, roles = rule.param("decision"), rule.params.get("decision_roles")

    def test(ctx) -> bool:
        start = ctx.facts.plan_required_on if since == "plan" else None
        if each_role and roles:
            return all(ctx.facts.decided_since(kind, start, [r]) for r in roles)
        return ctx.facts.decided_since(kind, start, roles)

    who = f" by {roles_in_words(roles)}" if roles else ""
    if each_role and roles:
        who = " by " + " and by ".join(roles_in_words([r]) for r in roles)
    return Predicate(f"a '{kind}' decision{who} is recorded", test)


def negate(p: Predicate) -> Predicate:
    return Predicate(f"not ({p.text})", lambda ctx: not p(ctx))


def all_of(*predicates: Predicate) -> Predicate:
    return Predicate(" and ".join(p.text for p in predicates), lambda ctx: all(p(ctx) for p in predicates))


def recorded(attr: str) -> Predicate:
    """The event carries ``attr`` (e.g. an agreed ``next_review``)."""
    return Predicate(f"the event records {attr}", lambda ctx: getattr(ctx.event, attr, None) is not None)


def happened_since(case, event: str, since: date | None) -> bool:
    """Whether an accepted ``event`` is in the case history on or after ``since``."""
    return any(h.accepted and h.event == event and (since is None or h.date >= since) for h in case.history)


def ends_plan(ctx) -> bool:
    """Whether this event ends the CIN plan by decision: a meeting that steps
    down or closes, or closing the case while a plan is required or in force
    for any reason but a circumstance (adoption, a court order: RC1-RC6)."""
    ev = ctx.event
    if ev.event == "cin_meeting":
        return ev.outcome in ENDING_OUTCOMES
    return ev.event == "case_closed" and ctx.case.state in PLAN_STATES and ev.reason not in CLOSURES_BY_CIRCUMSTANCE


# -- triggers -----------------------------------------------------------------

def meeting_held(kind=None):
    """A CIN meeting after which the plan stays in force."""
    return on("cin_meeting", outcome=list(CONTINUING_OUTCOMES), **({"kind": kind} if kind else {}))


PLAN_DECISIONS = {
    "assessment": on("assessment_completed", outcome="cin_plan"),
    "s47": on("s47_completed", outcome="cin_plan"),
    "conference": on("icpc_held", outcome="cin_plan"),
    "cp_step_down": on("cp_plan_ended", outcome="cin_plan"),
    "supervision_order": on("supervision_order_made"),
    "transfer_in": on("transfer_in"),
}


def plan_decisions(*names):
    """Triggers for the events that decide a CIN plan is needed."""
    return [PLAN_DECISIONS[n] for n in names]


def decision_date(ctx) -> date:
    """When the plan decision was made: ``decided_on`` (a decision during the
    assessment) or ``resident_since`` (a family who moved in), else the event."""
    ev = ctx.event
    return getattr(ev, "decided_on", None) or getattr(ev, "resident_since", None) or ev.date


# -- guards -------------------------------------------------------------------

def _decision_hint(rule, each_role: bool = False) -> str:
    roles = rule.params.get("decision_roles")
    who = f" by {roles_in_words(roles)}" if roles else ""
    if each_role and roles:
        who = " by " + " and one by ".join(roles_in_words([r]) for r in roles)
    return f"record it first (manager_decision kind {rule.param('decision')}{who})"


def _decision_remedies(rule, ctx=None, each_role: bool = False) -> tuple:
    """What to record for a rule asking for a decision: by one of its roles,
    or with ``each_role`` one by each role whose decision is still missing
    (a remedy with ``each``)."""
    kind, roles = rule.param("decision"), rule.params.get("decision_roles")
    if each_role and roles:
        start = ctx.facts.plan_required_on if ctx is not None else None
        missing = [r for r in roles if ctx is None or not ctx.facts.decided_since(kind, start, [r])]
        return (needs_decision(kind, missing, each=len(missing) > 1),)
    return (needs_decision(kind, roles),)


def next_review_required(rule) -> Guard:
    """A meeting after which the plan continues must set the next review date."""

    if rule.level == "advice":
        message = ("The procedure asks for the date of the next review to be set at this meeting (record "
                   "next_review); until one is agreed, the review falls due at the procedure's longest interval.")
    else:
        message = "The date of the next review must be set at this meeting (record next_review)."

    def check(ctx):
        ev = ctx.event
        if ev.outcome in CONTINUING_OUTCOMES and ev.next_review is None:
            return message
        return None

    return Guard(rule, {"cin_meeting"}, check, CONTINUING)


def outcomes_recognised(rule) -> Guard:
    """Only the meeting outcomes in the rule's ``outcomes`` parameter."""
    allowed = tuple(rule.param("outcomes"))

    def check(ctx):
        if ctx.event.outcome not in allowed:
            known = "; ".join(f"{o} ({OUTCOME_LABELS[o]})" for o in allowed)
            return Refusal(f"'{ctx.event.outcome}' is not an outcome this procedure recognises; it recognises: {known}.",
                           (one_of("outcome", allowed),))
        return None

    return Guard(rule, {"cin_meeting"}, check)


def end_only_at_meeting(rule, reviews_only: bool = False) -> Guard:
    """A plan ends only by decision of a CIN meeting (with ``reviews_only``, a
    review meeting: the initial meeting cannot end it)."""

    def check(ctx):
        ev = ctx.event
        if ev.event == "case_closed" and ends_plan(ctx):
            return ("A case with a CIN plan is closed only by decision of a CIN "
                    f"{'review ' if reviews_only else ''}meeting (outcome close or step_down), not directly.")
        if reviews_only and ev.event == "cin_meeting" and ev.kind == "initial" and ev.outcome in ENDING_OUTCOMES:
            return "The plan cannot end until it has been reviewed: only a review meeting can close or step it down."
        return None

    return Guard(rule, PLAN_ENDING_EVENTS, check, ENDINGS)


def minimum_plan_length(rule, origins=None, waivable: bool = False) -> Guard:
    """A plan (of one of ``origins``, default any) may not end by decision
    within ``minimum_months`` of its start; with ``waivable``, the rule's
    decision lifts that."""
    months = rule.param("minimum_months")
    waiver = decided(rule) if waivable else None

    def check(ctx):
        facts = ctx.facts
        if not ends_plan(ctx) or (origins is not None and facts.plan_origin not in origins):
            return None
        start = facts.plan_required_on if facts.plan_origin == "cp_step_down" else plan_start(facts)
        if start is None:
            return None
        until = add_months(start, months)
        if ctx.date >= until or (waiver is not None and waiver(ctx)):
            return None
        since = "step-down from child protection" if facts.plan_origin == "cp_step_down" else "the plan began"
        hint = f"; {_decision_hint(rule)}" if waivable else ""
        remedies = (not_before(until),) + (_decision_remedies(rule) if waivable else ())
        return Refusal(f"The plan stays open at least {months} months from {since} ({start.isoformat()}), "
                       f"so not before {until.isoformat()}{hint}.", remedies)

    return Guard(rule, PLAN_ENDING_EVENTS, check, ENDINGS)


def requires_decision(rule, events, when: Predicate, what: str, dests=None, each_role: bool = False) -> Guard:
    """``events`` for which ``when`` holds need the rule's decision recorded
    since the plan was required (``dests``: see :class:`~cinflow.rules.Guard`);
    with ``each_role``, a decision by each of the rule's ``decision_roles``
    (a decision both must be part of)."""
    done = decided(rule, each_role=each_role)

    def check(ctx):
        if when(ctx) and not done(ctx):
            return Refusal(f"{what}: {_decision_hint(rule, each_role)}.", _decision_remedies(rule, ctx, each_role))
        return None

    return Guard(rule, events, check, dests)


ENDS_PLAN = Predicate("the event ends the plan", ends_plan)


def lead_professional_named(rule, universal_services: bool = False) -> Guard:
    """A step-down needs a lead professional identified at the meeting.  With
    ``universal_services``, the meeting may instead record that none is
    needed (``lead_professional_named: false``: universal services only);
    what it may not do is say nothing."""

    def check(ctx):
        named = ctx.event.lead_professional_named
        if ctx.event.outcome != "step_down" or named is True or (universal_services and named is False):
            return None
        if universal_services:
            return ("The step-down meeting names the lead professional (lead_professional_named: true) or records "
                    "that the child goes on with universal services only (lead_professional_named: false).")
        return "A lead professional for the step-down must be identified at the meeting (lead_professional_named: true)."

    return Guard(rule, {"cin_meeting"}, check, {"stepped_down"})


def supervision_order_runs(rule) -> Guard:
    """A plan under a supervision order lasts as long as the order."""

    def check(ctx):
        ends = ctx.facts.supervision_order_ends
        if ends is not None and ctx.facts.plan_origin == "supervision_order" and ends_plan(ctx) and ctx.date < ends:
            return Refusal(f"This plan supports a supervision order and lasts until the order ends on {ends.isoformat()}.",
                           (not_before(ends),))
        return None

    return Guard(rule, PLAN_ENDING_EVENTS, check, ENDINGS)


def young_person_consents(rule) -> Guard:
    """From the rule's ``from_age`` (16), the young person's own consent is
    recorded on ``consent_given`` as well as the parents'."""
    age = rule.param("from_age")

    def check(ctx):
        if ctx.age >= age and ctx.event.young_person_consent is not True:
            return Refusal(f"The child is {ctx.age}: the young person's own consent is sought as well as the parents' "
                           "(record young_person_consent: true).", (one_of("young_person_consent", ["true"]),))
        return None

    return Guard(rule, {"consent_given"}, check)
