"""Every file cinflow writes goes through here, so no output ever costs data.

A file is written to a temporary file in the same folder, flushed and synced,
then renamed over its target in one step (``os.replace``) and the folder
synced where the platform allows.  If anything fails (a full disk, no
permission), the old file is left exactly as it was, the temporary file is
removed, and the user gets one line (:class:`~cinflow.errors.InputError`).

``-`` means standard output.  A target that is the database being read, or
any SQLite file, is refused before anything runs (:func:`check_target`) and
again just before writing.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from .errors import InputError

SQLITE_MAGIC = b"SQLite format 3\x00"
_SIDECARS = ("-wal", "-shm", "-journal")


def is_stdout(path) -> bool:
    return path is not None and str(path) == "-"


def is_sqlite(path) -> bool:
    """Whether ``path`` is an existing file that starts like a SQLite database."""
    try:
        with open(path, "rb") as f:
            return f.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError:
        return False


def _same_file(a: Path, b: Path) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_target(path, db=None) -> None:
    """Refuse, in one line, to write over the database ``db`` (or its journal
    files) or over any SQLite file."""
    if is_stdout(path):
        return
    path = Path(path)
    if db is not None and not is_stdout(db) and not str(db).startswith(("postgresql://", "postgres://")):
        db = Path(db)
        if _same_file(path, db):
            raise InputError(f"{path} is the database being read ({db}); choose another file (nothing was written)")
        if any(_same_file(path, db.with_name(db.name + s)) for s in _SIDECARS):
            raise InputError(f"{path} is a journal file of the database {db}; choose another file (nothing was written)")
    if is_sqlite(path):
        raise InputError(f"{path} is a SQLite database; cinflow never writes over one (nothing was written)")
    for suffix in _SIDECARS:
        if path.name.endswith(suffix) and len(path.name) > len(suffix):
            base = path.with_name(path.name[: -len(suffix)])
            if base.exists() or path.exists():
                raise InputError(f"{path} is a SQLite journal file (of {base.name}); cinflow never writes over one "
                                 "(nothing was written)")


def _mode_for(target: Path) -> int:
    """The existing file's permissions, else what ``open`` would give a new one."""
    try:
        return os.stat(target).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _sync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some platforms and filesystems cannot sync a folder
    finally:
        os.close(fd)


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc) or exc.__class__.__name__


def _stage(target: Path, data: bytes) -> str:
    """Write ``data`` to a synced temporary file beside ``target``; return its name."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            if hasattr(os, "fchmod"):  # mkstemp makes 0600; keep the target's (or the usual) permissions
                os.fchmod(f.fileno(), _mode_for(target))
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        _remove(tmp)
        raise
    return tmp


def _remove(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except OSError:
        pass


def _target(path) -> Path:
    path = Path(path)
    # Write through a symbolic link (as open() would) rather than replacing the link.
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def write_outputs(files: dict) -> list[Path]:
    """Write several files, ``{path: text or bytes}``, all or none: every one
    is staged before any replaces its target."""
    staged: list[tuple[str, Path, Path]] = []
    try:
        for path, content in files.items():
            data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
            if is_stdout(path):
                staged.append(("", Path("-"), Path("-")))
                _stdout(data)
                continue
            target = _target(path)
            check_target(target)
            try:
                staged.append((_stage(target, data), Path(path), target))
            except OSError as exc:
                raise InputError(_failed(path, exc)) from None
        for tmp, path, target in staged:
            if not tmp:
                continue
            try:
                os.replace(tmp, target)
            except OSError as exc:
                raise InputError(_failed(path, exc)) from None
            _sync_dir(target.parent)
    finally:
        for tmp, _, _ in staged:
            if tmp and os.path.exists(tmp):
                _remove(tmp)
    return [p for _, p, _ in staged]


def _failed(path, exc: OSError) -> str:
    kept = "it was left as it was" if os.path.lexists(path) else "nothing was written"
    return f"cannot write {path}: {_why(exc)} ({kept})"


def _stdout(data: bytes) -> None:
    out = sys.stdout
    buffer = getattr(out, "buffer", None)
    out.flush()
    if buffer is not None:
        buffer.write(data)
        buffer.flush()
    else:
        out.write(data.decode("utf-8"))
        out.flush()


def write_output(path, text: str | bytes) -> Path:
    """Write one file the user named (``-``: standard output), atomically."""
    return write_outputs({path: text})[0]
