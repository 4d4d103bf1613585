"""The `cooplog` command: parses options, calls the core, prints errors once, at the edge.

Only what a command uses is imported by it, so that appending from the command line stays
instant (no sqlite, watchdog or datasette on that path).
"""

from __future__ import annotations

import inspect
import json
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from .errors import USAGE, CooplogError
from .events import TYPES

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="An append-only, auditable log of an organization's cooperation work.",
)
hooks_app = typer.Typer(no_args_is_help=True, help="The git hook that keeps event files append-only.")
app.add_typer(hooks_app, name="hooks")


@dataclass
class Settings:
    root: Path
    db: Path | None


@app.callback()
def main_options(
    ctx: typer.Context,
    root: Annotated[
        Path, typer.Option(envvar="COOPLOG_ROOT", help="The log's folder.", show_default=False)
    ] = Path("."),
    db: Annotated[
        Optional[Path],
        typer.Option(help="The database (default: ROOT/.cooplog/cooplog.db).", show_default=False),
    ] = None,
):
    ctx.obj = Settings(root=root, db=db)


@contextmanager
def reporting():
    """Print a CooplogError as one line per problem, and exit with its code."""
    try:
        yield
    except CooplogError as e:
        for problem in e.problems:
            typer.echo(f"error: {problem}", err=True)
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(e.exit_code) from None


def _store(ctx: typer.Context):
    from .store import Store

    return Store(ctx.obj.root)


def _print_written(written) -> None:
    for event, path in written:
        typer.echo(f"{event.id}  {path}")


# --- init and hooks ---------------------------------------------------------------------


@app.command()
def init(directory: Annotated[Path, typer.Argument(help="Where the new log goes.")] = Path(".")):
    """Create a new log: a git repository with events/, metadata.yml and the hook."""
    from . import repo

    with reporting():
        repo.init(directory)
    typer.echo(f"a new log in {directory}")


@hooks_app.command("install")
def hooks_install(ctx: typer.Context):
    """(Re)install the pre-commit hook that refuses changed or deleted event files."""
    from . import repo

    with reporting():
        hook = repo.install_hook(ctx.obj.root)
    typer.echo(f"installed {hook}")


# --- writing ----------------------------------------------------------------------------

By = Annotated[Optional[str], typer.Option("--by", help="Who records it (default: "
                                           "COOPLOG_USER, else git user.email).")]
NoCommit = Annotated[bool, typer.Option("--no-commit", help="Write the file but do not commit.")]

add_app = typer.Typer(
    help="Append one event: a typed subcommand per event type, or --json FILE for any type.",
)
app.add_typer(add_app, name="add")


@add_app.callback(invoke_without_command=True)
def add(
    ctx: typer.Context,
    json_file: Annotated[
        Optional[str],
        typer.Option("--json", metavar="FILE", help="An event body as JSON ('-' for stdin)."),
    ] = None,
    by: By = None,
    no_commit: NoCommit = False,
):
    """Append one event."""
    if ctx.invoked_subcommand is not None:
        return
    if json_file is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(USAGE)
    from . import append, events

    with reporting():
        label = "stdin" if json_file == "-" else json_file
        raw = sys.stdin.buffer.read() if json_file == "-" else _read(Path(json_file))
        try:
            body = events.decode(raw)
        except events.Invalid as e:
            raise CooplogError("nothing was written", problems=e.at(label)) from None
        written = append.append(_store(ctx), [(label, body)], by=by, commit=not no_commit)
    _print_written(written)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise CooplogError(f"{path}: cannot be read ({e.strerror})", exit_code=USAGE) from None


# Typed `add` subcommands, one per type, built from the type's `data` struct.

SINGULAR = {"parties": "party", "items": "item", "countries": "country"}
COMMON_OPTIONS = {
    "occurred": ("--date", "When: 2009, 2009-03, 2009-03-23 or START/END."),
    "summary": ("--summary", "One self-contained sentence: the line a report prints."),
    "orgs": ("--org", "An organization involved (its key); repeat for more."),
    "mandates": ("--mandate", "A decision that mandates it, e.g. IX/11; repeat for more."),
    "documents": ("--doc", "A document: SYMBOL, SYMBOL=URL or a URL; repeat for more."),
    "source": ("--source", "Where this comes from, e.g. 'UNEP/CHW/OEWG/7/17, annex'."),
}


@dataclass(frozen=True)
class OptionField:
    """One command-line option of a typed `add` and where its value goes in the body."""

    param: str
    flag: str
    path: tuple[str, ...]  # e.g. ("data", "location", "city")
    kind: str  # "text", "list" or "flag"
    required: bool
    help: str


