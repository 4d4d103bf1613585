"""`cooplog publish OUTDIR`: the site as a Datasette configuration directory, for hosting.

Plain `datasette OUTDIR` (or `datasette publish cloudrun|fly` of its files, or a container
running it) serves the same pages with the same guard: the database is opened immutable
(inspect-data.json names it), cooplog's plugins, templates and metadata are beside it, and
requirements.txt pins what the plugins import. Only the logs given are ever opened: with
--public, private logs are left out before anything is read."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import tempfile
from importlib import metadata as distributions
from pathlib import Path

import yaml

from . import log_assets, serve, site
from .errors import USAGE, CooplogError
from .logs import Log

DATABASE_FILE = f"{serve.DATABASE}.db"


def publish(outdir: Path, logs: list[Log], warn=print) -> list[Path]:
    """Write the site of `logs` into `outdir` (new, empty, or a site published before),
    whole or not at all: it is made beside and moved into place; the files written."""
    outdir = Path(outdir)
    _check_outdir(outdir)
    site.caught_up(logs)
    outdir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.", dir=outdir.parent))
    try:
        staging.chmod(0o755)
        _write(staging, logs, warn)
        if outdir.exists():
            before = staging.with_name(staging.name + ".before")
            outdir.rename(before)
            staging.rename(outdir)
            shutil.rmtree(before)
        else:
            staging.rename(outdir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return sorted(p for p in outdir.rglob("*") if p.is_file())


def _write(outdir: Path, logs: list[Log], warn) -> None:
    assets = [log_assets.read(log.root) for log in logs]
    for log, found in zip(logs, assets, strict=True):
        for line in found.ignored:
            warn(f"{log.name}: {line}")
        if found.templates:
            warn(f"{log.name}: {found.templates.relative_to(log.root.resolve())}: left out: "
                 "a published site renders cooplog's templates only (a log's would run "
                 "unsandboxed under plain datasette)")
    site.assemble(outdir / DATABASE_FILE, logs)
    (outdir / "metadata.yml").write_text(
        yaml.safe_dump(serve.site_metadata(logs, assets), allow_unicode=True, sort_keys=False),
        encoding="utf-8")
    (outdir / "settings.json").write_text(json.dumps(serve.SETTINGS, indent=2) + "\n",
                                          encoding="utf-8")
    (outdir / "inspect-data.json").write_text(
        json.dumps(_inspected(outdir / DATABASE_FILE), indent=2) + "\n", encoding="utf-8")
    (outdir / "requirements.txt").write_text(requirements(), encoding="utf-8")
    shutil.copytree(log_assets.plugins(), outdir / "plugins",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(log_assets.TEMPLATES, outdir / "templates")
    statics = [(log, found.static) for log, found in zip(logs, assets, strict=True)
               if found.static]
    if statics:
        shutil.copytree(statics[0][1], outdir / "static")
        for log, _ in statics[1:]:
            warn(f"{log.name}: datasette/static: left out: the site takes one log's static "
                 f"files ({statics[0][0].name}'s)")


def requirements() -> str:
    """The installed versions of what the published directory loads, pinned: cooplog itself
    (the plugins import it) and Datasette with the plugins cooplog depends on, read from
    cooplog's own requirements so that a plugin added there is pinned here too."""
    datasettes = {re.split(r"[<>=!~;\[ ]", need, maxsplit=1)[0]
                  for need in distributions.requires("cooplog") or []
                  if need.startswith("datasette") and "extra ==" not in need}
    return "".join(f"{name}=={distributions.version(name)}\n"
                   for name in ["cooplog", *sorted(datasettes)])


def _inspected(database: Path) -> dict:
    """Datasette's inspect data (what makes `datasette DIR` open the file immutable), with
    the file named as it lies in the directory, not where it was made."""
    from datasette.cli import inspect_

    data = asyncio.run(inspect_([str(database)], ()))
    for entry in data.values():
        entry["file"] = database.name
    return data


def _check_outdir(outdir: Path) -> None:
    """OUTDIR is new, empty, or a site cooplog published: never someone's folder."""
    if outdir.exists() and not outdir.is_dir():
        raise CooplogError(f"{outdir}: not a folder: give a folder to publish into",
                           exit_code=USAGE)
    if outdir.is_dir() and any(outdir.iterdir()) and not (outdir / "inspect-data.json").is_file():
        raise CooplogError(f"{outdir}: a folder with other files in it: publish into a new "
                           "or empty folder (or one cooplog published before)", exit_code=USAGE)
