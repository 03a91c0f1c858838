"""Must, should and advice; every ending through the same rules; breaches that
stay breaches; closed vocabularies.  Real dates, worked by hand."""

from datetime import date

import pytest

import cinflow
from cinflow import Child
from cinflow.engine import exception_roles

from helpers import plan_in_force, refused_by

D = date.fromisoformat


@pytest.fixture
def kent(registry, make_runner):
    return make_runner(registry["kent"])


def _moving(r, on="2026-08-20", **attrs):
    plan_in_force(r, referral="2026-03-02", completed="2026-04-13", meeting="2026-04-20")
    attrs = {"planned": True, "moved_on": "2026-08-28", **attrs}
    assert r("move_notified", on, **attrs).accepted
    return r


# -- 1. statuses that tell the truth ----------------------------------------------

def test_an_overdue_duty_ended_by_closure_is_missed_not_cancelled(kent):
    """Notify the receiving authority within 1 WD of the move (Fri 28 Aug 2026
    -> Tue 1 Sep, over the summer bank holiday).  Closing at a meeting on
    3 Sep ends the duty after its due date: missed.  The information (due
    27 Aug, 5 WD from notification) is missed too; an obligation not yet due
    would be cancelled."""
    _moving(kent)
    kent("manager_decision", "2026-09-02", kind="closure_rationale", role="team_manager")
    assert kent("cin_meeting", "2026-09-03", kind="review", chair="team_manager", outcome="close").accepted
    by_name = {d.name: d for d in kent.case.deadlines}
    assert by_name["transfer_notification"].due == D("2026-09-01")
    assert by_name["transfer_notification"].status() == "missed"
    assert by_name["transfer_information"].status() == "missed"
    assert by_name["transfer_notification"].status(D("2026-09-02")) == "overdue"  # before the ending it was overdue


def test_a_duty_ended_before_its_due_date_is_cancelled(kent):
    _moving(kent, on="2026-08-20", moved_on="2026-09-07")  # notification due Tue 8 Sep
    kent("manager_decision", "2026-09-02", kind="closure_rationale", role="team_manager")
    assert kent("cin_meeting", "2026-09-03", kind="review", chair="team_manager", outcome="close").accepted
    d = next(d for d in kent.case.deadlines if d.name == "transfer_notification")
    assert (d.due, d.ended_on, d.status()) == (D("2026-09-08"), D("2026-09-03"), "cancelled")


def test_a_missed_visit_stays_missed_after_the_plan_closes(kent):
    plan_in_force(kent, meeting="2026-02-25")  # visit due 25 Mar (4 weeks)
    kent("manager_decision", "2026-04-29", kind="closure_rationale", role="team_manager")
    kent("cin_meeting", "2026-04-30", kind="review", chair="team_manager", outcome="close")
    visit = next(d for d in kent.case.deadlines if d.name == "visit")
    assert (visit.due, visit.status(D("2026-04-29")), visit.status()) == (D("2026-03-25"), "overdue", "missed")


def test_tightening_keeps_the_earlier_due_date_within_one_state(registry, make_runner):
    """Reading: a plan decided at assessment (due 27 Feb) and then a
    supervision order while the initial meeting is awaited (20 Feb -> 6 Mar):
    one occurrence, still due 27 Feb, overdue on 2 Mar."""
    r = make_runner(registry["reading"])
    r("referral_received", "2026-01-05")
    r("consent_given", "2026-01-05")
    r("assessment_completed", "2026-02-13", outcome="cin_plan")
    assert r("supervision_order_made", "2026-02-20", ends_on="2027-02-19").accepted
    open_ = [d for d in r.case.deadlines if d.name == "initial_cin_meeting" and d.is_open]
    assert [(d.due, d.rule) for d in open_] == [(D("2026-02-27"), "berkshire-west.initial_meeting")]
    assert open_[0].status(D("2026-03-02")) == "overdue"


# -- 2. must, should, advice ----------------------------------------------------------