def _data_options(struct, path=("data",)) -> list[OptionField]:
    import msgspec

    from . import events

    options = []
    for field in msgspec.structs.fields(struct):
        inner = [t for t in getattr(field.type, "__args__", ()) if t is not type(None)]
        if inspect.isclass(inner[0] if inner else None) and issubclass(
            inner[0], msgspec.Struct
        ):
            options += _data_options(inner[0], (*path, field.name))
            continue
        origin = getattr(field.type, "__origin__", None)
        origin = getattr(origin, "__origin__", origin)  # Annotated[list[Key], …] is a list too
        kind = "list" if origin is list else "flag" if bool in (field.type, *inner) else "text"
        name = SINGULAR.get(field.name, field.name)
        choices = events.choices(struct, field.name)
        help_text = f"One of: {', '.join(choices)}." if choices else ""
        if kind == "list":
            help_text += " Repeat for more."
        options.append(OptionField(name.replace("-", "_"), f"--{name}", (*path, field.name),
                                   kind, field.required and len(path) == 1, help_text.strip()))
    return options


def typed_options(spec) -> list[OptionField]:
    common = [
        OptionField(
            field.replace("occurred", "date"), flag, (field,),
            "list" if field in ("orgs", "mandates", "documents") else "text",
            spec.dated and field in ("occurred", "summary"), help_text,
        )
        for field, (flag, help_text) in COMMON_OPTIONS.items()
        if spec.dated or field not in ("occurred", "summary")
    ]
    return _data_options(spec.data) + common


def _document(value: str) -> dict:
    if value.startswith(("http://", "https://")):
        return {"url": value}
    symbol, _, url = value.partition("=")
    return {"symbol": symbol, "url": url} if url else {"symbol": symbol}


def body_from_options(spec, options: list[OptionField], values: dict[str, Any]) -> dict:
    """The event body the typed options describe."""
    body: dict[str, Any] = {"type": spec.name, "data": {}}
    for option in options:
        value = values.get(option.param)
        if value is None or value == []:  # --not-online says false; no flag says nothing
            continue
        if option.path == ("documents",):
            value = [_document(v) for v in value]
        target = body
        for part in option.path[:-1]:
            target = target.setdefault(part, {})
        target[option.path[-1]] = value
    return body


def _make_add_command(spec):
    options = typed_options(spec)

    def command(ctx: typer.Context, **values):
        from . import append

        by, no_commit = values.pop("by"), values.pop("no_commit")
        body = body_from_options(spec, options, values)
        with reporting():
            try:
                written = append.append(_store(ctx), [(f"add {spec.command}", body)],
                                        by=by, commit=not no_commit)
            except CooplogError as e:
                e.problems = [_as_option(p, options) for p in e.problems]
                raise
        _print_written(written)

    params = [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                annotation=typer.Context)]
    for option in options:
        if option.kind == "list":
            annotation, default = Optional[list[str]], None
        elif option.kind == "flag":
            annotation, default = Optional[bool], None
        else:
            annotation, default = Optional[str], None
        flag = option.flag if option.kind != "flag" else f"{option.flag}/--not-{option.flag[2:]}"
        info = typer.Option(flag, help=option.help, show_default=False)
        if option.required:
            annotation = list[str] if option.kind == "list" else str
            default = inspect.Parameter.empty
        params.append(inspect.Parameter(option.param, inspect.Parameter.KEYWORD_ONLY,
                                        default=default, annotation=Annotated[annotation, info]))
    params += [
        inspect.Parameter("by", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=By),
        inspect.Parameter("no_commit", inspect.Parameter.KEYWORD_ONLY, default=False,
                          annotation=NoCommit),
    ]
    command.__signature__ = inspect.Signature(params)
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__doc__ = f"{spec.help} ({spec.name})"
    return command


def _as_option(problem, options: list[OptionField]):
    """Name the command-line option, not the JSON field, in errors from a typed add."""
    from .errors import Problem

    for option in options:
        if problem.field == ".".join(option.path) or problem.field.startswith(
            ".".join(option.path) + "["
        ):
            return Problem(problem.path, option.flag, problem.message)
    return problem


for _spec in TYPES.values():
    if not _spec.name.startswith("event."):
        add_app.command(_spec.command)(_make_add_command(_spec))


def _parse_set(assignment: str) -> tuple[str, Any]:
    name, sep, value = assignment.partition("=")
    if not sep or not name:
        raise CooplogError(f"--set {assignment!r}: write FIELD=VALUE", exit_code=USAGE)
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = value
    if isinstance(parsed, (int, float)) and not isinstance(parsed, bool):
        parsed = value  # numbers stay text: no field of schema 1 is a number
    return name, parsed


