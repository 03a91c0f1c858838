"""The hooks a policy plugin implements.

Every hook is called once, when a policy is assembled, on a plugin manager
holding the national baseline first and the authority's layers on top; the
answers of all layers are combined.  The engine then evaluates the objects the
hooks returned for every event, so nothing is re-discovered per event.

Implementations may take fewer arguments than the spec (pluggy allows it), so
specs can grow without breaking plugins.  Write ``from cinflow import hookimpl``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .rules import ChairRule, ConsentRoute, DeadlineRule, Guard, PolicyInfo

hookspec = pluggy.HookspecMarker("cinflow")
hookimpl = pluggy.HookimplMarker("cinflow")


@hookspec
def transition_guards(policy: "PolicyInfo") -> "list[Guard]":
    """Whether a transition is allowed.

    Return :class:`cinflow.rules.Guard` objects.  For each event, every guard
    naming that event is checked.  ``check(ctx)`` returns None, a sentence, or
    a :class:`cinflow.rules.Refusal` with remedies (what would let the event
    through).  The rule's level decides what a refusal does: ``must`` blocks
    the event (the case is left unchanged and the refusal reported with its
    rule id, message, citation and remedies); ``should`` blocks it unless an
    exception to the rule was recorded first, which it then uses up;
    ``advice`` never blocks (the message rides on the accepted event)."""


@hookspec
def deadline_rules(policy: "PolicyInfo") -> "list[DeadlineRule]":
    """Which deadlines an event opens or fulfils, including review and visit
    intervals.

    Return :class:`cinflow.rules.DeadlineRule` objects.  A rule's ``applies``
    predicate may depend on the child (disabled, short breaks) or the case
    (a plan after CP step-down), so interval variants are separate rules;
    when several open the same deadline at once the earliest due date wins.
    ``while_in`` ends a deadline when the case leaves those states (missed if
    past due, else cancelled); ``reopen`` says whether opening it again adds
    an occurrence (paperwork of each meeting), tightens an unmet one (never a
    later due date) or replaces it."""


@hookspec
def chair_rules(policy: "PolicyInfo") -> "list[ChairRule]":
    """Who may chair which CIN meeting.

    Return :class:`cinflow.rules.ChairRule` objects; every rule that applies to
    a meeting must admit its chair, or the meeting is refused (with the
    ``needs_chair`` remedy).  Each is compiled into an ordinary guard at
    assembly, so its rule's level applies as for any guard."""


@hookspec
def consent_refusal_routes(policy: "PolicyInfo") -> "list[ConsentRoute]":
    """What a refusal of consent leads to.

    Return :class:`cinflow.rules.ConsentRoute` objects.  The first route that
    applies wins, the authority's routes before the national baseline's."""
