"""The main job: catch up, watch, and publish the database read-only with Datasette."""

from __future__ import annotations

import errno
import gc
import signal
import socket
import threading
from pathlib import Path

import yaml

from . import log_assets
from .store import Store, default_db
from .watch import Watcher

# Read-only and quick: no suggested facets (they dominate page time on a large table), a
# SQL time limit, capped results, nothing to download.
SETTINGS = {
    "sql_time_limit_ms": 1000,
    "max_returned_rows": 1000,
    "suggest_facets": False,
    "allow_download": False,
    "allow_csv_stream": False,  # a CSV export is capped like every other result
    "default_page_size": 50,
    "facet_time_limit_ms": 500,
}

# What cooplog's own metadata.yml says about the sample log it ships with, not about
# cooplog: a log with its own metadata.yml gets none of it.
DESCRIPTIVE = {"title", "description", "description_html", "license", "license_url",
               "source", "source_url"}

# The name the site gives the projection, whatever its file is called (`--db`): metadata.yml
# names it in canned queries, dashboards and links, and the site's addresses stay the same
# when the file moves.
DATABASE = "cooplog"

# The running watcher's status, for the health endpoint (`/-/cooplog.json`).
WATCHER: Watcher | None = None
# Serving several logs (`--log`): each log's watcher by its name, and what keeps the site
# database in step with them (`site_refresh.Refresher`).
WATCHERS: dict[str, Watcher] = {}
REFRESHER = None


def metadata(root: Path, theirs: dict | None = None) -> dict:
    """cooplog's metadata.yml (table descriptions, facets, canned queries) under what the log
    may say of itself (`log_assets.read`: its title, description, licence and source win)."""
    ours = _load(log_assets.METADATA)
    if theirs is None:
        theirs = log_assets.read(root).metadata
    if theirs:  # a log that describes itself: none of the sample log's description
        ours = {k: v for k, v in ours.items() if k not in DESCRIPTIVE}
    return _over(ours, theirs)


def _over(ours: dict, theirs: dict) -> dict:
    """theirs on top of ours, mapping by mapping: a log describing one table or adding one
    query keeps cooplog's others."""
    merged = dict(ours)
    for key, value in theirs.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            value = _over(merged[key], value)
        merged[key] = value
    return merged


def _load(path: Path) -> dict:
    if not path.is_file():
        return {}
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def site_metadata(logs, assets) -> dict:
    """One log: its metadata over cooplog's. Several: cooplog's tables, queries and facets,
    titled with the logs' names (no one log describes the site)."""
    from .site import TABLES

    if len(logs) == 1:
        merged = metadata(logs[0].root, assets[0].metadata)
    else:
        ours = {k: v for k, v in _load(log_assets.METADATA).items() if k not in DESCRIPTIVE}
        merged = {"title": "cooplog: " + ", ".join(log.name for log in logs), **ours}
    # every table of the site filtered by log: a facet on each, before its own
    tables = merged.setdefault("databases", {}).setdefault(DATABASE, {}).setdefault("tables", {})
    for name in ("logs", *TABLES):
        table = tables.setdefault(name, {})
        table["facets"] = ["log", *(f for f in table.get("facets", []) if f != "log")] \
            if name != "logs" else ["visibility"]
        table.setdefault("columns", {})["log"] = "The log it is recorded in (--log NAME)."
    tables["logs"]["description"] = "The logs of this site; a private log's items are confidential."
    return merged


def datasette(root: Path, db_path: Path | None = None, warn=None):
    """A Datasette over the projection, as `serve` runs it (tests use it in-process): the
    database named `cooplog` whatever its file, cooplog's plugins, the log's templates before
    cooplog's, and `warn` told of each thing the log brought that was left out."""
    from datasette.app import Datasette

    db_path = Path(db_path) if db_path else default_db(root)
    log = log_assets.read(root)
    for line in log.ignored if warn else ():
        warn(line)
    ds = Datasette(
        [str(db_path)],
        metadata=metadata(root, log.metadata),
        settings=SETTINGS,
        template_dir=str(log_assets.TEMPLATES),
        plugins_dir=str(log_assets.plugins()),
        static_mounts=[("static", str(log.static))] if log.static else None,
    )
    projection = ds.get_database()  # named after its file
    if projection.name != DATABASE:
        ds.remove_database(projection.name)
        ds.add_database(projection, name=DATABASE)
    if log.templates:
        log_assets.templates_first(ds, log.templates)
    return ds