@app.command()
def correct(
    ctx: typer.Context,
    event_id: Annotated[str, typer.Argument(metavar="ID", help="The event to correct.")],
    set_: Annotated[list[str], typer.Option("--set", metavar="FIELD=VALUE",
                                            help="A field and its right value (JSON or text); "
                                                 "data fields as data.NAME; 'null' removes.")],
    reason: Annotated[str, typer.Option(help="Why: kept in the log for the audit.")],
    by: By = None,
    no_commit: NoCommit = False,
):
    """Correct an event by appending an event.corrected (the file itself never changes)."""
    from . import append

    with reporting():
        changes = dict(_parse_set(a) for a in set_)
        written = append.correct(_store(ctx), event_id, changes, reason, by=by,
                                 commit=not no_commit)
    _print_written(written)


@app.command()
def retract(
    ctx: typer.Context,
    event_id: Annotated[str, typer.Argument(metavar="ID", help="The event to retract.")],
    reason: Annotated[str, typer.Option(help="Why: kept in the log for the audit.")],
    by: By = None,
    no_commit: NoCommit = False,
):
    """Retract an event by appending an event.retracted (it stays in the log, flagged)."""
    from . import append

    with reporting():
        written = append.retract(_store(ctx), event_id, reason, by=by, commit=not no_commit)
    _print_written(written)


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="JSON Lines: one event body per line.")],
    by: By = None,
    no_commit: NoCommit = False,
):
    """Append many events from JSON Lines, all or nothing, in one commit."""
    from . import append, events

    with reporting():
        bodies, problems = [], []
        for number, line in enumerate(_read(file).splitlines(), start=1):
            if not line.strip():
                continue
            try:
                bodies.append((f"{file} line {number}", events.decode(line)))
            except events.Invalid as e:
                problems += e.at(f"{file} line {number}")
        if problems:
            raise CooplogError(f"{len(problems)} problem(s); nothing was written",
                               problems=problems)
        if not bodies:
            raise CooplogError(f"{file}: no events in it", exit_code=USAGE)
        with typer.progressbar(length=len(bodies), label="writing",
                               file=sys.stderr) as bar:
            written = append.append(_store(ctx), bodies, by=by, commit=not no_commit,
                                    message=f"import: {len(bodies)} events from {file.name}",
                                    progress=bar.update)
    _print_written(written)


# --- reading ----------------------------------------------------------------------------


@app.command()
def validate(ctx: typer.Context):
    """Check every event file; list every problem; exit 1 if there is any."""
    from .check import check_log

    store = _store(ctx)
    problems = check_log(store)
    for problem in problems:
        typer.echo(str(problem))
    count = sum(1 for _ in store.files())
    if problems:
        typer.echo(f"{len(problems)} problem(s) in {count} file(s)", err=True)
        raise typer.Exit(1)
    typer.echo(f"{count} event file(s), no problems", err=True)


# --- the projection and the main job ---------------------------------------------------


def _projection(ctx: typer.Context):
    from .projection import project

    return project(ctx.obj.root, ctx.obj.db)


@app.command()
def build(ctx: typer.Context):
    """Rebuild the database from the files, in place, in one transaction."""
    with reporting():
        projection = _projection(ctx)
        total = sum(1 for _ in projection.store.files())
        with typer.progressbar(length=total, label="building", file=sys.stderr) as bar:
            result = projection.build(progress=bar.update)
        problems = projection.conn.execute("select count(*) from problems").fetchone()[0]
        projection.close()
    typer.echo(f"{result['files']} file(s) into {projection.db_path}; {problems} problem(s)")


@app.command()
def watch(
    ctx: typer.Context,
    polling: Annotated[bool, typer.Option(help="Poll instead of inotify (network drives).")]
    = False,
):
    """Keep the database in step with the files until stopped (Ctrl-C)."""
    from . import watch as watching

    with reporting():
        projection = _projection(ctx)  # checks the folder and the database first
        projection.close()
        typer.echo(f"cooplog: watching {projection.store.events_dir} (Ctrl-C stops)", err=True)
        watching.watch(ctx.obj.root, projection.db_path, polling=polling)


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8001,
    polling: Annotated[bool, typer.Option(help="Poll instead of inotify (network drives).")]
    = False,
):
    """Catch up, watch, and publish the log read-only with Datasette: the main job."""
    from . import serve as serving

    with reporting():
        projection = _projection(ctx)
        projection.close()
        serving.serve(ctx.obj.root, projection.db_path, host, port, polling=polling,
                      announce=lambda line: typer.echo(line, err=True))


class ReportFormat(str, Enum):
    md = "md"
    html = "html"
    docx = "docx"


