"""The one cattrs converter, used only at the edges (scenario files, policy
YAML, JSON output, the database), and the strict YAML loader.

Dates travel as ISO strings; unknown keys are errors; every structuring error
is reported as one line naming the field at fault.
"""

from __future__ import annotations

from datetime import date, datetime
import math
from pathlib import Path
import re
import typing
from typing import Any

import cattrs
import yaml
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, ScalarNode
from yaml.resolver import Resolver

from .calendar import FIRST_DATE, LAST_DATE, supported
from .errors import InputError, quote
from .events import EVENT_TYPES, SUBMITTABLE_EVENTS

# Input limits, far above any real file and low enough that a hostile one is
# refused in about a second and a few hundred MB (one line, exit 2).
MAX_BYTES = 2_000_000  # a file (a 10,000-event scenario is about 600 kB)
MAX_DEPTH = 50  # lists and mappings nested (a scenario needs 4 levels)
MAX_VALUES = 200_000  # values and keys in a document, aliases expanded (a 10,000-event scenario has about 80,000)
MAX_DIGITS = 100  # characters of one number

_SURROGATE = re.compile("[\ud800-\udfff]")


def has_surrogate(text: str) -> bool:
    """A lone surrogate (YAML's "\\udc80", JSON's "\\udc80"): no file, terminal or database can hold it."""
    return _SURROGATE.search(text) is not None


converter = cattrs.Converter(forbid_extra_keys=True)


def _structure_date(value: Any, _type) -> date:
    if isinstance(value, datetime):
        raise ValueError(f"expected a date (YYYY-MM-DD), got a date and time {quote(value.isoformat())}")
    if isinstance(value, date):
        day = value
    elif not isinstance(value, str):
        raise ValueError(f"expected a date (YYYY-MM-DD), got {quote(value)}")
    else:
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{quote(value)} is not a real date (YYYY-MM-DD)") from None
    if not supported(day):
        raise ValueError(f"{day.isoformat()} is outside the dates cinflow supports "
                         f"({FIRST_DATE.isoformat()} to {LAST_DATE.isoformat()})")
    return day


def _structure_bool(value: Any, _type) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError(f"expected true or false, got {quote(value)}")


def _structure_int(value: Any, _type) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected a whole number, got {quote(value)}")
    return value


def _structure_float(value: Any, _type) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected a number, got {quote(value)}")
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value}")
    return float(value)


def _structure_str(value: Any, _type) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {quote(value)}")
    if has_surrogate(value):
        raise ValueError(f"{quote(value)} holds a lone surrogate (not a character)")
    return value


converter.register_structure_hook(date, _structure_date)
converter.register_unstructure_hook(date, lambda d: d.isoformat())
converter.register_structure_hook(bool, _structure_bool)
converter.register_structure_hook(int, _structure_int)
converter.register_structure_hook(str, _structure_str)
converter.register_structure_hook(float, _structure_float)


def _describe(exc: BaseException, type_) -> str:
    if isinstance(exc, KeyError):
        return "required field missing"
    if isinstance(exc, ForbiddenExtraKeysError):
        return f"unknown attribute {quote(min(exc.extra_fields, key=quote))}"
    text = str(exc)
    if " not in literal " in text:
        allowed = [a for arg in typing.get_args(type_) for a in (typing.get_args(arg) or [arg]) if a is not type(None)]
        return f"{quote(text.split(' not in literal ')[0])} is not one of: {', '.join(map(str, allowed))}"
    if isinstance(exc, ValueError) and text:
        return text
    return cattrs.v.format_exception(exc, type_)


