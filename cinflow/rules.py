"""What a policy is made of.

Numbers, texts, roles and citations are data in each policy's ``policy.yaml``
(a :class:`RuleBook`); behaviour is small Python objects that reference those
rules (:class:`Guard`, :class:`ChairRule`, :class:`ConsentRoute`,
:class:`DeadlineRule`).  Plugins hand these objects to the engine through the
hooks in :mod:`cinflow.hookspecs`, once per policy.
"""

from __future__ import annotations

from datetime import date
from importlib import resources
from typing import Any, Callable, Literal, Mapping

from attrs import field, frozen

from .calendar import MAX_PERIOD, UNITS, add_period, age_on
from .convert import load_yaml, structure
from .errors import InputError, PluginError, quote
from .models import Citation
from .vocabulary import MeetingOutcome, Role


@frozen
class TimescaleVersion:
    valid_from: date
    amount: int | None


@frozen
class Timescale:
    """A period with the date each version applies from.  ``amount`` None
    means the source sets no timescale (the agreed date is used instead)."""

    unit: str
    counts_from: str
    versions: tuple[TimescaleVersion, ...]

    def at(self, on: date) -> TimescaleVersion | None:
        """The version in force on ``on`` (the newest that started on or
        before it), or None if the rule was not yet in force."""
        if len(self.versions) == 1:
            only = self.versions[0]
            return only if only.valid_from <= on else None
        chosen = None
        for v in self.versions:
            if v.valid_from <= on and (chosen is None or v.valid_from > chosen.valid_from):
                chosen = v
        return chosen

    def add_to(self, start: date, clock_started: date | None = None) -> date | None:
        """``start`` plus the period in force on ``clock_started`` (default
        ``start``); None when no period applies (no version in force yet, or
        the source sets no timescale)."""
        version = self.at(clock_started or start)
        if version is None or version.amount is None:
            return None
        return add_period(start, version.amount, self.unit)

    def describe(self) -> str:
        parts = []
        for v in sorted(self.versions, key=lambda v: v.valid_from):
            unit = self.unit.replace("_", " ")
            if v.amount is None:
                text = f"no fixed timescale: the date agreed at {self.counts_from}"
            elif v.amount < 0:
                text = f"{-v.amount} {unit} before {self.counts_from}"
            else:
                text = f"{v.amount} {unit} after {self.counts_from}"
            parts.append(f"{text} (version from {v.valid_from.isoformat()})")
        return "; ".join(parts)


@frozen
class RuleInfo:
    """One rule as written in a policy: id, plain words, citation, and the
    data it needs (a timescale, roles, thresholds)."""

    id: str
    text: str
    citation: Citation
    timescale: Timescale | None = None
    params: Mapping[str, Any] = field(factory=dict, hash=False)
    # Set for a rule the catalogue lists but no hook enforces: says why.
    not_enforced: str | None = None
    # How binding the procedure's own wording makes it: ``must`` refuses,
    # ``should`` refuses unless an authorised exception was recorded (comply
    # or explain), ``advice`` never refuses (the event carries advice).
    level: str = "must"
    # The modal words of the source the level rests on ("must", "should", "will").
    words: str | None = None
    # Why a council enforces a ``should`` as a ``must`` (None: it does not).
    raised: str | None = None
    # Who may authorise an exception to a ``should`` (None: a Team Manager or
    # anyone senior to one).
    exception_roles: tuple[str, ...] | None = None
    # The citation as one string, made once: every deadline and refusal of
    # this rule shares it rather than holding its own copy.
    source: str = field(init=False, eq=False, hash=False)

    @source.default
    def _source(self) -> str:
        return str(self.citation)

    def decision_kinds(self) -> list[str]:
        """The ``manager_decision`` kinds this rule asks for."""
        kind = self.params.get("decision")
        return [kind] if kind else []

    def parameters(self) -> list[str]:
        """The rule's data in plain words, for the catalogue."""
        from .vocabulary import roles_in_words

        out = []
        if self.timescale is not None:
            out.append(self.timescale.describe())
        for key, value in self.params.items():
            if key in ("roles", "decision_roles"):
                value = roles_in_words(value)
            elif isinstance(value, (list, tuple)):
                value = ", ".join(map(str, value))
            out.append(f"{key.replace('_', ' ')}: {value}")
        return out

    def param(self, name: str):
        try:
            return self.params[name]
        except KeyError:
            raise PluginError(f"rule {self.id} has no parameter {name!r}") from None


