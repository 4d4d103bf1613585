"""Whose database a file is, and what becomes of one that cannot be read.

cooplog's database is derived from the files: it may be emptied and rebuilt at will, but only
when it is cooplog's. A file is cooplog's when it carries cooplog's application id, or, made
by a cooplog from before the id, has cooplog's own tables (`_files` and `events`); an absent
or empty file (no bytes, or no tables) may be claimed. Any other SQLite file belongs to
another application: it is refused and left untouched, byte for byte.

A file SQLite cannot read at all ("file is not a database", "database disk image is
malformed") is nobody's data any more. At the default path (`<root>/.cooplog/cooplog.db`,
where only cooplog writes) it is cooplog's and is set aside, renamed beside itself with its
-wal and -shm, and rebuilt. At a path given with --db it is set aside only if its header
still carries cooplog's application id; anything else there is refused, untouched: it may be
another program's file that is not SQLite at all.

Which file a path names (device and inode) tells the watcher and the site that the database
was deleted or replaced under them.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from contextlib import closing
from pathlib import Path

from .errors import USAGE, CooplogError
from .store import default_db

log = logging.getLogger("cooplog.database")

# PRAGMA application_id of every database cooplog makes: "coop" in ASCII (0x636F6F70), kept
# in bytes 68-71 of the SQLite header, where `file` and other tools read it too.
APPLICATION_ID = 0x636F6F70
# What a database made by a cooplog from before the application id has (then marked in
# place: it is derived, and rebuilt if its shape differs).
LEGACY_TABLES = {"_files", "events"}
MAGIC = b"SQLite format 3\x00"
SIDE_FILES = ("-wal", "-shm")  # what SQLite keeps beside a database in WAL mode
DAMAGE_CODES = {getattr(sqlite3, "SQLITE_CORRUPT", 11), getattr(sqlite3, "SQLITE_NOTADB", 26)}
DAMAGE_MESSAGES = ("file is not a database", "database disk image is malformed")


def is_damage(error: BaseException) -> bool:
    """Whether SQLite says the file itself is broken (not busy, not missing)."""
    if not isinstance(error, sqlite3.DatabaseError):
        return False
    code = getattr(error, "sqlite_errorcode", None)  # Python 3.11 and later
    if code is not None:
        return code in DAMAGE_CODES
    return str(error).startswith(DAMAGE_MESSAGES)


def claim(root: Path | str, db: Path | str | None, *, by_header: bool = False) -> Path:
    """The database path for the log at `root` (`db`, else the default), checked before
    anything writes to it: another application's file is refused (exit 2) and left as it
    is; an unreadable one of ours is set aside, so that the caller builds a new one.
    `by_header`: a file whose header is marked as ours is taken as ours unopened, and any
    other is read as immutable (the caller builds over it and must not open it beside a
    -wal or -shm that may not be its own)."""
    default = default_db(root)
    path = Path(db) if db else default
    at_default = path.resolve() == default.resolve()
    try:
        if path.stat().st_size == 0:
            return path
    except FileNotFoundError:
        return path
    try:
        ours = _ours(path, by_header)
    except (OSError, sqlite3.Error) as e:
        if not is_damage(e):
            raise CooplogError(f"{path}: cannot be read as a database "
                               f"({getattr(e, 'strerror', None) or e}): pass another --db",
                               exit_code=USAGE) from None
        if at_default or marked(path):
            set_aside(path, e)
            return path
        raise CooplogError(
            f"{path}: not a database cooplog can read ({e}), and not marked as cooplog's: "
            "it is left as it is; pass another --db", exit_code=USAGE) from None
    if not ours:
        raise CooplogError(
            f"{path}: another application's SQLite database (cooplog writes only to a "
            "database it made): it is left as it is; pass another --db", exit_code=USAGE)
    return path


def _ours(path: Path, by_header: bool = False) -> bool:
    """Whether SQLite reads the file as cooplog's (or as empty, for cooplog to take)."""
    header = _header(path)
    if header[:16] != MAGIC:
        raise sqlite3.DatabaseError("file is not a database")
    if by_header and marked(path, header):
        return True
    # Another application's file without a write-ahead log in use is the whole database:
    # read as immutable, SQLite creates no -wal or -shm beside it. Ours may be being written
    # (a watcher): read as SQLite reads beside a writer.
    wal = Path(f"{path}-wal")
    live = not by_header and (marked(path, header) or (wal.exists() and wal.stat().st_size > 0))
    uri = f"{path.resolve().as_uri()}?{'mode=ro' if live else 'immutable=1'}"
    with closing(sqlite3.connect(uri, uri=True, timeout=10)) as conn:
        application_id = conn.execute("pragma application_id").fetchone()[0]
        tables = {name for (name,) in conn.execute(
            "select name from sqlite_master where type = 'table'")}
    if application_id == APPLICATION_ID:
        return True
    return application_id == 0 and (not tables or LEGACY_TABLES <= tables)


def _header(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(100)
    except FileNotFoundError:
        return b""


def marked(path: Path, header: bytes | None = None) -> bool:
    """Whether the file's SQLite header, readable where the rest is not, is cooplog's."""
    header = _header(path) if header is None else header
    return header[:16] == MAGIC and int.from_bytes(header[68:72], "big") == APPLICATION_ID


def set_aside(path: Path, why: BaseException | str) -> Path:
    """Rename an unreadable database beside itself (`cooplog.db.corrupt-<UTC time>`), its
    -wal and -shm with it, and say so in one line: it may be looked at, never lost."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    os.rename(path, aside)
    for suffix in SIDE_FILES:
        if os.path.lexists(f"{path}{suffix}"):
            os.rename(f"{path}{suffix}", f"{aside}{suffix}")
    log.warning("cooplog: %s cannot be read (%s): set aside as %s; a new one is built from "
                "the files", path, why, aside)
    return aside


def identity(path: Path | str) -> tuple[int, int] | None:
    """(device, inode) of the file at `path`, None if there is none: a file deleted or
    renamed over keeps serving the connections that have it open, under another identity
    than what the path now names."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return None
    return status.st_dev, status.st_ino


def identities(path: Path | str) -> dict[str, tuple[int, int] | None]:
    """The identities of the database and of its -wal and -shm, by suffix."""
    return {suffix: identity(f"{path}{suffix}") for suffix in ("", *SIDE_FILES)}


def discard_stale(path: Path | str, recorded: dict[str, tuple[int, int] | None]) -> None:
    """Remove the -wal and -shm that belonged to a database deleted or replaced since
    `recorded`: SQLite would read them as the journal of whatever file takes its path."""
    for suffix in SIDE_FILES:
        if recorded.get(suffix) is not None and identity(f"{path}{suffix}") == recorded[suffix]:
            os.unlink(f"{path}{suffix}")
