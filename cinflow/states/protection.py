"""Section 47 enquiries and child protection.

A strategy discussion can start an s47 enquiry from any open state and needs
no consent.  An enquiry may lead to an initial child protection conference
(state ``icpc``), which either starts a CP plan or decides on a CIN plan or no
further action.  A CP plan that ends with a CIN plan is a "step-down".  A
supervision order made by a court puts the child on a CIN plan for the order's
duration.
"""

from .spec import TransitionSpec as T

STATES = {
    "s47_enquiry": "section 47 enquiry under way",
    "icpc": "awaiting the initial child protection conference",
    "child_protection": "child protection plan in force",
}

TRANSITIONS = [
    T("s47_completed", ["s47_enquiry"], "icpc", when={"outcome": "icpc"}),
    T("s47_completed", ["s47_enquiry"], "initial_cin", when={"outcome": "cin_plan"}, plan_origin="assessment"),
    # RC7, not RC8: the census keeps RC8/RC9 for episodes with no s47 (rule 2990).
    T("s47_completed", ["s47_enquiry"], "closed", when={"outcome": "no_further_action"}, closure_reason="RC7"),
    T("cp_plan_started", ["icpc"], "child_protection"),
    T("cp_review", ["child_protection"], None, note="a child protection review conference"),
    T("icpc_held", ["icpc"], "initial_cin", when={"outcome": "cin_plan"}, plan_origin="conference"),
    T("icpc_held", ["icpc"], "closed", when={"outcome": "no_further_action"}, closure_reason="RC7"),
    T("cp_plan_ended", ["child_protection"], "initial_cin", when={"outcome": "cin_plan"}, plan_origin="cp_step_down"),
    T("cp_plan_ended", ["child_protection"], "closed", when={"outcome": "closed"}, closure_reason="RC7"),
    T("supervision_order_made", ["s47_enquiry", "icpc", "child_protection", "initial_cin", "cin_plan"], "initial_cin",
      plan_origin="supervision_order", note="a court made a supervision order; a CIN plan supports the child at home"),
]