@frozen
class CitedDocument:
    """A document some of a layer's rules cite besides the layer's own (the
    national baseline cites a seed procedure that restates a duty): its file
    name as the rules cite it, and what a practitioner would call it."""

    file: str
    title: str
    author: str | None = None
    date: date | None = None


@frozen
class PolicyInfo:
    """Who a policy is: id (kebab-case), title, one-line description, the
    source document, and any base layers it extends (import paths).
    ``cites``: other documents its rules cite, named for practitioners."""

    id: str
    title: str
    description: str
    document: str | None = None
    document_title: str | None = None
    document_date: date | None = None
    last_reviewed: date | None = None
    extends: tuple[str, ...] = ()
    cites: tuple[CitedDocument, ...] = ()


# -- loading policy.yaml -----------------------------------------------------

@frozen
class RuleParams:
    """The typed parameters a rule may carry in ``policy.yaml`` (``params:``).

    Structured by the one cattrs converter when the file loads, so a misspelt
    key or a role, outcome or number of the wrong kind fails at start-up with
    one line.  A plugin with parameters of its own subclasses this (attrs,
    ``frozen``) and passes it to :meth:`RuleBook.from_package`."""

    # Who may chair (chair rules).
    roles: tuple[Role, ...] | None = None
    # The manager_decision kind a rule asks for, and who must have made it.
    decision: str | None = None
    decision_roles: tuple[Role, ...] | None = None
    # Another decision kind that lifts the rule (e.g. long-term support agreed).
    alternative: str | None = None
    # Meeting outcomes a procedure recognises.
    outcomes: tuple[MeetingOutcome, ...] | None = None
    # Periods and thresholds.
    minimum_months: int | None = None
    months: int | None = None
    weeks: int | None = None
    max_short_break_nights: int | None = None
    max_overnight_settings: int | None = None
    # The age from which a rule applies (a young person's own consent).
    from_age: int | None = None


def _params_dict(params) -> dict:
    """Typed params as the read-only mapping rules expose (set keys only)."""
    return {a.name: getattr(params, a.name) for a in type(params).__attrs_attrs__ if getattr(params, a.name) is not None}

@frozen
class _TimescaleFile:
    unit: str
    counts_from: str
    values: dict[str, int | None]


@frozen
class _RuleFile:
    text: str
    section: str
    document: str | None = None
    timescale: _TimescaleFile | None = None
    params: dict = field(factory=dict)
    not_enforced: str | None = None
    level: Literal["must", "should", "advice"] | None = None
    words: str | None = None
    raised: str | None = None
    exception_roles: tuple[Role, ...] | None = None


@frozen
class _PolicyFile:
    policy: PolicyInfo
    rules: dict[str, _RuleFile]


