"""Errors a user can cause, each with a one-line message.  The CLI prints them
without a traceback and exits 2."""

import reprlib

# How much of a value an error message quotes: enough to recognise it, never a
# whole file (a message is one line, whatever the input).
QUOTE_LIMIT = 60


class _Short(reprlib.Repr):
    def __init__(self):
        super().__init__()
        self.maxlevel, self.maxstring, self.maxother, self.maxlong = 3, QUOTE_LIMIT, QUOTE_LIMIT, QUOTE_LIMIT
        self.maxlist = self.maxtuple = self.maxdict = self.maxset = self.maxfrozenset = self.maxdeque = 6

    def repr_int(self, x, level):
        # repr() of an int past 4,300 digits raises; say how big it is instead.
        return super().repr_int(x, level) if x.bit_length() < 1000 else f"<a number of about {x.bit_length() * 3 // 10:,} digits>"

    def repr_bytes(self, x, level):
        return self.repr_str(x[: self.maxstring + 1], level)


_SHORT = _Short()


def quote(value, limit: int = QUOTE_LIMIT) -> str:
    """``repr(value)`` in at most ``limit`` characters ("…" marks a cut), made
    without building the whole repr (an input can be megabytes)."""
    text = repr(value[: limit + 1]) if isinstance(value, str) else _SHORT.repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class CinflowError(Exception):
    """Base for every error cinflow raises on purpose."""


def write_output(path, text: str) -> None:
    """Write a file the user named (``-``: standard output) through
    :mod:`cinflow.output`: atomically, never over a database, and a path that
    cannot be written is one line, not a traceback."""
    from .output import write_output as write

    write(path, text)


class InputError(CinflowError):
    """Malformed input: a scenario, an event, a policy file."""


class UnknownPolicyError(CinflowError):
    def __init__(self, policy_id: str, known):
        self.policy_id = policy_id
        super().__init__(f"unknown authority {quote(policy_id)} (known: {', '.join(sorted(known))})")


class PluginError(CinflowError):
    """A policy plugin is broken: duplicate id, misspelt hook, bad rule, a
    hook that raised.  The CLI exits 1 for these (2 is for the user's input)."""


class EventOrderError(InputError):
    """An event dated before the case's last event."""


class ConflictError(CinflowError):
    """Another writer changed the case since the version this write expected."""


class StoreError(CinflowError):
    """The database cannot do what was asked (missing case, duplicate id...)."""