@app.command()
def report(
    ctx: typer.Context,
    period: Annotated[str, typer.Option(help="EDTF period, e.g. 2008/2009 or 2009-03.")],
    format_: Annotated[ReportFormat, typer.Option(
        "--format", help="md, html or docx (a Word file: needs --output).")]
    = ReportFormat.md,
    output: Annotated[Optional[Path], typer.Option(help="Write here instead of stdout.")]
    = None,
    org: Annotated[Optional[str], typer.Option(help="Only this organization (its key).")]
    = None,
    group: Annotated[Optional[str], typer.Option(
        help="Only this group: unep, mea, un, intergovernmental, network or other.")] = None,
):
    """The annex-style report for a period, from the log as it is now."""
    from . import report as reporting_

    with reporting():
        if format_ is ReportFormat.docx and output is None:
            raise CooplogError("--format docx: a Word file needs --output FILE.docx",
                               exit_code=USAGE)
        projection = _projection(ctx)
        try:
            projection.catch_up()
            content = reporting_.build(projection.conn, period, org=org, group=group)
        finally:
            projection.close()
        if format_ is ReportFormat.docx:
            from . import report_docx

            report_docx.write(content, output)
            typer.echo(f"wrote {output}", err=True)
            return
        text = (reporting_.markdown(content) if format_ is ReportFormat.md
                else reporting_.html_document(content))
        if output is None:
            typer.echo(text, nl=False)
        else:
            output.write_text(text, encoding="utf-8")
            typer.echo(f"wrote {output}", err=True)


export_app = typer.Typer(no_args_is_help=True, help="The log in other programs' formats.")
app.add_typer(export_app, name="export")


@export_app.command("ics")
def export_ics(
    ctx: typer.Context,
    output: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
):
    """Meetings as an iCalendar file: all-day events over the days recorded; a meeting
    dated only to the year is left out and named on stderr."""
    from . import calendar_export

    with reporting():
        projection = _projection(ctx)
        try:
            projection.catch_up()
            data, left_out = calendar_export.export(projection.conn)
        finally:
            projection.close()
    if output is None:
        typer.echo(data, nl=False)
    else:
        output.write_bytes(data)
        typer.echo(f"wrote {output}", err=True)
    for row in left_out:
        typer.echo(f"left out, dated only to the year: {row['event_id']} {row['occurred']} "
                   f"{row['title']}", err=True)


# --- audit and sync (git) ---------------------------------------------------------------

Json = Annotated[bool, typer.Option("--json", help="JSON for scripts.")]


@app.command()
def history(
    ctx: typer.Context,
    event_id: Annotated[str | None, typer.Argument(
        metavar="[ID]", help="One event: its whole trail of corrections and retractions.")]
    = None,
    since: Annotated[str | None, typer.Option(
        metavar="DATE", help="Only what was committed on or after this day (YYYY-MM-DD).")]
    = None,
    by: Annotated[str | None, typer.Option(
        "--by", metavar="WHO", help="Only what WHO (part of a name or email) recorded or "
                                    "committed.")] = None,
    json_: Json = False,
):
    """Who recorded what, and when: each event beside the git commit that added it."""
    from . import audit

    with reporting():
        entries = audit.history(ctx.obj.root, event_id, since=since, by=by)
    if json_:
        typer.echo(json.dumps([e.to_dict() for e in entries], ensure_ascii=False, indent=2))
        return
    for entry in entries:
        typer.echo(entry.line())


@app.command()
def verify(
    ctx: typer.Context,
    range_: Annotated[str | None, typer.Option(
        "--range", metavar="A..B", help="Only these commits (any git rev-list range), e.g. "
                                        "in a pre-receive hook or CI job.")] = None,
    json_: Json = False,
):
    """Prove the log append-only from its git history; exit 1 on any breach."""
    from . import audit

    with reporting():
        report = audit.verify(ctx.obj.root, range_)
    if json_:
        typer.echo(json.dumps({"commits": report.commits, "files": report.files,
                               "breaches": [f.to_dict() for f in report.breaches],
                               "warnings": [f.to_dict() for f in report.warnings]},
                              ensure_ascii=False, indent=2))
    else:
        for finding in report.findings:
            typer.echo(f"{'breach' if finding.breach else 'warning'}: {finding.problem()}")
        typer.echo(f"{report.commits} commit(s), {report.files} event file(s): "
                   f"{len(report.breaches)} breach(es), {len(report.warnings)} warning(s)",
                   err=True)
    if report.breaches:
        raise typer.Exit(1)


@app.command()
def sync(ctx: typer.Context):
    """Fetch, verify, rebase onto and push to the upstream (else origin), then catch up."""
    from . import sync as syncing

    with reporting():
        done = syncing.sync(ctx.obj.root, ctx.obj.db)
    typer.echo(f"synced with {done.remote} {done.branch}: {done.incoming} commit(s) in, "
               f"{done.outgoing} out")


def main() -> None:
    app(prog_name="cooplog")
