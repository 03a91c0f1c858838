"""Errors a user can cause, each with a one-line message.  The CLI prints them
without a traceback and exits 2."""


class CinflowError(Exception):
    """Base for every error cinflow raises on purpose."""


def write_output(path, text: str) -> None:
    """Write a file the user named; a path that cannot be written is one line, not a traceback."""
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None


class InputError(CinflowError):
    """Malformed input: a scenario, an event, a policy file."""


class UnknownPolicyError(CinflowError):
    def __init__(self, policy_id: str, known):
        self.policy_id = policy_id
        super().__init__(f"unknown authority {policy_id!r} (known: {', '.join(sorted(known))})")


class PluginError(CinflowError):
    """A policy plugin is broken: duplicate id, misspelt hook, bad rule."""


class EventOrderError(InputError):
    """An event dated before the case's last event."""


class ConflictError(CinflowError):
    """Another writer changed the case since the version this write expected."""


class StoreError(CinflowError):
    """The database cannot do what was asked (missing case, duplicate id...)."""
