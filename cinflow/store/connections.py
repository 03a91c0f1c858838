"""One database connection per thread, every one remembered so that
``close()`` reaches them all (shared by the SQLite and PostgreSQL backends)."""

from __future__ import annotations

import threading
from typing import Any, Callable


class ThreadConnections:
    """This thread's connection (and anything opened with it, such as a
    sqlite-utils ``Database``), and the list of every thread's."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._all: list = []
        self._guard = threading.Lock()

    def add(self, conn, **with_it: Any):
        """Make ``conn`` this thread's connection; ``with_it`` are kept beside it."""
        self._local.conn = conn
        for name, value in with_it.items():
            setattr(self._local, name, value)
        with self._guard:
            self._all.append(conn)
        return conn

    def mine(self, name: str = "conn"):
        """This thread's connection (or what was kept beside it), None if none."""
        return getattr(self._local, name, None)

    def forget_mine(self) -> None:
        """Drop this thread's connection (it is broken); the next use opens another."""
        self._local.conn = None

    @property
    def first(self):
        return self._all[0]

    def close_all(self, while_locked: Callable[[], None] | None = None) -> None:
        """Close every thread's connection; ``while_locked`` runs under the
        same lock, so no thread can open a new one halfway."""
        with self._guard:
            conns, self._all = self._all, []
            if while_locked is not None:
                while_locked()
        for conn in conns:
            try:
                conn.close()
            except Exception:  # closing what may already be broken
                pass
        self._local = threading.local()