def one_line(text: str, limit: int = 500) -> str:
    """``text`` as one line of at most ``limit`` characters (the last resort
    after each message quotes values with :func:`~cinflow.errors.quote`)."""
    text = " ".join(text[: limit * 2].split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _first_error_line(exc: BaseException, where: str) -> str:
    lines = cattrs.transform_error(exc, path=where, format_exception=_describe)
    line = lines[0]
    # cattrs says "... @ $.events[2].date"; lead with the path, it names the culprit.
    if " @ " in line:
        message, path = line.rsplit(" @ ", 1)
        return one_line(f"{path}: {message}")
    return one_line(line)


def structure(data: Any, cls: type, where: str = "$"):
    """Structure ``data`` into ``cls`` or raise :class:`InputError` with one line."""
    fields = getattr(cls, "__attrs_attrs__", None)
    if fields is not None and not isinstance(data, dict):
        raise InputError(f"{where}: expected a mapping of {', '.join(a.name for a in fields)}, got {quote(data)}")
    if fields is not None:
        known = [a.name for a in fields]
        unknown = sorted((k for k in data if k not in known), key=quote)
        if unknown:
            what = getattr(cls, "event", None) or cls.__name__.lower()
            raise InputError(f"{where}: unknown attribute {quote(unknown[0])} for {what} (known: {', '.join(known)})")
    try:
        return converter.structure(data, cls)
    except (ClassValidationError, ForbiddenExtraKeysError) as exc:
        raise InputError(_first_error_line(exc, where)) from None
    except (ValueError, TypeError, KeyError) as exc:
        raise InputError(one_line(f"{where}: {exc}")) from None


def unstructure(obj: Any) -> Any:
    return converter.unstructure(obj)


def structure_event(data: Any, where: str = "event"):
    """A mapping ``{date, event, ...attributes}`` to an event record."""
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a mapping with 'date' and 'event', got {type(data).__name__}")
    name = data.get("event")
    if name is None:
        raise InputError(f"{where}: missing 'event'")
    cls = EVENT_TYPES.get(name) if isinstance(name, str) and name in SUBMITTABLE_EVENTS else None
    if cls is None:
        raise InputError(f"{where}.event: unknown event {quote(name)} (known: {', '.join(SUBMITTABLE_EVENTS)})")
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


class _Limits:
    """Composition (YAML text to a tree of nodes, before any Python value is
    made) with the input limits checked as each node arrives: nesting depth,
    the number of values with aliases expanded (an alias is a word of text but
    a copy of all it names: a "billion laughs" bomb is ten lines), lone
    surrogates, and any alias or anchor at all in a file that refuses them."""

    # The kind of file that refuses aliases and anchors (named in the message); None: bounded only.
    no_aliases: str | None = None

    def __init__(self):
        self._depth = self._values = 0
        self._aliased = False
        self._open: set = set()  # anchors of the collections being composed
        self._sizes: dict = {}  # id(node) -> (values, height), for aliased nodes

    def compose_node(self, parent, index):
        event = self.peek_event()
        line = event.start_mark.line + 1
        alias, anchor = isinstance(event, yaml.AliasEvent), event.anchor
        if anchor is not None:
            name = anchor if len(anchor) <= 40 else anchor[:39] + "…"
            if self.no_aliases:
                kind, sign = ("aliases", "*") if alias else ("anchors", "&")
                raise InputError(f"line {line}: YAML {kind} ({sign}{name}) are not allowed in {self.no_aliases}")
            if alias and anchor in self._open:
                raise InputError(f"line {line}: YAML alias *{name} is inside the collection it names")
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise InputError(f"line {line}: nested more than {MAX_DEPTH} levels deep")
        opens = anchor is not None and not alias
        if opens:
            self._open.add(anchor)
        node = super().compose_node(parent, index)
        if opens:
            self._open.discard(anchor)
        if alias:
            self._aliased = True
            size, height = self._measure(node)
            if self._depth + height - 1 > MAX_DEPTH:
                raise InputError(f"line {line}: nested more than {MAX_DEPTH} levels deep (aliases expanded)")
            self._values += size
        else:
            self._values += 1
            if isinstance(node, ScalarNode) and has_surrogate(node.value):
                raise InputError(f"line {line}: {quote(node.value)} holds a lone surrogate (not a character)")
        if self._values > MAX_VALUES:
            raise InputError(f"line {line}: more than {MAX_VALUES:,} values"
                             + (" (aliases expanded)" if self._aliased else ""))
        self._depth -= 1
        return node

    def _measure(self, node) -> tuple[int, int]:
        """The values in ``node`` (aliases expanded) and its nesting height."""
        got = self._sizes.get(id(node))
        if got is None:
            if isinstance(node, ScalarNode):
                got = (1, 1)
            else:
                children = [n for pair in node.value for n in pair] if isinstance(node, MappingNode) else node.value
                parts = [self._measure(child) for child in children]
                got = (1 + sum(p[0] for p in parts), 1 + max((p[1] for p in parts), default=0))
            self._sizes[id(node)] = got
        return got


try:  # libyaml parses four times faster; composing stays in Python, so _Limits sees every node
    from yaml.cyaml import CParser as _CParser
except ImportError:  # pragma: no cover (PyYAML built without libyaml)
    _CParser = None

if _CParser is not None:
    class _Base(_Limits, Composer, _CParser, SafeConstructor, Resolver):
        def __init__(self, stream):
            _CParser.__init__(self, stream)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)
            _Limits.__init__(self)
