"""The lease a running watcher holds on its database: a lock saying that the database is
kept in step with the files. Commands that read the database (`report`, the checks of
`add`) trust it then instead of looking at every file. Its own module, light to import:
`add` must start quickly."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


def _path(db_path: Path) -> Path:
    return Path(f"{db_path}-watcher")


def take(db_path: Path) -> int | None:
    """Hold the lease, from the watcher's first catch-up until it stops (the system drops
    it if the process dies): the file descriptor to close, or None when another watcher of
    the same database holds it."""
    fd = os.open(_path(db_path), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd
    except OSError:
        os.close(fd)
        return None


def kept_in_step(db_path: Path) -> bool:
    """Whether a running watcher keeps this database in step with the files."""
    try:
        fd = os.open(_path(db_path), os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False  # nobody holds it (closing the file lets ours go)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
