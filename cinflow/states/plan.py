"""The CIN plan: the initial meeting, reviews, visits and the paperwork.

``initial_cin`` waits for the initial meeting; ``cin_plan`` is the review
cycle.  A meeting that decides to escalate keeps the plan in force until the
strategy discussion happens.
"""

from .spec import TransitionSpec as T

STATES = {
    "initial_cin": "a CIN plan is required; the initial CIN meeting is to be held",
    "cin_plan": "CIN plan in force; reviews and visits due",
}

_MEETING_OUTCOMES = [
    ("continue", "cin_plan", None),
    ("reassess", "cin_plan", None),
    ("escalate", "cin_plan", None),
    ("step_down", "stepped_down", "RC7"),
    ("close", "closed", "RC7"),
]

TRANSITIONS = [
    T("cin_meeting", ["initial_cin"], dest, when={"kind": "initial", "outcome": outcome}, closure_reason=rc)
    for outcome, dest, rc in _MEETING_OUTCOMES
] + [
    T("cin_meeting", ["cin_plan", "transfer_out"], None if dest == "cin_plan" else dest,
      when={"kind": "review", "outcome": outcome}, closure_reason=rc)
    for outcome, dest, rc in _MEETING_OUTCOMES
]
