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
OPEN_STATES = frozenset(endings.OPEN)
FINAL_STATES = frozenset(endings.FINAL)
PLAN_STATES = frozenset({"cin_plan", "transfer_out"})

__all__ = ["STATES", "TRANSITIONS", "INITIAL", "OPEN_STATES", "FINAL_STATES", "PLAN_STATES", "TransitionSpec"]
