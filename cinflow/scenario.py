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

from .convert import load_yaml, structure, structure_event
from .errors import InputError
from .models import Case, Child

KEYS = ("authority", "case", "child", "events", "as_of")


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


def parse_scenario(data, name: str = "scenario") -> Scenario:
    if not isinstance(data, dict):
        raise InputError(f"{name}: a scenario is a mapping with authority, child and events")
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise InputError(f"{name}: unknown key {unknown[0]!r} (known: {', '.join(KEYS)})")
    for key in ("authority", "child", "events"):
        if key not in data:
            raise InputError(f"{name}: missing {key!r}")
    authority = data["authority"]
    if not isinstance(authority, str):
        raise InputError(f"{name}: authority: expected an authority id, got {authority!r}")
    case_id = data.get("case", name)
    if not isinstance(case_id, (str, int)) or str(case_id) == "":
        raise InputError(f"{name}: case: expected a case id, got {case_id!r}")
    child = structure(data["child"], Child, "child")
    raw_events = data["events"]
    if not isinstance(raw_events, list):
        raise InputError(f"{name}: events: expected a list of events")
    if not raw_events:
        raise InputError(f"{name}: events: the list is empty")
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


def load_scenario(path: str | Path) -> Scenario:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc.__class__.__name__})") from None
    return parse_scenario(load_yaml(text, str(path)), path.stem)


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