else:  # pragma: no cover
    class _Base(_Limits, yaml.SafeLoader):
        def __init__(self, stream):
            yaml.SafeLoader.__init__(self, stream)
            _Limits.__init__(self)


class StrictLoader(_Base):
    """YAML with dates kept as strings (the converter checks them, an explicit
    ``!!timestamp`` included), duplicate keys rejected, keys plain values,
    numbers of at most MAX_DIGITS characters, and the limits of :class:`_Limits`."""


StrictLoader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _mapping_no_duplicates(loader: StrictLoader, node: yaml.MappingNode):
    seen = set()
    for key_node, _ in node.value:
        if not isinstance(key_node, ScalarNode):
            what = "mapping" if isinstance(key_node, MappingNode) else "list"
            raise InputError(f"line {key_node.start_mark.line + 1}: a key must be a plain value, not a {what}")
        key = loader.construct_object(key_node)
        if key in seen:
            raise InputError(f"line {key_node.start_mark.line + 1}: duplicate key {quote(key)}")
        seen.add(key)
    return loader.construct_mapping(node)


def _number(construct, what: str):
    def construct_number(loader: StrictLoader, node):
        line = node.start_mark.line + 1
        if isinstance(node, ScalarNode) and len(node.value) > MAX_DIGITS:
            raise InputError(f"line {line}: a number of more than {MAX_DIGITS} characters")
        try:
            return construct(loader, node)
        except ValueError:
            raise InputError(f"line {line}: {quote(node.value)} is not {what}") from None
    return construct_number


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_no_duplicates)
StrictLoader.add_constructor("tag:yaml.org,2002:int", _number(SafeConstructor.construct_yaml_int, "a whole number"))
StrictLoader.add_constructor("tag:yaml.org,2002:float", _number(SafeConstructor.construct_yaml_float, "a number"))
StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", SafeConstructor.construct_scalar)


def load_yaml(text: str, where: str, no_aliases: str | None = None) -> Any:
    """The one document in ``text`` (read from ``where``, which errors name),
    within the input limits; ``no_aliases``: the kind of file this is, when
    it refuses YAML aliases and anchors outright (scenario files do)."""
    if len(text) > MAX_BYTES:
        raise InputError(f"{where}: over {MAX_BYTES:,} characters, the limit for an input file")
    loader = StrictLoader(text)
    loader.no_aliases = no_aliases
    try:
        return loader.get_single_data()
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f": line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(one_line(f"{where}{at}: not valid YAML ({problem})")) from None
    except (ValueError, TypeError, OverflowError) as exc:  # a constructor's own complaint (e.g. bad base64)
        raise InputError(one_line(f"{where}: not valid YAML ({exc})")) from None
    finally:
        loader.dispose()


def read_input(path: Path, limit: int = MAX_BYTES) -> str:
    """The text of a file the user named, or one line saying why not: missing,
    unreadable, not UTF-8, or over ``limit`` bytes (read no further)."""
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.__class__.__name__})") from None
    if len(data) > limit:
        raise InputError(f"{path}: over {limit:,} bytes, the limit for an input file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: cannot read (UnicodeDecodeError)") from None
