"""The engine: applying events to cases under an assembled policy.

:class:`Engine` is what :class:`~cinflow.policy.Policy` runs per event; the
policy's assembly (calling the hooks once, indexing what they returned) is in
:mod:`cinflow.policy`.  One loop decides every event: the lifecycle table
selects the transition (the same selector the ``transitions`` machine uses),
then every guard indexed for the event is asked, each refusal weighed by its
rule's level (must, should: comply or explain, advice).
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache

from transitions import MachineError

from . import states
from .calendar import birthday
from .errors import EventOrderError, InputError, PluginError
from .events import AUTOMATIC_EVENTS, EighteenthBirthday, attributes
from .machine import Attempt, CaseModel
from .models import (
    Advice, Case, CaseFacts, Deadline, Decision, ExceptionUse, HistoryItem, PendingException, Reason, needs_exception,
)
from .rules import Context, DeadlineRule, Refusal
from .vocabulary import CLOSURE_REASONS, roles_in_words

LIFECYCLE_SOURCE = "cinflow lifecycle (cinflow/states)"
ADULTHOOD = 18
# Who may authorise an exception to a ``should`` rule when the procedure names
# no one: a Team Manager or anyone senior (most junior first).
SENIORITY = ("assistant_team_manager", "team_manager", "service_manager", "assistant_director")
# A Practice Lead (or Senior Practice Lead) manages a team as a Team Manager
# does: those above a Team Manager are above them too.
RANK = {**{r: i for i, r in enumerate(SENIORITY)}, "practice_lead": 1, "senior_practice_lead": 1}
DEFAULT_EXCEPTION_ROLE = "team_manager"


def exception_roles(rule) -> tuple[str, ...]:
    """Who may authorise an exception to ``rule``: the roles the policy names
    (default a Team Manager), those of the same rank (a Practice Lead ranks
    with a Team Manager) and anyone senior to the most junior of them."""
    named = tuple(rule.exception_roles or (DEFAULT_EXCEPTION_ROLE,))
    ranks = [RANK[r] for r in named if r in RANK]
    others = sorted((r for r in RANK if ranks and RANK[r] >= min(ranks)), key=lambda r: (RANK[r], r))
    return tuple(dict.fromkeys(named + tuple(others)))


class Engine:
    """Per-event behaviour of a policy.  Needs, from the assembly:
    ``_table``, ``_guards_by_event``, ``_opens``, ``_fulfils``, ``_touches``,
    ``_while_in``, ``consent_routes``, ``rule_index``, ``exceptionable``,
    ``decision_kinds``, ``known_roles``, ``fast`` and ``machine``."""

    # -- entry points -----------------------------------------------------------

    def new_case(self, case_id: str, child) -> Case:
        return Case(id=case_id, authority=self.id, child=child)

    def apply(self, case: Case, event) -> Case:
        """Apply one event; return the new case.  A refused event is recorded in
        the history with its reasons and changes nothing else."""
        if case.authority != self.id:
            raise InputError(f"case {case.id} is under {case.authority!r}, not {self.id!r}")
        if event.event in AUTOMATIC_EVENTS:
            raise InputError(f"{event.event} is made by the engine and cannot be submitted")
        history = case.history
        last_date = history[-1].date if history else None
        if last_date is not None and event.date < last_date:
            raise EventOrderError(
                f"{event.event} on {event.date.isoformat()} is dated before the case's last event "
                f"({last_date.isoformat()}); events must be in date order"
            )
        if event.event == "manager_decision":
            self._check_vocabulary(event)
        # advance(), inlined: the 18th birthday falls due first.
        if case.state in states.OPEN_STATES and _adulthood(case.child.birth_date) <= event.date:
            case = self.advance(case, event.date)
        return self._apply(case, event)

    def advance(self, case: Case, to: date) -> Case:
        """Let time pass up to and including ``to``: make the automatic
        transitions that fall due (the 18th birthday ends an open case)."""
        if case.state in states.OPEN_STATES:
            adult = _adulthood(case.child.birth_date)
            if adult <= to:
                case = self._apply(case, EighteenthBirthday(max(adult, case.last_date or adult)))
        return case

    def next_wakeup(self, case: Case) -> date | None:
        """When the case next changes by itself (for a host's scheduler):
        the 18th birthday of a child whose case is open, else None."""
        if case.state not in states.OPEN_STATES:
            return None
        return max(_adulthood(case.child.birth_date), case.last_date or date.min)

    def consent_route(self, ctx: Context):
        for route in self.consent_routes:
            if route.applies(ctx):
                return route
        return None

    # -- closed vocabularies ------------------------------------------------------

    def _check_vocabulary(self, ev) -> None:
        if ev.kind not in self.decision_kinds:
            raise InputError(f"manager_decision kind {ev.kind!r} is not known to policy {self.id} "
                             f"(known: {', '.join(sorted(self.decision_kinds))})")
        if ev.role is not None and ev.kind != "exception" and ev.role not in self.known_roles:
            raise InputError(f"manager_decision role {ev.role!r} is not named by any rule of policy {self.id} "
                             f"(known: {', '.join(sorted(self.known_roles))})")
        if ev.kind == "exception" and ev.rule not in self.rule_index:
            raise InputError(f"manager_decision rule {ev.rule!r} is not a rule of policy {self.id} "
                             f"(rules that take exceptions: {', '.join(sorted(self.exceptionable)) or 'none'})")

    def _exception_refusal(self, ev) -> Reason | None:
        """An exception can be recorded only to a ``should`` rule, by someone
        the policy allows to authorise it."""
        rule = self.rule_index[ev.rule]
        if rule.level == "advice":
            return Reason("lifecycle.exception", f"{rule.id} is advice: it never refuses, so there is nothing to "
                          "except.", rule.source)
        if rule.level != "should":
            why = f" ({rule.raised.rstrip('.')})" if rule.raised else ""
            return Reason("lifecycle.exception", f"{rule.id} is a 'must' rule{why}: no exception can open it; "
                          "only the route the procedure itself names.", rule.source)
        if rule.id not in self.exceptionable:
            return Reason("lifecycle.exception", f"{rule.id} refuses no event (it sets a deadline or is not enforced): "
                          "an exception cannot change it; the deadline's own status records any departure.", rule.source)
        roles = exception_roles(rule)
        if ev.role not in roles:
            return Reason("lifecycle.exception",
                          f"An exception to {rule.id} is authorised by {roles_in_words(roles)}, "
                          f"not {roles_in_words([ev.role])}.", rule.source, (needs_exception(rule.id, roles),))
        return None

    def _decision_advice(self, ev) -> tuple:
        """A decision recorded by a role the rules asking for it do not count:
        accepted (it is a fact), with advice saying it will not satisfy them."""
        out = []
        for rule in self.decision_roles[ev.kind]:
            roles = rule.params["decision_roles"]
            if ev.role not in roles:
                who = roles_in_words([ev.role]) if ev.role else "no one named (record role)"
                out.append(Advice(rule.id, f"{rule.id} counts a '{ev.kind}' decision by {roles_in_words(roles)}; "
                                  f"this one is by {who}, so it does not meet that rule.", rule.source))
        return tuple(out)

    # -- deciding -----------------------------------------------------------------

    def _check(self, attempt: Attempt, spec) -> bool:
        """The guard every transition asks: every policy guard for the event,
        each refusal weighed by its rule's level."""
        guards = self._guards_by_event.get(attempt.event.event, ())
        if not guards:
            return not attempt.reasons
        ctx = Context(attempt.case, attempt.event, spec.dest or attempt.case.state)
        reasons = attempt.reasons
        advice = used = ()
        for guard in guards:
            if guard.dests is not None and ctx.dest not in guard.dests:
                continue
            try:
                out = guard.check(ctx)
            except Exception as exc:  # a plugin's bug: one line naming it, not a traceback
                raise _check_failed(self.id, guard, attempt.event, exc) from None
            if not out:
                continue
            rule = guard.rule
            message, remedies = (out, ()) if out.__class__ is str else (out.message, out.remedies)
            level = rule.level
            if level == "advice":
                advice = [*advice, Advice(rule.id, message, rule.source)]
                continue
            if level == "should":
                # By identity: two equal exceptions recorded are two, each used once.
                granted = next((p for p in attempt.case.facts.exceptions
                                if p.rule == rule.id and not any(p is u for u in used)), None)
                if granted is not None:
                    used = [*used, granted]
                    continue
                remedies = tuple(remedies) + (needs_exception(rule.id, exception_roles(rule)),)
            reasons.append(Reason(rule.id, message, rule.source, tuple(remedies)))
        if reasons:
            return False
        attempt.advice = advice
        attempt.used = used
        return True

    def _apply(self, case: Case, event) -> Case:
        decided = None
        early = None
        name = event.event
        if name == "consent_refused":
            route = self.consent_route(Context(case, event))
            if route is None:
                early = Reason("lifecycle.consent_route", "No rule of this policy says where refused consent leads.", LIFECYCLE_SOURCE)
            else:
                decided = {"route": route.dest}
        elif name == "manager_decision" and event.kind == "exception":
            early = self._exception_refusal(event)
        attempt = Attempt(case, event, decided)
        moved = False
        if early is None:
            if self.fast:
                moved = self._fire(attempt)
            else:
                try:
                    moved = self.machine.events[event.event].trigger(CaseModel(case.state), attempt=attempt)
                except MachineError:
                    moved = False
        if not moved:
            reasons = tuple(attempt.reasons) or (early or self._not_possible(case, event),)
            item = HistoryItem(event.date, event.event, False, case.state, case.state, reasons, attributes(event))
            return Case(case.id, case.authority, case.child, case.state, case.version + 1, case.facts,
                        case.history + (item,), case.deadlines)

        spec = attempt.spec
        new_state = spec.dest or case.state
        facts = _next_facts(case.facts, event, spec, new_state, attempt.used)
        if self.fast:
            deadlines = self._next_deadlines_fast(case, facts, event, new_state)
        else:
            after = Case(case.id, case.authority, case.child, new_state, case.version, facts, case.history, case.deadlines)
            deadlines = self._next_deadlines(case, after, event, new_state)
        uses = tuple(ExceptionUse(p.rule, p.role, p.reason, self.rule_index[p.rule].source, p.date)
                     for p in attempt.used) if attempt.used else ()
        advice = attempt.advice
        if name == "manager_decision" and event.kind in self.decision_roles:
            advice = tuple(advice) + self._decision_advice(event)
        item = HistoryItem(event.date, name, True, case.state, new_state, (), attributes(event),
                           tuple(advice) if advice else (), uses)
        return Case(case.id, case.authority, case.child, new_state, case.version + 1, facts,
                    case.history + (item,), deadlines)

    def _fire(self, attempt: Attempt) -> bool:
        """What the machine does for a trigger, without the machinery: the
        first transition from this state whose selector matches is checked
        by the guards (as ``transitions`` evaluates conditions in order).
        Each (state, event) was compiled at assembly into its transitions,
        each with the guards that apply to its destination
        (:mod:`cinflow.policy`, ``_compiled``)."""
        for spec, selected, dest, guards in self._compiled.get((attempt.case.state, attempt.event.event), ()):
            if selected is not None and not selected(attempt):
                continue
            if self._check_fast(attempt, dest, guards) if guards else not attempt.reasons:
                attempt.spec = spec
                return True
        return False

    def _check_fast(self, attempt: Attempt, dest: str, guards: tuple) -> bool:
        """:meth:`_check` over guards compiled for one destination: each a
        tuple (check, guard, rule id, level, source, the exception remedy of
        a ``should``), so nothing is filtered or looked up per event."""
        case = attempt.case
        ctx = Context(case, attempt.event, dest)
        reasons = attempt.reasons
        advice = used = ()
        for check, guard, rule_id, level, source, exception in guards:
            try:
                out = check(ctx)
            except Exception as exc:  # a plugin's bug: one line naming it, not a traceback
                raise _check_failed(self.id, guard, attempt.event, exc) from None
            if not out:
                continue
            message, remedies = (out, ()) if out.__class__ is str else (out.message, out.remedies)
            if level == "advice":
                advice = [*advice, Advice(rule_id, message, source)]
                continue
            if level == "should":
                # By identity: two equal exceptions recorded are two, each used once.
                granted = next((p for p in case.facts.exceptions
                                if p.rule == rule_id and not any(p is u for u in used)), None)
                if granted is not None:
                    used = [*used, granted]
                    continue
                remedies = tuple(remedies) + (exception,)
            reasons.append(Reason(rule_id, message, source, tuple(remedies)))
        if reasons:
            return False
        attempt.advice = advice
        attempt.used = used
        return True

    def _not_possible(self, case: Case, event) -> Reason:
        detail = ", ".join(f"{n}={getattr(event, n)}" for n in ("kind", "outcome") if getattr(event, n, None) is not None)
        what = event.event + (f" ({detail})" if detail else "")
        return Reason(
            "lifecycle.not_from_state",
            f"{what} is not possible while the case is at '{case.state}' ({states.STATES[case.state]}).",
            LIFECYCLE_SOURCE,
        )

    # -- deadlines ----------------------------------------------------------------

    def _next_deadlines(self, before: Case, after: Case, event, new_state: str) -> tuple[Deadline, ...]:
        """The deadlines after ``event``, straight from the rules: the
        reference that :meth:`_next_deadlines_fast` is tested against
        (``tests/test_fast_path.py``). Its steps are written out again there
        on purpose; sharing them would test the shared code against itself."""
        day = event.date
        name_of_event = event.event
        fulfils = self._fulfils.get(name_of_event, ())
        opens = self._opens.get(name_of_event, ())
        state_changed = new_state != before.state
        if not fulfils and not opens and not state_changed:
            return before.deadlines
        deadlines = list(before.deadlines)
        # Unmet occurrences by name, found in one pass (met and ended ones never
        # change); only the names this event can touch, unless the state changed.
        open_at: dict[str, list[int]] = {}
        needed = None if state_changed else self._touches[name_of_event]
        for i, d in enumerate(deadlines):
            if d.met_on is None and d.ended_on is None and (needed is None or d.name in needed):
                open_at.setdefault(d.name, []).append(i)
        # 1. fulfil: each deadline name this event meets, its oldest unmet occurrence.
        done = set()
        for name, trig in fulfils:
            if name in done or name not in open_at or not trig.matches(event):
                continue
            best = None
            for i in open_at[name]:
                d = deadlines[i]
                if d.opened_on <= day and (best is None or (d.opened_on, d.due) < (deadlines[best].opened_on, deadlines[best].due)):
                    best = i
            if best is not None:
                d = deadlines[best]
                deadlines[best] = Deadline(d.name, d.due, d.rule, d.source, d.opened_on, day, None)
                open_at[name].remove(best)
                done.add(name)
        # 2. what no longer applies in the new state stops applying today (only a
        # change of state can do that): missed if already past due, else cancelled.
        if state_changed:
            for name, indices in open_at.items():
                for i in list(indices):
                    d = deadlines[i]
                    while_in = self._while_in.get((d.rule, d.name))
                    if while_in is not None and new_state not in while_in:
                        deadlines[i] = Deadline(d.name, d.due, d.rule, d.source, d.opened_on, None, day)
                        indices.remove(i)
        # 3. open: per name, the tightest of the rules that apply.
        if opens:
            ctx = Context(after, event, new_state)
            tightest: dict[str, tuple[date, DeadlineRule]] = {}
            for rule, trigs in opens:
                if rule.while_in is not None and new_state not in rule.while_in:
                    continue
                for t in trigs:
                    if t.matches(event):
                        break
                else:
                    continue
                if not rule.applies(ctx):
                    continue
                due = rule.due_for(ctx)
                if due is None:
                    continue
                best = tightest.get(rule.name)
                if best is None or due < best[0]:
                    tightest[rule.name] = (due, rule)
            for name, (due, rule) in tightest.items():
                unmet = open_at.get(name, ())
                mode = rule.reopen
                if mode == "tighten" and unmet:
                    # The same obligation again: an earlier due date stands.
                    if min(deadlines[i].due for i in unmet) <= due:
                        continue
                if mode != "add":
                    for i in unmet:
                        d = deadlines[i]  # superseded by the new occurrence
                        deadlines[i] = Deadline(d.name, d.due, d.rule, d.source, d.opened_on, None, day)
                deadlines.append(Deadline(name, due, rule.rule.id, rule.rule.source, day))
        return tuple(deadlines)


    def _next_deadlines_fast(self, before: Case, facts: CaseFacts, event, new_state: str) -> tuple[Deadline, ...]:
        """:meth:`_next_deadlines` from what assembly compiled: per event the
        deadlines it fulfils (with a matcher, None when any such event
        does), per (event, new state) the rules that open one there, each
        with its due date as a plain function of the event where the rule
        allows (None: ask ``rule.due_for``).  The case after the event is
        made only for a rule that needs to see it."""
        day = event.date
        name_of_event = event.event
        fulfils = self._fast_fulfils.get(name_of_event, ())
        opens = self._fast_opens.get((name_of_event, new_state), ())
        state_changed = new_state != before.state
        if not fulfils and not opens and not state_changed:
            return before.deadlines
        deadlines = list(before.deadlines)
        open_at: dict[str, list[int]] = {}
        needed = None if state_changed else self._touches[name_of_event]
        for i, d in enumerate(deadlines):
            if d.met_on is None and d.ended_on is None and (needed is None or d.name in needed):
                if d.name in open_at:
                    open_at[d.name].append(i)
                else:
                    open_at[d.name] = [i]
        # 1. fulfil: each deadline name this event meets, its oldest unmet occurrence.
        if fulfils and open_at:
            done = set()
            for name, matches in fulfils:
                if name in done or name not in open_at or (matches is not None and not matches(event)):
                    continue
                best = None
                for i in open_at[name]:
                    d = deadlines[i]
                    if d.opened_on <= day and (best is None or (d.opened_on, d.due) < (deadlines[best].opened_on, deadlines[best].due)):
                        best = i
                if best is not None:
                    d = deadlines[best]
                    deadlines[best] = Deadline(d.name, d.due, d.rule, d.source, d.opened_on, day, None)
                    open_at[name].remove(best)
                    done.add(name)
        # 2. what no longer applies in the new state stops applying today.
        if state_changed:
            while_in_of = self._while_in
            for name, indices in open_at.items():
                for i in list(indices):
                    d = deadlines[i]
                    while_in = while_in_of.get((d.rule, d.name))
                    if while_in is not None and new_state not in while_in:
                        deadlines[i] = Deadline(d.name, d.due, d.rule, d.source, d.opened_on, None, day)
                        indices.remove(i)
        # 3. open: per name, the tightest of the rules that apply.
        if opens:
            ctx = None
            tightest: dict[str, tuple] = {}
            for name, trigs, applies, due_of, rule, reopen, rule_id, source in opens:
                if trigs is not None:
                    for matches in trigs:
                        if matches(event):
                            break
                    else:
                        continue
                if applies is not None or due_of is None:
                    if ctx is None:
                        after = Case(before.id, before.authority, before.child, new_state, before.version, facts,
                                     before.history, before.deadlines)
                        ctx = Context(after, event, new_state)
                    if applies is not None and not applies(ctx):
                        continue
                due = due_of(event) if due_of is not None else rule.due_for(ctx)
                if due is None:
                    continue
                best = tightest.get(name)
                if best is None or due < best[0]:
                    tightest[name] = (due, reopen, rule_id, source)
            for name, (due, mode, rule_id, source) in tightest.items():
                unmet = open_at.get(name, ())
                if mode == "tighten" and unmet:
                    # The same obligation again: an earlier due date stands.
                    if min(deadlines[i].due for i in unmet) <= due:
                        continue
                if mode != "add":
                    for i in unmet:
                        d = deadlines[i]  # superseded by the new occurrence
                        deadlines[i] = Deadline(d.name, d.due, d.rule, d.source, d.opened_on, None, day)
                deadlines.append(Deadline(name, due, rule_id, source, day))
        return tuple(deadlines)


@lru_cache(maxsize=65536)
def _adulthood(birth_date: date) -> date:
    return birthday(birth_date, ADULTHOOD)


_FACT_FIELDS = tuple(a.name for a in CaseFacts.__attrs_attrs__)


def _make_evolve_facts():
    """``attrs.evolve`` for the hot path, generated once: positional, every
    field read directly (``c[name] if name in c else f.name``)."""
    args = ", ".join(f"c[{n!r}] if {n!r} in c else f.{n}" for n in _FACT_FIELDS)
    return eval(f"lambda f, c: CaseFacts({args})", {"CaseFacts": CaseFacts})  # noqa: S307 (our own field names)


_evolve_facts = _make_evolve_facts()
_evolve_facts.__doc__ = "``attrs.evolve(facts, **changes)`` for the hot path (changes: a dict of field names)."


def _next_facts(facts: CaseFacts, event, spec, new_state: str, used=()) -> CaseFacts:
    """The lifecycle facts an accepted event establishes (no policy here):
    what the event declares it sets (``sets_facts``), what its transition
    implies (a plan decided, an ending), and exceptions used up."""
    sets = getattr(event, "sets_facts", None)
    changes = sets(facts) if sets is not None else {}
    if used:
        changes["exceptions"] = tuple(p for p in changes.get("exceptions", facts.exceptions)
                                      if not any(p is u for u in used))
    if spec.plan_origin is not None:
        changes.update(plan_required_on=event.date, plan_origin=spec.plan_origin, plan_started=None, review_chair=None)
        if spec.plan_origin != "supervision_order":
            changes.update(supervision_order_ends=None)
    if new_state in states.FINAL_STATES and spec.dest is not None:  # paperwork after the end changes nothing
        reason = spec.closure_reason
        if event.event == "case_closed":
            reason = event.reason if event.reason in CLOSURE_REASONS else "RC7"
        changes.update(closed_on=event.date, closure_reason=reason)
    return _evolve_facts(facts, changes) if changes else facts


def record_decision(facts: CaseFacts, ev) -> dict:
    """The facts a ``manager_decision`` sets: a decision, or a pending exception."""
    if ev.kind == "exception":
        return {"exceptions": facts.exceptions + (PendingException(ev.rule, ev.role, ev.reason, ev.date),)}
    return {"decisions": facts.decisions + (Decision(ev.kind, ev.date, ev.role),)}


__all__ = ["Engine", "exception_roles", "SENIORITY", "LIFECYCLE_SOURCE", "ADULTHOOD", "Refusal"]


def _check_failed(policy_id: str, guard, event, exc: Exception) -> PluginError:
    """A guard that raised, as one line naming the policy, the rule and (when
    the check is the plugin's own function) its module."""
    module = getattr(guard.check, "__module__", None)
    where = f" (plugin module {module})" if module and module != "cinflow.rules" else ""  # not a compiled chair rule
    message = " ".join(str(exc).split()) or "(no message)"
    return PluginError(f"policy {policy_id}: rule {guard.rule.id}'s check{where} failed on "
                       f"{event.event} of {event.date.isoformat()}: {type(exc).__name__}: {message}")