def test_a_should_refuses_until_an_authorised_exception_then_is_used_once(kent):
    """Kent Policy §5: reviews should be chaired by a Team Manager or a Senior
    Practitioner.  A Social Worker chairs with a Team Manager's exception; the
    next such review is refused again."""
    plan_in_force(kent)
    before = kent.case
    item = kent("cin_meeting", "2026-04-01", kind="review", chair="social_worker", outcome="continue")
    reason = refused_by(item, "kent.review_chair", "000_1fb2c8a7d3e76d05.txt")
    assert [m.kind for m in reason.remedies] == ["needs_chair", "needs_exception"]
    assert (kent.case.state, kent.case.facts, kent.case.deadlines) == (before.state, before.facts, before.deadlines)
    # Not authorised: a Senior Practitioner is not a manager.
    refused = kent("manager_decision", "2026-04-01", kind="exception", rule="kent.review_chair",
                   role="senior_practitioner", reason="TM on leave")
    assert refused.reasons[0].rule == "lifecycle.exception" and kent.case.facts.exceptions == ()
    # Any role the vocabulary knows gets the same answer: a refusal saying who may authorise.
    refused = kent("manager_decision", "2026-04-01", kind="exception", rule="kent.review_chair",
                   role="social_worker", reason="TM on leave")
    assert refused.reasons[0].rule == "lifecycle.exception" and refused.reasons[0].remedies[0].kind == "needs_exception"
    assert kent("manager_decision", "2026-04-01", kind="exception", rule="kent.review_chair", role="team_manager",
                reason="TM and SP both off sick; the family asked not to wait").accepted
    item = kent("cin_meeting", "2026-04-01", kind="review", chair="social_worker", outcome="continue")
    assert item.accepted and item.reasons == ()
    (used,) = item.exceptions
    assert (used.rule, used.role, used.recorded_on) == ("kent.review_chair", "team_manager", D("2026-04-01"))
    assert used.source.startswith("000_1fb2c8a7d3e76d05.txt Policy §5")
    again = kent("cin_meeting", "2026-05-01", kind="review", chair="social_worker", outcome="continue")
    refused_by(again, "kent.review_chair")


def test_two_equal_exceptions_are_two_each_used_once(kent):
    """Found by the stateful test: two exceptions recorded the same day, by
    the same role, for the same reason, are two authorisations.  Using one
    used to drop both (they were removed by equality)."""
    plan_in_force(kent)
    for _ in range(2):
        assert kent("manager_decision", "2026-04-01", kind="exception", rule="kent.review_chair", role="team_manager",
                    reason="TM and SP off sick").accepted
    assert len(kent.case.facts.exceptions) == 2
    first = kent("cin_meeting", "2026-04-01", kind="review", chair="social_worker", outcome="continue")
    assert first.accepted and len(first.exceptions) == 1 and len(kent.case.facts.exceptions) == 1
    second = kent("cin_meeting", "2026-05-01", kind="review", chair="social_worker", outcome="continue")
    assert second.accepted and len(second.exceptions) == 1 and kent.case.facts.exceptions == ()
    refused_by(kent("cin_meeting", "2026-06-01", kind="review", chair="social_worker", outcome="continue"),
               "kent.review_chair")


def test_an_exception_is_not_used_by_an_event_refused_for_another_reason(kent):
    plan_in_force(kent)
    kent("manager_decision", "2026-04-01", kind="exception", rule="kent.closure_rationale", role="service_manager",
         reason="rationale recorded in supervision notes")
    item = kent("cin_meeting", "2026-04-02", kind="review", chair="social_worker", outcome="close")
    assert [x.rule for x in item.reasons] == ["kent.review_chair"]  # still refused: the chair
    assert len(kent.case.facts.exceptions) == 1  # unused, so still there
    item = kent("cin_meeting", "2026-04-02", kind="review", chair="team_manager", outcome="close")
    assert item.accepted and [e.rule for e in item.exceptions] == ["kent.closure_rationale"]


def test_a_must_cannot_be_excepted(kent):
    plan_in_force(kent)
    item = kent("manager_decision", "2026-04-01", kind="exception", rule="kent.minutes", role="assistant_director",
                reason="x")
    assert not item.accepted and "'must' rule" in item.reasons[0].message


