"""The event files: where each one lives, how it is written (atomically, never over another)
and how the log is read back in a stable order."""

from __future__ import annotations

import os
import re
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec

from . import events
from .errors import CooplogError, Problem

EVENTS = "events"
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LAYOUT = re.compile(r"events/(\d{4})/(\d{2})/([^/]+)\.json")
# An event is a few kilobytes; a file larger than this is a problem, named without reading it
# (so that no file can stall the watcher or fill the memory).
MAX_EVENT_BYTES = 1_000_000


_AS_BASE32 = str.maketrans(CROCKFORD, "0123456789abcdefghijklmnopqrstuv")


def ulid_month(event_id: str) -> tuple[str, str]:
    """The UTC year and month a ULID was minted in (its first 48 bits are milliseconds)."""
    when = time.gmtime(int(event_id[:10].translate(_AS_BASE32), 32) // 1000)
    return f"{when.tm_year:04d}", f"{when.tm_mon:02d}"


class Store:
    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.events_dir = self.root / EVENTS
        self._prefix = "" if str(self.root) == "." else str(self.root).rstrip("/") + "/"

    def path_for(self, event_id: str) -> Path:
        year, month = ulid_month(event_id)
        return self.events_dir / year / month / f"{event_id}.json"

    def relpath(self, path: Path) -> str:
        name = os.fspath(path)
        if name.startswith(self._prefix) and os.sep == "/":  # every path from files()
            return name[len(self._prefix):]
        return Path(os.path.relpath(path, self.root)).as_posix()

    def files(self) -> Iterator[Path]:
        """Every `*.json` file under events/, in path order (so in id order where the layout
        is kept); misplaced ones included, so that checks can name them."""
        yield from (Path(entry.path) for entry in self.entries())

    def entries(self, skip: frozenset[str] | set[str] = frozenset()) -> Iterator[os.DirEntry]:
        """The same files as directory entries, whose `lstat` is one call and which need no
        Path each: catch-up compares every file of the log with its record. The folders in
        `skip` (relative, with a final slash: `events/2020/01/`) are not listed."""
        if self.events_dir.is_dir():
            yield from _walk(self.events_dir, {self._prefix + folder for folder in skip})

    def read(self, path: Path) -> events.Event:
        """The event in a file, or `events.Invalid` naming what is wrong with it."""
        status = path.lstat()
        return self.parse(path, contents(path, status), status.st_mode)

    def events_of(self, prefixes: tuple[str, ...]) -> dict[str, events.Event]:
        """The valid events whose type starts with one of `prefixes`, by id (the first file
        of an id wins, as in `validate`), for commands that need only some types: any other
        file costs a look at its `type` alone. Files that are not events are `validate`'s
        business."""
        found: dict[str, events.Event] = {}
        for entry in self.entries():
            try:
                status = entry.stat(follow_symlinks=False)
                raw = contents(entry.path, status)
                if not _TYPE.decode(raw).type.startswith(prefixes):
                    continue
                event = self.parse(Path(entry.path), raw, status.st_mode)
            except (msgspec.DecodeError, events.Invalid, OSError):
                continue
            found.setdefault(event.id, event)
        return found

    def holds(self, event_id: str) -> bool:
        """Whether the file where this id belongs is a valid event with it."""
        try:
            return self.read(self.path_for(event_id)).id == event_id
        except (events.Invalid, OSError, ValueError):  # ValueError: not a ULID at all
            return False

    def parse(self, path: Path, raw: bytes, mode: int) -> events.Event:
        """The event in the bytes read from `path`, whose kind (`mode`, from lstat) and place
        are checked too."""
        if stat.S_ISLNK(mode):
            raise events.Invalid([("", "a symbolic link, not an event file: remove it")])
        if stat.S_ISDIR(mode) and not os.fspath(path).endswith(".json"):  # see _walk
            raise events.Invalid([("", "a folder that cannot be read: check its permissions")])
        if stat.S_ISDIR(mode):
            raise events.Invalid([("", "a folder named like an event file: rename it")])
        if not stat.S_ISREG(mode):
            raise events.Invalid([("", "not a regular file (a pipe, socket or device): "
                                       "remove it")])
        event = events.parse(raw)
        problems = self.placement_problems(path, event.id)
        if problems:
            raise events.Invalid(problems)
        return event

    def placement_problems(self, path: Path, event_id: str) -> list[tuple[str, str]]:
        """Only one file can sit where an id belongs, so a duplicate id shows up here."""
        year, month = ulid_month(event_id)
        if self.relpath(path) == f"{EVENTS}/{year}/{month}/{event_id}.json":
            return []
        path, expected = Path(path), self.path_for(event_id)
        if expected.exists():
            return [("id", f"duplicate: {self.relpath(expected)} has this id: "
                           "remove this copy")]
        if path.stem != event_id:
            return [("id", f"the file is named {path.name} but holds id {event_id}: "
                           f"an event lives in {event_id}.json")]
        match = LAYOUT.fullmatch(self.relpath(path))
        expected = self.relpath(self.path_for(event_id))
        if not match or self.relpath(path) != expected:
            return [("id", f"misplaced: an event with this id belongs at {expected}")]
        return []

    def problem(self, path: Path, invalid: events.Invalid) -> list[Problem]:
        return invalid.at(self.relpath(path))

    def write(self, event: events.Event) -> Path:
        """Write a new event file atomically; an existing file is never replaced."""
        path = self.path_for(event.id)
        path.parent.mkdir(parents=True, exist_ok=True)
        # os.urandom, not secrets: that loads hashlib and OpenSSL (3 ms of `add`'s start-up)
        temporary = path.parent / f".{event.id}.{os.urandom(4).hex()}.tmp"
        try:
            with open(temporary, "xb") as f:
                f.write(events.encode(event))
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(temporary, path)  # unlike rename, fails rather than replace
            except FileExistsError:
                raise CooplogError(
                    f"{self.relpath(path)}: id: already exists; nothing was written"
                ) from None
        finally:
            temporary.unlink(missing_ok=True)
        _fsync_dir(path.parent)
        return path


def default_db(root: Path | str) -> Path:
    """Where the log's database lives unless `--db` says otherwise (git-ignored)."""
    return Path(root) / ".cooplog" / "cooplog.db"


def read_only(db: Path | str, timeout: float = 5.0, **options):
    """A connection that can only read the database, for what looks things up in it without
    importing the projection (sqlite3 is imported only then: `add` starts without it)."""
    import sqlite3

    return sqlite3.connect(f"{Path(db).resolve().as_uri()}?mode=ro", uri=True, timeout=timeout,
                           **options)


class _Type(msgspec.Struct):
    type: str = ""


_TYPE = msgspec.json.Decoder(_Type)


def contents(path: Path | str, status: os.stat_result) -> bytes:
    """The bytes of a regular file (`status` from lstat), b"" for anything else (`parse` says
    what it is); Invalid, unread, if it is larger than any event."""
    if not stat.S_ISREG(status.st_mode):
        return b""
    if status.st_size > MAX_EVENT_BYTES:
        raise too_large(status.st_size)
    # Asked for as many bytes as lstat counted (and one more, to see growth), not for the
    # limit: a read of n bytes allocates n first, and a megabyte per file cost more than
    # all the rest of reading it. A file that grew meanwhile is read on, up to the limit.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a pipe put there since: no hang
    try:
        raw = os.read(fd, status.st_size + 1)
        if len(raw) > status.st_size:
            raw += os.read(fd, MAX_EVENT_BYTES + 1 - len(raw))
    finally:
        os.close(fd)
    return raw


def too_large(size: int) -> events.Invalid:
    return events.Invalid([("", f"too large for an event ({size:,} bytes; at most "
                                f"{MAX_EVENT_BYTES:,}): an event is a few kilobytes of JSON: "
                                "cite long documents by symbol or url")])


def _walk(folder: Path | str, skip: set[str]) -> Iterator[os.DirEntry]:
    with os.scandir(folder) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        if entry.name.endswith(".json"):
            yield entry
        elif entry.is_dir(follow_symlinks=False):
            if skip and entry.path + "/" in skip:
                continue
            try:
                yield from _walk(entry.path, skip)
            except PermissionError:
                yield entry  # a folder that cannot be listed: its files are not lost silently


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
