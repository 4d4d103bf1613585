"""What a log may add to its published site, and what it may not.

A log arrives from other offices by `cooplog sync`: what it holds is someone else's commit.
It may describe itself (its metadata.yml) and bring templates and static files, which are
looked up before cooplog's own. It never brings Python, access rules, plugin configuration,
settings or a write query: those stay cooplog's, so that no log can remove the guard or
open the database to writes. Whatever is left out is named, one line per item, for `serve`
to print when it starts."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml
from jinja2 import ChoiceLoader, FileSystemLoader, TemplateNotFound
from jinja2.sandbox import SandboxedEnvironment

from .errors import CooplogError


def site() -> Path:
    """Where cooplog's own site is (metadata.yml and datasette/: plugins, templates, static):
    inside the package, where a wheel carries it (setup.py copies it there, as `_site/`),
    else at the top of the source tree that an editable install runs from, where it is
    edited and where a change shows without installing again."""
    package = Path(__file__).resolve().parent
    return package / "_site" if (package / "_site").is_dir() else package.parents[1]


COOPLOG = site()
PLUGINS = COOPLOG / "datasette" / "plugins"
TEMPLATES = COOPLOG / "datasette" / "templates"
METADATA = COOPLOG / "metadata.yml"

READ_ONLY = "the published log is read-only"
# metadata keys that grant or configure rather than describe, at any level
COOPLOG_ALONE = {
    "permissions": f"access rules are cooplog's alone ({READ_ONLY})",
    "plugins": "plugin configuration is cooplog's alone",
    "settings": "Datasette settings are cooplog's alone",
}
# what the log's own datasette/ folder may hold; the rest is named and left out
KEPT_FOLDERS = ("templates", "static")


@dataclass
class LogAssets:
    """The log's additions that `serve` publishes, and what it left out."""

    metadata: dict = field(default_factory=dict)
    templates: Path | None = None
    static: Path | None = None
    ignored: list[str] = field(default_factory=list)


def plugins() -> Path:
    """cooplog's plugins folder, the only Python `serve` loads into Datasette. Serving
    without it would publish the log unguarded, so its absence is refused."""
    if not (PLUGINS / "cooplog_guard.py").is_file():
        raise CooplogError(f"{PLUGINS}: cooplog's Datasette plugins are missing, so the "
                           "log cannot be served read-only: install cooplog again, from a "
                           "wheel built from its full source tree (pip install cooplog-*.whl) "
                           "or from that tree itself (pip install -e DIR)")
    return PLUGINS


def read(root: Path) -> LogAssets:
    """The log's metadata.yml and datasette/ folder, with what a log may not bring left out.
    The repository cooplog runs from is a log too (the sample log): its files are cooplog's
    own, and none of them is the log's."""
    root = Path(root)
    assets = LogAssets()
    if not _is_cooplogs(root / "metadata.yml", METADATA):
        assets.metadata = _metadata(root, "metadata.yml", assets.ignored)
    folder = root / "datasette"
    if folder.is_dir() and not _is_cooplogs(folder, COOPLOG / "datasette"):
        for entry in sorted(folder.iterdir()):
            where = entry.relative_to(root).as_posix()
            if entry.name in KEPT_FOLDERS and entry.is_dir():
                if _inside(entry, root):
                    setattr(assets, entry.name, entry.resolve())
                else:
                    assets.ignored.append(f"{where}: ignored: a link out of the log")
            elif entry.name == "plugins" and entry.is_dir():
                assets.ignored.extend(
                    f"{plugin.relative_to(root).as_posix()}: ignored: serve never runs "
                    "Python from a log, only cooplog's own plugins"
                    for plugin in sorted(entry.iterdir()))
            else:
                assets.ignored.append(f"{where}: ignored: a log's datasette/ folder may hold "
                                      f"only {' and '.join(KEPT_FOLDERS)}")
    return assets


