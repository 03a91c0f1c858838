"""The shape of the CIN lifecycle: which states exist and which events move a
case between them.  No timescales and nothing about any authority live here;
policies guard these transitions and attach deadlines to them."""

from . import endings, intake, plan, protection
from .spec import TransitionSpec

_MODULES = (intake, protection, plan, endings)

STATES: dict[str, str] = {}
for _m in _MODULES:
    STATES.update(_m.STATES)

TRANSITIONS: tuple[TransitionSpec, ...] = tuple(t for m in _MODULES for t in m.TRANSITIONS)
INITIAL = "new"

# Named groups of states: policies, the census, the simulator and its
# statistics all use these, so "a plan is in force" means one thing.
OPEN_STATES = frozenset(endings.OPEN)
FINAL_STATES = frozenset(endings.FINAL)
ENDED = FINAL_STATES
# A CIN plan has been decided on and the initial meeting is awaited.
PLAN_REQUIRED = frozenset({"initial_cin"})
# A CIN plan is in force (reviews and visits are due), including while the
# child's move to another authority is handed over.
PLAN_IN_FORCE = frozenset({"cin_plan", "transfer_out"})
# Required or in force: ending the case from here ends a plan.
PLAN_OPEN = PLAN_REQUIRED | PLAN_IN_FORCE
# Where a plan ends by decision (a meeting, or closing the case).
DECIDED_ENDINGS = frozenset({"closed", "stepped_down"})
# Kept for callers of the first releases: the states a plan is in force in.
PLAN_STATES = PLAN_IN_FORCE

__all__ = ["STATES", "TRANSITIONS", "INITIAL", "OPEN_STATES", "FINAL_STATES", "ENDED", "PLAN_REQUIRED", "PLAN_IN_FORCE",
           "PLAN_OPEN", "DECIDED_ENDINGS", "PLAN_STATES", "TransitionSpec"]
