"""Scenario files: one case's child and events, run under one authority.

```yaml
authority: kent
case: K-001                      # optional (default: the file's name)
child: {birth_date: 2014-06-12, disabled: false}
events:
  - {date: 2026-01-05, event: referral_received}
as_of: 2026-03-20                # optional (default: the last event's date)
```
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from attrs import frozen

from .convert import MAX_BYTES, has_surrogate, load_yaml, read_input, structure, structure_event
from .errors import InputError, quote
from .models import Case, Child

KEYS = ("authority", "case", "child", "events", "as_of")
# Events in one scenario: a case open for 18 years with a visit every week has
# under 2,000 (see also the input limits in cinflow.convert).
MAX_EVENTS = 10_000
SCENARIO_FILES = "scenario files"  # they refuse YAML aliases and anchors (load_yaml's no_aliases)


@frozen
class Scenario:
    authority: str
    case: str
    child: Child
    events: tuple
    as_of: date | None = None

    @property
    def effective_as_of(self) -> date | None:
        if self.as_of is not None:
            return self.as_of
        return self.events[-1].date if self.events else None


def parse_scenario(data, name: str = "scenario", default_case: str | None = None) -> Scenario:
    """``name`` labels errors; the case id defaults to ``default_case`` (else ``name``)."""
    if not isinstance(data, dict):
        raise InputError(f"{name}: a scenario is a mapping with authority, child and events")
    unknown = sorted((k for k in data if k not in KEYS), key=quote)
    if unknown:
        raise InputError(f"{name}: unknown key {quote(unknown[0])} (known: {', '.join(KEYS)})")
    for key in ("authority", "child", "events"):
        if key not in data:
            raise InputError(f"{name}: missing {key!r}")
    authority = data["authority"]
    if not isinstance(authority, str):
        raise InputError(f"{name}: authority: expected an authority id, got {quote(authority)}")
    case_id = data.get("case", name if default_case is None else default_case)
    if not isinstance(case_id, (str, int)) or case_id == "" or isinstance(case_id, str) and has_surrogate(case_id):
        raise InputError(f"{name}: case: expected a case id, got {quote(case_id)}")
    child = structure(data["child"], Child, "child")
    raw_events = data["events"]
    if not isinstance(raw_events, list):
        raise InputError(f"{name}: events: expected a list of events")
    if not raw_events:
        raise InputError(f"{name}: events: the list is empty")
    if len(raw_events) > MAX_EVENTS:
        raise InputError(f"{name}: events: {len(raw_events):,} events, over the limit of {MAX_EVENTS:,} for one scenario")
    events = []
    for i, raw in enumerate(raw_events):
        ev = structure_event(raw, f"events[{i}]")
        if events and ev.date < events[-1].date:
            raise InputError(
                f"events[{i}]: {ev.event} on {ev.date.isoformat()} is before the previous event "
                f"({events[-1].date.isoformat()}); events must be in date order"
            )
        events.append(ev)
    as_of = structure(data["as_of"], date, "as_of") if data.get("as_of") is not None else None
    if as_of is not None and as_of < events[-1].date:
        raise InputError(f"as_of: {as_of.isoformat()} is before the last event ({events[-1].date.isoformat()})")
    return Scenario(authority, str(case_id), child, tuple(events), as_of)


def examples_dir() -> Path | None:
    """The shipped example scenarios: ``cinflow/examples/`` in an installed wheel,
    the checkout's ``examples/`` when cinflow runs from its source tree."""
    here = Path(__file__).resolve().parent
    for folder, marker in ((here / "examples", None), (here.parent / "examples", here.parent / "pyproject.toml")):
        if folder.is_dir() and (marker is None or marker.is_file()):
            return folder
    return None


def shipped_examples() -> dict[str, Path]:
    """Each shipped example scenario by name (its file name without ``.yaml``)."""
    folder = examples_dir()
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))} if folder is not None else {}


def example_summary(path: Path) -> str:
    """The first sentence of a scenario file's opening comment."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    text = " ".join(line for line in lines if line)
    end = text.find(". ")
    return text[: end + 1] if end >= 0 else text


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario file; ``-`` reads standard input (the case id defaults
    to ``stdin``; errors name ``<stdin>``)."""
    if str(path) == "-":
        try:
            return parse_scenario(load_yaml(_read_stdin(), "<stdin>", SCENARIO_FILES), "<stdin>", "stdin")
        except InputError as exc:  # every error names where the scenario came from
            if str(exc).startswith("<stdin>"):
                raise
            raise type(exc)(f"<stdin>: {exc}") from None
    path = Path(path)
    bare = not path.suffix and len(path.parts) == 1
    if bare and not path.exists():
        path = shipped_examples().get(path.name, path)  # 'cinflow run kent-cin-plan'
    try:
        text = read_input(path)  # bounded: MAX_BYTES
    except InputError:
        if bare and not path.exists():
            raise InputError(f"{path}: no such file (nor a shipped example: 'cinflow examples' lists them)") from None
        raise
    return parse_scenario(load_yaml(text, str(path), SCENARIO_FILES), path.stem)


def _read_stdin() -> str:
    import sys

    try:
        buffer = getattr(sys.stdin, "buffer", None)
        text = buffer.read(MAX_BYTES + 1).decode("utf-8") if buffer is not None else sys.stdin.read(MAX_BYTES + 1)
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"<stdin>: cannot read ({exc.__class__.__name__})") from None
    if len(text) > MAX_BYTES:
        raise InputError(f"<stdin>: over {MAX_BYTES:,} bytes, the limit for an input file")
    return text


def predates_rules(policy, scenario: Scenario, case: Case) -> str | None:
    """A warning when the scenario's first event comes before the first dated
    version of every timescale ``policy`` has: no timescale applies to such
    events, so without a word the run would just show no deadlines."""
    starts = [v.valid_from for r in policy.deadline_rules if r.rule.timescale is not None
              for v in r.rule.timescale.versions]
    if not starts or scenario.events[0].date >= min(starts):
        return None
    first = min(starts)
    opened = any(d.opened_on < first for d in case.deadlines)
    return (f"events before {first.isoformat()} predate {policy.id}'s first rule version; "
            + ("no timescale applied to them (only agreed dates)" if opened else "no deadlines were opened for them"))


def run_scenario(registry, scenario: Scenario) -> Case:
    """Apply every event under the scenario's authority, then let time run to
    ``as_of`` (automatic transitions such as the 18th birthday)."""
    policy = registry[scenario.authority]
    case = policy.new_case(scenario.case, scenario.child)
    for ev in scenario.events:
        case = policy.apply(case, ev)
    if scenario.effective_as_of is not None:
        case = policy.advance(case, scenario.effective_as_of)
    return case