def serve(root: Path, db_path: Path | None, host: str, port: int, polling: bool = False,
          announce=print) -> None:
    """Run until Ctrl-C; the watcher is stopped and joined on the way out."""

    global WATCHER
    db_path = Path(db_path) if db_path else default_db(root)
    listening = listening_socket(host, port)
    watcher = Watcher(Store(root), db_path, polling=polling)
    try:
        watcher.start()
    except BaseException:
        listening.close()
        raise
    WATCHER = watcher
    try:
        app = datasette(root, db_path,
                        warn=lambda line: announce(f"cooplog: warning: {line}")).app()
        settle()
        announce(f"cooplog: serving {root} at http://{host}:{port}/ (Ctrl-C stops)")
        run_until_stopped(app, listening)
    finally:
        watcher.stop()
        WATCHER = None
        listening.close()


def serve_logs(logs, host: str, port: int, polling: bool = False, announce=print) -> None:
    """Several logs as one site: each log's own watcher and database, and a site database
    (in a folder of its own, made afresh) that follows them. A log whose watcher dies is
    named by the health endpoint; the others go on."""
    import tempfile

    from datasette.app import Datasette

    from .projection import project
    from .site_refresh import Refresher

    global REFRESHER
    listening = listening_socket(host, port)
    watchers: dict[str, Watcher] = {}
    scratch = tempfile.TemporaryDirectory(prefix="cooplog-site-")
    refresher = Refresher(logs, Path(scratch.name) / f"{DATABASE}.db")
    try:
        for log in logs:
            project(log.root, log.db).close()  # checks the folder and claims the database
            watchers[log.name] = Watcher(Store(log.root), log.db_path, polling=polling,
                                         on_change=refresher.wake)
            watchers[log.name].start()
        refresher.start()
        WATCHERS.update(watchers)
        REFRESHER = refresher
        assets = [log_assets.read(log.root) for log in logs]
        for log, found in zip(logs, assets, strict=True):
            for line in found.ignored:
                announce(f"cooplog: warning: {log.name}: {line}")
        ds = Datasette([str(refresher.site_db)], metadata=site_metadata(logs, assets),
                       settings=SETTINGS, template_dir=str(log_assets.TEMPLATES),
                       plugins_dir=str(log_assets.plugins()))
        settle()
        names = ", ".join(f"{log.name} ({log.visibility})" for log in logs)
        announce(f"cooplog: serving {names} at http://{host}:{port}/ (Ctrl-C stops)")
        run_until_stopped(ds.app(), listening)
    finally:
        refresher.stop()
        for watcher in watchers.values():
            watcher.stop()
        WATCHERS.clear()
        REFRESHER = None
        listening.close()
        scratch.cleanup()


def run_until_stopped(app, listening: socket.socket) -> None:
    """Serve until Ctrl-C or SIGTERM. uvicorn re-raises the signal that stopped it once it
    has shut down: Ctrl-C comes back as KeyboardInterrupt, and SIGTERM (a service manager's
    stop) is made to as well, so that both end here cleanly, for the caller to join its
    watchers, and exit 0."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if main else None
    try:
        server.run(sockets=[listening])
    except KeyboardInterrupt:
        pass
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous or signal.SIG_DFL)


def listening_socket(host: str, port: int) -> socket.socket:
    """The server's socket, bound before anything starts or is announced: a port in use is
    one line saying so, not a "serving" line followed by uvicorn's error."""
    from .errors import USAGE, CooplogError

    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror as e:
        raise CooplogError(f"--host {host}: not an address to listen on ({e.strerror})",
                           exit_code=USAGE) from None
    listening = socket.socket(family, socket.SOCK_STREAM)
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        listening.bind((host, port))
    except OSError as e:
        listening.close()
        if e.errno == errno.EADDRINUSE:
            raise CooplogError(f"port {port} on {host} is in use: stop what uses it, or "
                               "choose another with --port", exit_code=USAGE) from None
        raise CooplogError(f"cannot listen on {host} port {port} ({e.strerror}): choose "
                           "another --host or --port", exit_code=USAGE) from None
    return listening


def settle() -> None:
    """Leave what the server holds from now to its end (modules, Datasette, the watcher's
    state) out of Python's full garbage collections: each one walks every object the process
    holds and took 40-60 ms on a 100,000-event log, in the middle of whichever request was
    running (about one request in twenty)."""
    gc.collect()
    gc.freeze()


def _interrupt(signum, frame):
    raise KeyboardInterrupt