class RuleBook:
    """The rules of one policy layer, by short name (``book.initial_meeting``)."""

    def __init__(self, info: PolicyInfo, rules: dict[str, RuleInfo]):
        self.info = info
        self.rules = rules

    def __getattr__(self, name: str) -> RuleInfo:
        try:
            return self.__dict__["rules"][name]
        except KeyError:
            raise AttributeError(f"policy {self.__dict__['info'].id!r} has no rule {name!r}") from None

    def __iter__(self):
        return iter(self.rules.values())

    @classmethod
    def from_yaml(cls, text: str, where: str, params: type = RuleParams) -> "RuleBook":
        raw = load_yaml(text, where)
        parsed = structure(raw, _PolicyFile, where)
        info = parsed.policy
        rules = {}
        for name, r in parsed.rules.items():
            typed = _params_dict(structure(r.params, params, f"{where}: rules.{name}.params"))
            document = r.document or info.document
            if not document:
                raise InputError(f"{where}: rules.{name}: no document to cite")
            timescale = None
            if r.timescale is not None:
                if r.timescale.unit not in UNITS:
                    raise InputError(f"{where}: rules.{name}.timescale.unit: {quote(r.timescale.unit)} is not one of {', '.join(UNITS)}")
                too_long = [v for v in r.timescale.values.values() if v is not None and abs(v) > MAX_PERIOD]
                if too_long:
                    raise InputError(f"{where}: rules.{name}.timescale.values: {too_long[0]} {r.timescale.unit} "
                                     f"is over the limit of {MAX_PERIOD:,}")
                versions = tuple(
                    TimescaleVersion(structure(k, date, f"{where}: rules.{name}.timescale.values"), v)
                    for k, v in r.timescale.values.items()
                )
                if not versions:
                    raise InputError(f"{where}: rules.{name}.timescale.values: empty")
                timescale = Timescale(r.timescale.unit, r.timescale.counts_from, versions)
            if r.raised is not None and r.level != "must":
                raise InputError(f"{where}: rules.{name}.raised: only a rule at level must can be raised (it is {r.level})")
            if r.exception_roles is not None and r.level != "should":
                raise InputError(f"{where}: rules.{name}.exception_roles: only a should rule takes exceptions")
            rules[name] = RuleInfo(f"{info.id}.{name}", r.text, Citation(document, r.section), timescale, typed,
                                   r.not_enforced, r.level or "must", r.words, r.raised, r.exception_roles)
        return cls(info, rules)

    @classmethod
    def from_package(cls, package: str, filename: str = "policy.yaml", params: type = RuleParams) -> "RuleBook":
        """Load ``filename`` shipped inside ``package`` (use ``__name__``);
        ``params``: a :class:`RuleParams` subclass for a plugin's own keys."""
        text = resources.files(package).joinpath(filename).read_text(encoding="utf-8")
        return cls.from_yaml(text, f"{package}/{filename}", params)


# -- behaviour ---------------------------------------------------------------

@frozen
class Predicate:
    """A condition on the guard context with the words that explain it."""

    text: str
    test: Callable[["Context"], bool] = field(eq=False)

    def __call__(self, ctx: "Context") -> bool:
        return self.test(ctx)


ALWAYS = Predicate("always", lambda ctx: True)


@frozen
class Trigger:
    """An event, optionally narrowed by its attributes: ``on("cin_meeting", kind="initial")``."""

    event: str
    when: tuple[tuple[str, frozenset], ...] = ()

    def matches(self, ev) -> bool:
        for name, allowed in self.when:
            if getattr(ev, name, None) not in allowed:
                return False
        return True

    def describe(self) -> str:
        if not self.when:
            return self.event
        return f"{self.event} ({', '.join(f'{k}={chr(124).join(sorted(map(str, v)))}' for k, v in self.when)})"


def on(event: str, **when) -> Trigger:
    """A :class:`Trigger`; each keyword is one allowed value or a list of them."""
    return Trigger(event, tuple(sorted(
        (k, frozenset(v if isinstance(v, (list, tuple, set, frozenset)) else [v])) for k, v in when.items()
    )))


@frozen
class Refusal:
    """What a guard's ``check`` returns to refuse with remedies: the sentence
    and what would let the event through (:class:`~cinflow.models.Remedy`)."""

    message: str
    remedies: tuple = field(default=(), converter=tuple)


@frozen
class Guard:
    """Refuses an event when ``check`` returns a message.

    ``check(ctx)`` returns None to allow, or a sentence a practitioner
    understands (a ``str``, or a :class:`Refusal` carrying remedies).  Guards
    only ever add refusals: this is how an authority tightens the national
    baseline.

    What a refusal does follows the rule's ``level``: ``must`` refuses;
    ``should`` refuses unless an exception to the rule was recorded first
    (and then uses it up); ``advice`` never refuses, the event carries the
    message as advice."""

    rule: RuleInfo
    events: frozenset[str] = field(converter=frozenset)
    check: Callable[["Context"], str | None] = field(eq=False)
    # Only consulted for transitions into these states (None: every transition
    # of its events).  Keeps the diagram honest and skips needless checks.
    dests: frozenset[str] | None = field(default=None, converter=lambda v: None if v is None else frozenset(v))


