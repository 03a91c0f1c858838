"""Referral, consent and assessment.

A referral opens a case in ``referral`` while consent is sought; consent opens
the assessment.  Consent can also be refused (withheld) later, for the plan
itself.  What a refusal leads to is a policy question (hook
``consent_refusal_routes``), so ``consent_refused`` has one transition per
possible destination and the policy picks one.
"""

from .spec import TransitionSpec as T

STATES = {
    "new": "no case yet",
    "referral": "referral received; consent to assess is being sought",
    "assessment": "child and family assessment under way",
}

# States in which the family's consent is what the work rests on.
CONSENT_NEEDED = ["referral", "initial_cin", "cin_plan"]

TRANSITIONS = [
    T("referral_received", ["new"], "referral"),
    T("transfer_in", ["new"], "initial_cin", plan_origin="transfer_in",
      note="a child on a CIN plan arrives from another authority"),
    T("consent_given", ["referral"], "assessment"),
    T("consent_refused", CONSENT_NEEDED, "s47_enquiry", when={"route": "s47_enquiry"}),
    T("consent_refused", CONSENT_NEEDED, "closed", when={"route": "closed"}, closure_reason="RC7"),
    # RC7: RC9 means early help *after an assessment*, and none took place (census query 8825Q).
    T("consent_refused", ["referral"], "stepped_down", when={"route": "stepped_down"}, closure_reason="RC7"),
    T("consent_refused", ["initial_cin", "cin_plan"], "stepped_down", when={"route": "stepped_down"}, closure_reason="RC7"),
    T("assessment_completed", ["assessment"], "initial_cin", when={"outcome": "cin_plan"}, plan_origin="assessment"),
    T("assessment_completed", ["assessment"], "closed", when={"outcome": "no_further_action"}, closure_reason="RC8"),
    T("assessment_completed", ["assessment"], "stepped_down", when={"outcome": "early_help"}, closure_reason="RC9"),
    T("assessment_completed", ["assessment"], "s47_enquiry", when={"outcome": "s47"}),
]
