"""The logs a site is made of (`--log NAME=PATH`, else the log at `--root`) and what each
says of itself in its committed `cooplog.toml` (`visibility`). Every way of naming them
wrongly is refused here, before anything is built, watched or served."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from . import gitops
from .errors import USAGE, CooplogError
from .store import EVENTS, default_db

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SETTINGS_FILE = "cooplog.toml"
VISIBILITIES = ("public", "private")
NAME = re.compile(r"[a-z0-9][a-z0-9-]*")


@dataclass(frozen=True)
class Log:
    """One log of a site: its NAME (the `log` column), its folder and its own database."""

    name: str
    root: Path
    private: bool = False
    db: Path | None = None

    @property
    def db_path(self) -> Path:
        return self.db or default_db(self.root)

    @property
    def visibility(self) -> str:
        return "private" if self.private else "public"


def private(root: Path, warn=None) -> bool:
    """Whether the log is private: its committed `cooplog.toml` (at HEAD) says so, or the
    one in its folder does. Visibility is what the log's repository holds, the file its
    git host shares: an edit not yet committed may make a log private at once, never
    public (that edit is told to `warn`)."""
    path = Path(root) / SETTINGS_FILE
    committed = _committed(Path(root))
    here = None
    if path.exists() or path.is_symlink():
        try:
            here = path.read_bytes()
        except OSError as e:
            raise _bad(path, f"cannot be read ({e.strerror}): make it readable") from None
    in_head = committed is not None and _says_private(committed, f"{path} (as committed)")
    in_folder = here is not None and _says_private(here, str(path))
    if in_head and here is not None and not in_folder and warn:
        warn(f"{path}: visibility = \"public\" is not committed: the log stays private "
             f"until it is (git commit {SETTINGS_FILE})")
    return in_head or in_folder


def _committed(root: Path) -> bytes | None:
    """The log's `cooplog.toml` as committed at HEAD; None when there is none (no git
    repository, no commit, or no such file in it)."""
    if not gitops.is_repository(root):
        return None
    listed = gitops.run(root, "ls-tree", "--name-only", "HEAD", "--", SETTINGS_FILE,
                        check=False)
    if listed.returncode != 0 or not listed.stdout.strip():
        return None
    return gitops.raw(root, "cat-file", "blob", f"HEAD:./{SETTINGS_FILE}")


def _says_private(content: bytes, where: str) -> bool:
    try:
        settings = tomllib.loads(content.decode("utf-8"))
    except UnicodeDecodeError:
        raise _bad(where, "not UTF-8 text: save it as UTF-8") from None
    except tomllib.TOMLDecodeError as e:
        raise _bad(where, f"not valid TOML ({e}): correct it") from None
    unknown = sorted(set(settings) - {"visibility"})
    if unknown:
        raise _bad(where, f"{unknown[0]}: unknown setting: cooplog.toml may say only "
                          "visibility = \"public\" or \"private\"")
    visibility = settings.get("visibility", "public")
    if visibility not in VISIBILITIES:
        raise _bad(where, f"visibility: {visibility!r} is neither \"public\" nor \"private\": "
                          "write one of them")
    return visibility == "private"


def chosen(specs: list[str], root: Path, db: Path | None = None, *,
           public: bool = False, warn=None) -> list[Log]:
    """The logs `--log NAME=PATH ...` names (none: the log at `root`, with `db`), each
    checked, in the order given. `public` leaves the private ones out, each told to `warn`;
    a choice that leaves nothing is refused."""
    if not specs:
        root = Path(root)
        logs = [Log(_name_of(root), root, _checked(root, "--root", warn), db)]
    else:
        if db is not None:
            raise CooplogError("--db and --log: each log keeps its own database "
                               "(<log>/.cooplog/cooplog.db); leave out --db", exit_code=USAGE)
        logs = []
        for spec in specs:
            name, sep, path = spec.partition("=")
            if not sep or not name or not path:
                raise CooplogError(f"--log {spec}: write it as NAME=PATH, e.g. "
                                   "--log basel=../basel", exit_code=USAGE)
            if not NAME.fullmatch(name):
                raise CooplogError(f"--log {spec}: the name {name!r} must be lower-case "
                                   "letters, digits and dashes, e.g. basel", exit_code=USAGE)
            if any(log.name == name for log in logs):
                raise CooplogError(f"--log {spec}: two logs named {name!r}: give each log "
                                   "a name of its own", exit_code=USAGE)
            folder = Path(path)
            same = next((log for log in logs if _same(log.root, folder)), None)
            if same:
                raise CooplogError(f"--log {spec}: the same folder as --log {same.name}: "
                                   "name each log once", exit_code=USAGE)
            logs.append(Log(name, folder, _checked(folder, f"--log {spec}", warn)))
    if not public:
        return logs
    kept = [log for log in logs if not log.private]
    if not kept:
        which = ", ".join(f"{log.name} ({log.root})" for log in logs)
        raise CooplogError(f"--public: the log(s) asked for are private ({which}: "
                           f"{SETTINGS_FILE} says visibility = \"private\"): name a public "
                           "log, or leave out --public for a site kept to this machine",
                           exit_code=USAGE)
    for log in logs:
        if log.private and warn:
            warn(f"--log {log.name}: left out: private ({log.root / SETTINGS_FILE})")
    return kept


def _checked(root: Path, option: str, warn=None) -> bool:
    """Whether the log at `root` is private, once it is known to be a log."""
    if not root.is_dir():
        raise CooplogError(f"{option}: {root}: no such folder: give the folder of a log "
                           "(a git repository with events/)", exit_code=USAGE)
    if not (root / EVENTS).is_dir():
        raise CooplogError(f"{option}: {root}: not a log (it has no {EVENTS}/ folder): give "
                           "a log's folder, or make one with `cooplog init`", exit_code=USAGE)
    return private(root, warn)


def _name_of(root: Path) -> str:
    """The `log` column of the one log served without --log: its folder's name, as a key."""
    name = re.sub(r"[^a-z0-9-]+", "-", root.resolve().name.lower()).strip("-")
    return name if NAME.fullmatch(name) else "log"


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _bad(path: Path | str, message: str) -> CooplogError:
    return CooplogError(f"{path}: {message}", exit_code=USAGE)