@frozen
class ChairRule:
    """Who may chair a CIN meeting of ``kinds`` when ``applies``: the roles are
    the rule's ``roles`` parameter.  Every applicable chair rule must admit the
    chair."""

    rule: RuleInfo
    kinds: frozenset[str] = field(converter=frozenset)
    applies: Predicate = ALWAYS

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(self.rule.param("roles"))

    def as_guard(self) -> Guard:
        """This chair rule as an ordinary guard on ``cin_meeting`` (how the
        engine runs it: one loop over guards)."""
        from .models import needs_chair
        from .vocabulary import roles_in_words

        roles, kinds, applies, rule = self.roles, self.kinds, self.applies, self.rule

        def check(ctx):
            ev = ctx.event
            if ev.kind in kinds and ev.chair not in roles and applies(ctx):
                return Refusal(f"This {ev.kind} CIN meeting is to be chaired by {roles_in_words(roles)}; "
                               f"it was chaired by {roles_in_words([ev.chair])}.", (needs_chair(roles),))
            return None

        return Guard(rule, {"cin_meeting"}, check)


@frozen
class ConsentRoute:
    """Where refused consent leads (``dest``: a state) when ``applies``.  Routes
    from the authority's layer are considered before the national ones."""

    rule: RuleInfo
    dest: str
    applies: Predicate = ALWAYS


@frozen
class DeadlineRule:
    """A deadline called ``name`` that ``opens_on`` events open and
    ``fulfilled_by`` events meet.

    Due date: the rule's timescale added to the event date (or ``start(ctx)``),
    using the version in force on that date; if the event carries
    ``agreed_attr`` (e.g. ``next_review``) and it is earlier, the agreed date
    wins.  When several rules open the same deadline on one event, the
    earliest due date wins (an authority can only tighten).  ``while_in``
    (states): the deadline stops applying when the case leaves them (it is
    then ``missed`` if its due date had passed, else ``cancelled``).

    ``reopen`` says what opening a deadline does to an occurrence of the same
    name that is still unmet:

    * ``"add"``: each occurrence belongs to the event that opened it (the
      minutes of one meeting); both stay owed.  The default when every
      fulfilling event is paperwork;
    * ``"tighten"``: the same obligation re-triggered (a supervision order
      while the initial meeting is awaited): the earlier due date stands,
      never a later one.  The default otherwise;
    * ``"replace"``: the new occurrence supersedes the old (invitations for
      the next meeting, once a meeting has been held): the old one stops
      applying.
    """

    name: str
    rule: RuleInfo
    opens_on: tuple[Trigger, ...] = field(converter=tuple)
    fulfilled_by: tuple[Trigger, ...] = field(converter=tuple)
    while_in: frozenset[str] | None = field(default=None, converter=lambda v: None if v is None else frozenset(v))
    applies: Predicate = ALWAYS
    start: Callable[["Context"], date] | None = field(default=None, eq=False)
    agreed_attr: str | None = None
    reopen: str | None = None

    def __attrs_post_init__(self):
        if self.reopen is None:
            from .states.endings import PAPERWORK

            mode = "add" if all(t.event in PAPERWORK for t in self.fulfilled_by) else "tighten"
            object.__setattr__(self, "reopen", mode)
        elif self.reopen not in ("add", "tighten", "replace"):
            raise PluginError(f"{self.rule.id}: deadline {self.name!r}: reopen must be add, tighten or replace")

    def due_for(self, ctx: "Context") -> date | None:
        start = self.start(ctx) if self.start else ctx.date
        due = self.rule.timescale.add_to(start, ctx.date) if self.rule.timescale else None
        agreed = getattr(ctx.event, self.agreed_attr, None) if self.agreed_attr else None
        if agreed is not None and (due is None or agreed < due):
            return agreed
        return due


@frozen
class Context:
    """What a guard, predicate or deadline rule can see: the case before the
    event, the event, and the state it would lead to.

    ``case.history`` is the whole history when a case is applied to in
    memory, but when a *stored* case is appended to it holds only the latest
    accepted item of each event name and the case's last item (the store
    reads a projection, not the log).  Ask whether an accepted event happened
    since a date (:func:`cinflow.rulekit.happened_since`) or when the last
    one was; never count items (keep a count as a fact).  ``cinflow verify``
    replays every stored case and reports a rule that broke this."""

    case: Any
    event: Any
    dest: str | None = None

    @property
    def date(self) -> date:
        return self.event.date

    @property
    def child(self):
        return self.case.child

    @property
    def facts(self):
        return self.case.facts

    @property
    def age(self) -> int:
        return age_on(self.case.child.birth_date, self.event.date)