def test_who_may_authorise_an_exception():
    from cinflow.rules import Citation, RuleInfo

    def rule(roles):
        return RuleInfo("x.y", "t", Citation("d", "s"), level="should", exception_roles=roles)

    # A Team Manager, those of the same rank, and anyone senior.
    assert exception_roles(rule(None)) == ("team_manager", "practice_lead", "senior_practice_lead", "service_manager", "assistant_director")
    assert exception_roles(rule(("practice_lead",))) == (
        "practice_lead", "senior_practice_lead", "team_manager", "service_manager", "assistant_director")
    assert exception_roles(rule(("service_manager",))) == ("service_manager", "assistant_director")
    assert exception_roles(rule(("assistant_team_manager",)))[:2] == ("assistant_team_manager", "practice_lead")
    assert exception_roles(rule(("iro",))) == ("iro",)


def test_advice_never_refuses_and_says_what_the_procedure_asks(registry, make_runner):
    """London: a continuing meeting should set the next date.  Without it the
    meeting is accepted with advice, and the review falls back to the
    3-month maximum (Wed 20 May 2026 -> Thu 20 Aug)."""
    r = make_runner(registry["london-borough"])
    plan_in_force(r, chair="practice_lead", review_chair="social_worker", next_review="2026-05-20")
    item = r("cin_meeting", "2026-05-20", kind="review", chair="social_worker", outcome="continue")
    assert item.accepted and item.reasons == ()
    (advice,) = item.advice
    assert advice.rule == "london-borough.next_meeting_date" and "next_review" in advice.message
    assert r.open("cin_review").due == D("2026-08-20")


# -- 3. every ending through the same rules -------------------------------------------

def test_closing_straight_from_transfer_out_meets_the_ending_rules(kent, registry, make_runner):
    _moving(kent)
    item = kent("case_closed", "2026-08-24", reason="no longer in need")
    refused_by(item, "kent.end_at_meeting", "000_1fb2c8a7d3e76d05.txt")
    assert kent.case.state == "transfer_out"
    r = make_runner(registry["cheshire-west-and-chester"])
    plan_in_force(r, chair="social_worker", next_review="2026-05-25")
    assert r("move_notified", "2026-03-02", planned=True).accepted
    refused_by(r("case_closed", "2026-03-03", reason="RC7"), "cheshire-west-and-chester.closure_needs_review")


# -- 5. closed vocabularies -------------------------------------------------------------

def test_an_unknown_decision_kind_is_bad_input_naming_the_known_ones(kent):
    plan_in_force(kent)
    before = kent.case
    with pytest.raises(cinflow.InputError) as exc:
        kent("manager_decision", "2026-04-01", kind="assistant_directer_view", role="assistant_director")
    text = str(exc.value)
    assert "'assistant_directer_view'" in text and "assistant_director_view" in text and "exception" in text
    assert "\n" not in text and kent.case == before
    with pytest.raises(cinflow.InputError, match=r"rule 'kent.no_such' is not a rule of policy kent \(rules that take "
                       r"exceptions: england.young_person_consent, kent.closure_rationale, kent.end_at_meeting, "
                       r"kent.initial_chair, kent.review_chair\)"):
        kent("manager_decision", "2026-04-01", kind="exception", rule="kent.no_such", role="team_manager", reason="x")
    with pytest.raises(cinflow.InputError, match="an exception names the rule"):
        cinflow.event("manager_decision", "2026-04-01", kind="exception", rule="kent.review_chair")


def test_next_wakeup_is_the_18th_birthday_while_open(registry):
    kent = registry["kent"]
    case = kent.new_case("W-1", Child(birth_date=date(2008, 2, 29)))
    case = kent.apply(case, cinflow.event("referral_received", "2025-11-03"))
    assert kent.next_wakeup(case) == D("2026-03-01")  # a 29 February birthday falls on 1 March
    closed = kent.advance(case, D("2026-03-01"))
    assert closed.state == "closed" and kent.next_wakeup(closed) is None


def test_a_decision_by_a_role_that_does_not_count_is_advised_at_once(kent):
    plan_in_force(kent)
    item = kent("manager_decision", "2026-04-01", kind="closure_rationale", role="service_manager")
    assert item.accepted and [a.rule for a in item.advice] == ["kent.closure_rationale"]
    assert "by a Team Manager" in item.advice[0].message and "does not meet" in item.advice[0].message
    assert kent("manager_decision", "2026-04-01", kind="closure_rationale", role="team_manager").advice == ()
    assert "no one named" in kent("manager_decision", "2026-04-02", kind="closure_rationale").advice[0].message
