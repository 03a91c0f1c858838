"""cinflow: a council's Child in Need procedure, run as code.

>>> import cinflow
>>> policies = cinflow.Registry.load()
>>> kent = policies["kent"]

See README.md for the embedding walk-through.
"""

from .hookspecs import hookimpl, hookspec

__version__ = "0.1.0"

from .errors import CinflowError, ConflictError, EventOrderError, InputError, PluginError, StoreError, UnknownPolicyError  # noqa: E402
from .models import Case, Child, Deadline, HistoryItem, Reason  # noqa: E402
from .plugins import Registry  # noqa: E402


def event(name: str, date, **attributes):
    """Build a checked event: ``cinflow.event("visit", "2026-03-02", seen_alone=True)``."""
    from .convert import structure_event

    return structure_event({"event": name, "date": date if isinstance(date, str) else date.isoformat(), **attributes}, name)


__all__ = [
    "hookimpl", "hookspec", "event", "Registry", "Case", "Child", "Deadline", "HistoryItem", "Reason",
    "CinflowError", "ConflictError", "EventOrderError", "InputError", "PluginError", "StoreError", "UnknownPolicyError",
]
