"""Transfer out, and the ways a case ends.

Internal events (visits, minutes, decisions) may happen in any open state and
do not change it.  The automatic ``eighteenth_birthday`` is made by the engine
when time passes the child's 18th birthday.
"""

from .spec import TransitionSpec as T

OPEN = ("referral", "assessment", "s47_enquiry", "icpc", "child_protection", "initial_cin", "cin_plan", "transfer_out")

STATES = {
    "transfer_out": "the child has moved to another authority; transfer in progress",
    "closed": "case closed",
    "stepped_down": "stepped down to early help",
    "looked_after": "the child became looked after",
    "transferred": "case responsibility transferred to another authority",
}

INTERNAL = ("visit", "manager_decision", "invitations_sent", "assessment_updated")
# Paperwork after a meeting or visit is still owed when that meeting ended the case.
PAPERWORK = ("minutes_circulated", "case_note_recorded", "plan_authorised", "plan_updated", "plan_circulated",
             "meeting_recorded", "visit_recorded", "step_down_completed")
FINAL = ("closed", "stepped_down", "looked_after", "transferred")

TRANSITIONS = [
    *(T(trigger, OPEN, None) for trigger in INTERNAL),
    *(T(trigger, OPEN + FINAL, None) for trigger in PAPERWORK),
    T("strategy_discussion", OPEN, "s47_enquiry"),
    T("move_notified", ["cin_plan", "initial_cin"], "transfer_out"),
    *(T(trigger, ["transfer_out"], None)
      for trigger in ("receiving_authority_notified", "transfer_information_sent", "case_records_completed")),
    T("transfer_completed", ["transfer_out"], "transferred", closure_reason="RC5"),
    T("became_looked_after", OPEN, "looked_after"),
    T("child_died", OPEN, "closed", closure_reason="RC2"),
    T("moved_abroad", OPEN, "closed", closure_reason="RC7"),
    T("case_closed", OPEN, "closed"),
    T("eighteenth_birthday", OPEN, "closed", closure_reason="RC7"),
]
