"""The one cattrs converter, used only at the edges (scenario files, policy
YAML, JSON output, the database), and the strict YAML loader.

Dates travel as ISO strings; unknown keys are errors; every structuring error
is reported as one line naming the field at fault.
"""

from __future__ import annotations

from datetime import date
import typing
from typing import Any

import cattrs
import yaml
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError

from .errors import InputError
from .events import EVENT_TYPES, SUBMITTABLE_EVENTS

converter = cattrs.Converter(forbid_extra_keys=True)


def _structure_date(value: Any, _type) -> date:
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a date (YYYY-MM-DD), got {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a real date (YYYY-MM-DD)") from None


def _structure_bool(value: Any, _type) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError(f"expected true or false, got {value!r}")


def _structure_int(value: Any, _type) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected a whole number, got {value!r}")
    return value


def _structure_str(value: Any, _type) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {value!r}")
    return value


converter.register_structure_hook(date, _structure_date)
converter.register_unstructure_hook(date, lambda d: d.isoformat())
converter.register_structure_hook(bool, _structure_bool)
converter.register_structure_hook(int, _structure_int)
converter.register_structure_hook(str, _structure_str)


def _describe(exc: BaseException, type_) -> str:
    if isinstance(exc, KeyError):
        return "required field missing"
    text = str(exc)
    if " not in literal " in text:
        allowed = [a for arg in typing.get_args(type_) for a in (typing.get_args(arg) or [arg]) if a is not type(None)]
        return f"{text.split(' not in literal ')[0]!r} is not one of: {', '.join(map(str, allowed))}"
    if isinstance(exc, ValueError) and text:
        return text
    return cattrs.v.format_exception(exc, type_)


def _first_error_line(exc: BaseException, where: str) -> str:
    lines = cattrs.transform_error(exc, path=where, format_exception=_describe)
    line = lines[0]
    # cattrs says "... @ $.events[2].date"; lead with the path, it names the culprit.
    if " @ " in line:
        message, path = line.rsplit(" @ ", 1)
        return f"{path}: {message}"
    return line


def structure(data: Any, cls: type, where: str = "$"):
    """Structure ``data`` into ``cls`` or raise :class:`InputError` with one line."""
    fields = getattr(cls, "__attrs_attrs__", None)
    if fields is not None and not isinstance(data, dict):
        raise InputError(f"{where}: expected a mapping of {', '.join(a.name for a in fields)}, got {data!r}")
    if fields is not None:
        known = [a.name for a in fields]
        unknown = sorted(str(k) for k in data if k not in known)
        if unknown:
            what = getattr(cls, "event", None) or cls.__name__.lower()
            raise InputError(f"{where}: unknown attribute {unknown[0]!r} for {what} (known: {', '.join(known)})")
    try:
        return converter.structure(data, cls)
    except (ClassValidationError, ForbiddenExtraKeysError) as exc:
        raise InputError(_first_error_line(exc, where)) from None
    except (ValueError, TypeError, KeyError) as exc:
        raise InputError(f"{where}: {exc}") from None


def unstructure(obj: Any) -> Any:
    return converter.unstructure(obj)


def structure_event(data: Any, where: str = "event"):
    """A mapping ``{date, event, ...attributes}`` to an event record."""
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a mapping with 'date' and 'event', got {type(data).__name__}")
    name = data.get("event")
    if name is None:
        raise InputError(f"{where}: missing 'event'")
    cls = EVENT_TYPES.get(name) if name in SUBMITTABLE_EVENTS else None
    if cls is None:
        raise InputError(f"{where}.event: unknown event {name!r} (known: {', '.join(SUBMITTABLE_EVENTS)})")
    fields = {k: v for k, v in data.items() if k != "event"}
    if "date" not in fields:
        raise InputError(f"{where}: {name} has no 'date'")
    return structure(fields, cls, where)


def event_to_dict(ev) -> dict:
    """The inverse of :func:`structure_event` (defaults included)."""
    out = {"date": ev.date.isoformat(), "event": ev.event}
    for a in type(ev).__attrs_attrs__:
        if a.name != "date":
            out[a.name] = converter.unstructure(getattr(ev, a.name))
    return out


class StrictLoader(yaml.SafeLoader):
    """YAML with dates kept as strings (the converter checks them) and
    duplicate keys rejected."""


StrictLoader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _mapping_no_duplicates(loader: StrictLoader, node: yaml.MappingNode):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise InputError(f"line {key_node.start_mark.line + 1}: duplicate key {key!r}")
        seen.add(key)
    return loader.construct_mapping(node)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_no_duplicates)


def load_yaml(text: str, where: str) -> Any:
    try:
        return yaml.load(text, Loader=StrictLoader)
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"{where}:{at}: not valid YAML ({problem})") from None