def templates_first(ds, folder: Path) -> None:
    """Have Datasette `ds` look the log's templates up before cooplog's and its own, and
    render every template in a sandbox. A log's template is someone else's code: Jinja left
    open runs Python (`cycler.__init__.__globals__.os`) and reaches the connection that
    writes (`urls.ds.get_database().execute_write(…)`). Done before Datasette makes its
    routes from the templates it finds (`pages/`)."""
    open_env = ds.jinja_env
    sandbox = Sandbox(loader=ChoiceLoader([LogTemplates(folder), open_env.loader]),
                      autoescape=True, enable_async=True)
    sandbox.filters.update(open_env.filters)
    sandbox.tests.update(open_env.tests)
    sandbox.globals.update(open_env.globals)
    ds.jinja_env = sandbox


class Sandbox(SandboxedEnvironment):
    """Jinja's sandbox (no attribute starting with `_`, so no way to a module), and no way
    to what can write: Datasette itself (`urls.ds`), its databases, their connections."""

    def is_safe_attribute(self, obj, attr, value) -> bool:
        writers = _writers()
        return (not isinstance(obj, writers) and not isinstance(value, writers)
                and super().is_safe_attribute(obj, attr, value))


@cache
def _writers() -> tuple[type, ...]:
    from datasette.app import Datasette  # imported by serve only: Datasette is slow to load
    from datasette.database import Database

    return Datasette, Database, sqlite3.Connection, sqlite3.Cursor


class LogTemplates(FileSystemLoader):
    """The log's templates. A template that is a link out of the folder is not one:
    committed to git, it could publish any file the server can read."""

    def __init__(self, folder: Path):
        super().__init__(str(folder))
        self.folder = Path(folder).resolve()

    def get_source(self, environment, template):
        source, filename, uptodate = super().get_source(environment, template)
        if not Path(filename).resolve().is_relative_to(self.folder):
            raise TemplateNotFound(template)
        return source, filename, uptodate


def _metadata(root: Path, name: str, ignored: list[str]) -> dict:
    path = root / name
    if not path.is_file():
        return {}
    if not _inside(path, root):
        ignored.append(f"{name}: ignored: a link out of the log")
        return {}
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise CooplogError(f"{path}: not valid YAML ({_one_line(e)}): correct it, or "
                           "remove it to publish with cooplog's metadata alone") from None

    def mapping(value, where: str) -> dict:
        if not isinstance(value, dict):
            raise CooplogError(f"{path}: {where or 'the file'}: must be a mapping (field: "
                               "value), as in Datasette's metadata: correct it")
        return value

    def kept(value, where: str) -> dict:
        """value without the keys a log may not set, each named in `ignored`."""
        result = {}
        for key, item in mapping(value, where).items():
            why = _refused(str(key))
            if why:
                ignored.append(f"{name}: {where}{'.' if where else ''}{key}: ignored: {why}")
            else:
                result[key] = item
        return result

    def each(value, where: str) -> dict:
        """A mapping of names (databases, tables, queries) to what each may set."""
        return {key: kept(item, f"{where}.{key}")
                for key, item in mapping(value, where).items()}

    metadata = kept(document, "")
    if "databases" in metadata:
        databases = each(metadata["databases"], "databases")
        for db, database in databases.items():
            where = f"databases.{db}"
            if "tables" in database:
                database["tables"] = each(database["tables"], f"{where}.tables")
            if "queries" in database:
                queries = {key: {"sql": q} if isinstance(q, str) else q  # Datasette's short form
                           for key, q in mapping(database["queries"], f"{where}.queries").items()}
                database["queries"] = {}
                for key, query in each(queries, f"{where}.queries").items():
                    if query.get("write"):
                        ignored.append(f"{name}: {where}.queries.{key}: ignored: a write "
                                       f"query ({READ_ONLY})")
                    else:
                        database["queries"][key] = query
        metadata["databases"] = databases
    return metadata


def _refused(key: str) -> str | None:
    """Why a log may not set this metadata key, or None if it may."""
    if key.startswith("allow"):  # allow, allow_sql: who may read, run SQL or write
        return COOPLOG_ALONE["permissions"]
    return COOPLOG_ALONE.get(key)


def _is_cooplogs(path: Path, ours: Path) -> bool:
    return path.exists() and path.resolve() == ours.resolve()


def _inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())
