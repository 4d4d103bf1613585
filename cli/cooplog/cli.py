"""The `cooplog` command: parses options, calls the core, prints errors once, at the edge.

Only what a command uses is imported by it, so that appending from the command line stays
instant (no sqlite, watchdog or datasette on that path). Annotations are objects, not
strings (no `from __future__ import annotations`): Typer reads every one at start-up, and
strings it would have to compile and evaluate first.
"""

import inspect
import json
import sys
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from .cli_coercion import App, Commands
from .errors import USAGE, CooplogError

app = App(
    no_args_is_help=True,
    help="An append-only, auditable log of an organization's cooperation work.",
)
hooks_app = App(no_args_is_help=True, help="The git hook that keeps event files append-only.")
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
        Path | None,
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
        for line in e.lines():
            typer.echo(f"error: {line}", err=True)
        raise typer.Exit(e.exit_code) from None


def _store(ctx: typer.Context):
    from .store import Store

    return Store(ctx.obj.root)


def _print_written(written) -> None:
    for event, path in written:
        typer.echo(f"{event.id}  {path}")


def _console():
    """A rich console (colours, tables) when stdout is a terminal; None means plain text,
    for pipes, files and scripts."""
    if not sys.stdout.isatty():
        return None
    from rich.console import Console

    return Console(highlight=False)


def _interactive() -> bool:
    """Prompt only a person at a terminal, never a script or a pipe."""
    return sys.stdin.isatty() and sys.stdout.isatty()


# --- shell completion (cooplog --install-completion) ------------------------------------


def _log_of(ctx: typer.Context) -> tuple[Path, Path | None]:
    """--root and --db as parsed: completion runs without the main callback."""
    params = ctx.find_root().params
    return Path(params.get("root") or "."), params.get("db")


def complete_org(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """Org keys, with their names for the shells that show them."""
    from . import state

    return [(key, name) for key, name in state.org_keys(*_log_of(ctx))
            if key.startswith(incomplete)]


def complete_entity(kinds: tuple[str, ...]):
    """Completion of the keys of agreements, submissions… of these kinds, with titles."""
    def complete(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
        from . import state

        return [(key, title) for key, title in state.entity_keys(*_log_of(ctx), kinds)
                if key.startswith(incomplete)]

    return complete


def complete_id(ctx: typer.Context, incomplete: str) -> list[str]:
    from . import state

    return state.event_ids(_log_of(ctx)[0], incomplete)


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

By = Annotated[str | None, typer.Option("--by", help="Who records it (default: "
                                        "COOPLOG_USER, else git user.email).")]
NoCommit = Annotated[bool, typer.Option("--no-commit", help="Write the file but do not commit.")]
Json = Annotated[bool, typer.Option("--json", help="JSON for scripts.")]
EventId = Annotated[str, typer.Argument(metavar="ID", help="The event's id (any case).",
                                        autocompletion=complete_id)]
Logs = Annotated[list[str] | None, typer.Option(
    "--log", metavar="NAME=PATH", help="A log of the site (repeatable); default: the log "
                                       "at --root.", show_default=False)]
Public = Annotated[bool, typer.Option(
    "--public", help="Leave private logs (cooplog.toml: visibility = \"private\") out "
                     "entirely.")]


Strict = Annotated[bool, typer.Option(
    "--strict", help="Refuse, rather than warn about, a likely duplicate of an event in the "
                     "log or an activity that names no organization.")]


def _warn(options=()):
    """Print what is likely a mistake, one line each, naming the option where there is one."""
    def warn(problem) -> None:
        from . import typed_add

        typer.echo(f"warning: {typed_add.as_option(problem, options)}", err=True)

    return warn


class TypedAdd(Commands):
    """`add`, whose typed subcommands are built only when one is asked for: building all of
    them (msgspec, the TYPES table, ten options each) on every start made the whole command
    line slow to start."""

    def list_commands(self, ctx) -> list[str]:
        from . import typed_add

        return [*super().list_commands(ctx), *typed_add.typed_specs()]

    def get_command(self, ctx, name: str):
        from . import typed_add

        specs = typed_add.typed_specs()
        # An unknown name builds them all, so that the error can say "Did you mean …?".
        for command in [name] if name in specs else specs:
            if command not in self.commands:
                one = App(add_completion=False)
                one.command(command)(_make_add_command(specs[command]))
                self.commands[command] = typer.main.get_command(one)
        return super().get_command(ctx, name)


add_app = App(
    cls=TypedAdd,
    help="Append one event: a typed subcommand per event type, or --json FILE for any type.",
)
app.add_typer(add_app, name="add")


@add_app.callback(invoke_without_command=True)
def add(
    ctx: typer.Context,
    json_file: Annotated[
        str | None,
        typer.Option("--json", metavar="FILE", help="An event body as JSON ('-' for stdin)."),
    ] = None,
    by: By = None,
    no_commit: NoCommit = False,
    strict: Strict = False,
):
    """Append one event."""
    if ctx.invoked_subcommand is not None:
        return
    if json_file is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(USAGE)
    from . import append, importing

    with reporting():
        label, body = importing.one(json_file)
        written = append.append(_store(ctx), [(label, body)], by=by, commit=not no_commit,
                                db=ctx.obj.db, warn=_warn(), strict=strict)
    _print_written(written)


def _ask(option):
    """Ask a person at a terminal for a required option they left out."""
    hint = option.help.removesuffix("Repeat for more.").strip().rstrip(".")
    hint = hint[:1].lower() + hint[1:]
    if option.kind == "list":
        hint = ", ".join(filter(None, [hint, "several separated by commas"]))
    answer = typer.prompt(option.flag[2:].capitalize() + (f" ({hint})" if hint else ""))
    if option.kind == "list":
        return [part.strip() for part in answer.split(",") if part.strip()]
    return answer


def _make_add_command(spec):
    """The typed `add` for one type. At a terminal its required options may be left out,
    and are asked for; elsewhere leaving one out is a usage error."""
    from . import typed_add

    options = typed_add.typed_options(spec)
    ask = _interactive()
    completions = {("orgs",): complete_org,
                   **{("data", name): complete_org for name in spec.org_refs},
                   **{("data", name): complete_entity(kinds)
                      for name, kinds in spec.entity_fields().items()}}

    def command(ctx: typer.Context, **values):
        from . import append

        by, no_commit, strict = values.pop("by"), values.pop("no_commit"), values.pop("strict")
        for option in options:
            if option.required and values[option.param] in (None, []):
                values[option.param] = _ask(option)
        body = typed_add.body_from_options(spec, options, values)
        with reporting():
            try:
                written = append.append(_store(ctx), [(f"add {spec.command}", body)],
                                        by=by, commit=not no_commit, db=ctx.obj.db,
                                        warn=_warn(options), strict=strict)
            except CooplogError as e:
                e.problems = [typed_add.as_option(p, options) for p in e.problems]
                raise
        _print_written(written)

    params = [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                annotation=typer.Context)]
    for option in options:
        if option.kind == "list":
            annotation, default = list[str] | None, None
        elif option.kind == "flag":
            annotation, default = bool | None, None
        else:
            annotation, default = str | None, None
        flag = option.flag if option.kind != "flag" else f"{option.flag}/--not-{option.flag[2:]}"
        info = typer.Option(flag, help=option.help, show_default=False,
                            autocompletion=completions.get(option.path))
        if option.required and not ask:
            annotation = list[str] if option.kind == "list" else str
            default = inspect.Parameter.empty
        params.append(inspect.Parameter(option.param, inspect.Parameter.KEYWORD_ONLY,
                                        default=default, annotation=Annotated[annotation, info]))
    params += [
        inspect.Parameter("by", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=By),
        inspect.Parameter("no_commit", inspect.Parameter.KEYWORD_ONLY, default=False,
                          annotation=NoCommit),
        inspect.Parameter("strict", inspect.Parameter.KEYWORD_ONLY, default=False,
                          annotation=Strict),
    ]
    command.__signature__ = inspect.Signature(params)
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__doc__ = f"{spec.help} ({spec.name})"
    return command


@app.command()
def correct(
    ctx: typer.Context,
    event_id: EventId,
    set_: Annotated[list[str], typer.Option("--set", metavar="FIELD=VALUE",
                                            help="A field and its right value (JSON or text): "
                                                 "summary, data.title, data.location.city, "
                                                 "data.items[1]; 'null' removes.")],
    reason: Annotated[str, typer.Option(help="Why: kept in the log for the audit.")],
    by: By = None,
    no_commit: NoCommit = False,
):
    """Correct an event by appending an event.corrected (the file itself never changes)."""
    from . import append, corrections

    with reporting():
        changes = corrections.parse(set_)
        written = append.correct(_store(ctx), event_id, changes, reason, db=ctx.obj.db, by=by,
                                 commit=not no_commit)
    _print_written(written)


@app.command()
def retract(
    ctx: typer.Context,
    event_id: EventId,
    reason: Annotated[str, typer.Option(help="Why: kept in the log for the audit.")],
    by: By = None,
    no_commit: NoCommit = False,
):
    """Retract an event by appending an event.retracted (it stays in the log, flagged)."""
    from . import append

    with reporting():
        written = append.retract(_store(ctx), event_id, reason, by=by, commit=not no_commit,
                                 db=ctx.obj.db)
    _print_written(written)


@app.command()
def translate(
    ctx: typer.Context,
    event_id: EventId,
    lang: Annotated[str, typer.Option(help="The language: ISO 639-1, e.g. fr or zh.")],
    summary: Annotated[str | None, typer.Option(help="The summary in that language.")] = None,
    title: Annotated[str | None, typer.Option(help="The title in that language.")] = None,
    by: By = None,
    no_commit: NoCommit = False,
):
    """Translate an event's summary and/or title by appending a translation.added."""
    from . import append

    with reporting():
        written = append.translate(_store(ctx), event_id, lang, summary, title, by=by,
                                   commit=not no_commit, db=ctx.obj.db)
    _print_written(written)


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="JSON Lines: one event body per line.")],
    by: By = None,
    no_commit: NoCommit = False,
):
    """Append many events from JSON Lines, all or nothing, in one commit."""
    from . import append, importing

    with reporting():
        bodies, problems = importing.read(file)
        with typer.progressbar(length=len(bodies), label="writing",
                               file=sys.stderr) as bar:
            written = append.append(_store(ctx), bodies, by=by, commit=not no_commit,
                                    message=f"import: {len(bodies)} events from {file.name}",
                                    progress=bar.update, db=ctx.obj.db, problems=problems)
    _print_written(written)


# --- reading ----------------------------------------------------------------------------


@app.command()
def validate(ctx: typer.Context, json_: Json = False, log: Logs = None):
    """Check every event file; list every problem; exit 1 if there is any. With --log,
    every log's, and any key of a private log that a public one names."""
    if log:
        from . import log_checks

        with reporting():
            problems, warnings, count = log_checks.review(_logs(ctx, log))
    else:
        from .rules import review

        store = _store(ctx)
        problems, warnings = review(store)
        count = sum(1 for _ in store.files())
    if json_:
        typer.echo(json.dumps({"files": count, "problems": [asdict(p) for p in problems],
                               "warnings": [asdict(w) for w in warnings]},
                              ensure_ascii=False, indent=2))
    else:
        _print_lines((str(p) for p in problems), "red")
        _print_lines((f"warning: {w}" for w in warnings), "yellow")
        summary = (f"{len(problems)} problem(s) in {count} file(s)" if problems
                   else f"{count} event file(s), no problems")
        typer.echo(summary + (f"; {len(warnings)} warning(s)" if warnings else ""), err=True)
    if problems:
        raise typer.Exit(1)


def _print_lines(lines, style: str) -> None:
    """Lines such as `path: field: message`, their head (to the first ': ') coloured at a
    terminal."""
    console = _console()
    for line in lines:
        if console is None:
            typer.echo(line)
        else:
            from rich.text import Text

            head, sep, rest = line.partition(": ")
            console.print(Text.assemble((head + sep, style), rest))


@app.command()
def orgs(ctx: typer.Context, json_: Json = False):
    """The organizations the log registers: key, acronym, group and name, from the files."""
    from . import state

    found = state.organizations(_store(ctx))
    if json_:
        typer.echo(json.dumps(found, ensure_ascii=False, indent=2))
        return
    rows = [(o["key"], o["acronym"] or "", o["category"], o["name"]) for o in found]
    header = ("key", "acronym", "group", "name")
    console = _console()
    if console is not None:
        from rich.table import Table

        table = Table(*header)
        for row in rows:
            table.add_row(*row)
        console.print(table)
        return
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    for row in [header, *rows]:  # the name last, so that a long one pushes nothing along
        typer.echo("  ".join([*(v.ljust(w) for v, w in zip(row[:3], widths, strict=True)),
                              row[3]]))


@app.command()
def show(
    ctx: typer.Context,
    event_id: EventId,
    json_: Json = False,
):
    """One event as the log reads now: its file, corrections applied, retraction noted."""
    from . import corrections, events, state

    with reporting():
        shown = state.show(_store(ctx), event_id)
    if json_:
        typer.echo(json.dumps(shown.to_dict(), ensure_ascii=False, indent=2))
        return
    lines = [f"file: {shown.path}"]
    if shown.event.occurred:
        from .dates import in_words

        lines.append(f"when: {in_words(shown.event.occurred)}")
    lines += [f"retracted by: {r.id} ({r.data['reason']})" for r in shown.retracted_by]
    for correction, fields in zip(shown.corrections, shown.changes(), strict=True):
        lines.append(f"corrected by: {correction.id} ({correction.data['reason']})")
        lines += [f"  {corrections.describe(*change)}" for change in fields]
    lines += [f"not applied: {message}" for message in shown.refused]
    _print_lines(lines, "bold")
    console = _console()
    if console is None:
        typer.echo(events.encode(shown.event).decode(), nl=False)
    else:
        console.print_json(data=events.to_dict(shown.event))


# --- the projection and the main job ---------------------------------------------------


def _projection(ctx: typer.Context):
    from .projection import project

    return project(ctx.obj.root, ctx.obj.db)


def _fresh(ctx: typer.Context):
    from .projection import fresh

    return fresh(ctx.obj.root, ctx.obj.db)


@app.command()
def build(ctx: typer.Context):
    """Rebuild the database from the files, in place, in one transaction."""
    with reporting():
        projection = _projection(ctx)
        if sys.stderr.isatty():  # counting the files costs a walk: only for a person
            total = sum(1 for _ in projection.store.files())
            with typer.progressbar(length=total, label="building", file=sys.stderr) as bar:
                result = projection.build(progress=bar.update)
        else:
            result = projection.build()
        problems = projection.conn.execute("select count(*) from problems").fetchone()[0]
        projection.close()
    typer.echo(f"{result['files']} file(s) into {projection.db_path}; {problems} problem(s)")


@app.command("watch")
def watch_command(
    ctx: typer.Context,
    polling: Annotated[bool, typer.Option(help="Poll instead of inotify (network drives).")]
    = False,
):
    """Keep the database in step with the files until stopped (Ctrl-C)."""
    from . import watch

    with reporting():
        projection = _projection(ctx)  # checks the folder and the database first
        projection.close()
        typer.echo(f"cooplog: watching {projection.store.events_dir} (Ctrl-C stops)", err=True)
        watch.watch(ctx.obj.root, projection.db_path, polling=polling)


def _logs(ctx: typer.Context, specs: list[str] | None, public: bool = False):
    from . import logs

    return logs.chosen(specs or [], ctx.obj.root, ctx.obj.db, public=public,
                       warn=lambda line: typer.echo(f"cooplog: {line}", err=True))


@app.command("serve")
def serve_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8001,
    polling: Annotated[bool, typer.Option(help="Poll instead of inotify (network drives).")]
    = False,
    log: Logs = None,
    public: Public = False,
):
    """Catch up, watch, and publish the log read-only with Datasette: the main job."""
    from . import serve

    announce = lambda line: typer.echo(line, err=True)  # noqa: E731
    with reporting():
        chosen = _logs(ctx, log, public)
        if log:
            serve.serve_logs(chosen, host, port, polling=polling,
                               announce=announce)
            return
        projection = _projection(ctx)
        projection.close()
        serve.serve(ctx.obj.root, projection.db_path, host, port,
                      polling=polling, announce=announce)


@app.command()
def publish(
    ctx: typer.Context,
    outdir: Annotated[Path, typer.Argument(help="The folder to write (new, or published "
                                                "before).")],
    log: Logs = None,
    public: Public = False,
):
    """Write a self-contained Datasette directory of the log(s), for hosting:
    `datasette OUTDIR` serves it."""
    from . import publish as publishing

    with reporting():
        chosen = _logs(ctx, log, public)
        written = publishing.publish(outdir, chosen,
                                     warn=lambda line: typer.echo(f"cooplog: {line}", err=True))
    typer.echo(f"{len(written)} file(s) into {outdir}: "
               + ", ".join(f"{one.name} ({one.visibility})" for one in chosen))


class ReportFormat(str, Enum):
    md = "md"
    html = "html"
    docx = "docx"
    pdf = "pdf"


# the formats written only as files
REPORT_FILES = {ReportFormat.docx: "a Word file", ReportFormat.pdf: "a PDF"}


@app.command("report")
def report_command(
    ctx: typer.Context,
    period: Annotated[str, typer.Option(help="EDTF period, e.g. 2008/2009 or 2009-03.")],
    format_: Annotated[ReportFormat, typer.Option(
        "--format", help="md, html, docx (a Word file) or pdf (both need --output).")]
    = ReportFormat.md,
    output: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")]
    = None,
    org: Annotated[str | None, typer.Option(help="Only this organization (its key).",
                                            autocompletion=complete_org)] = None,
    group: Annotated[str | None, typer.Option(
        help="Only this group: unep, mea, un, intergovernmental, network or other.")] = None,
    json_: Annotated[bool, typer.Option("--json", help="The report's content as JSON, for "
                                                       "scripts (instead of --format).")]
    = False,
    symbol: Annotated[str | None, typer.Option(
        help="The document symbol, e.g. UNEP/CHW/OEWG/7/17: the symbol block and the "
             "page header.")] = None,
    date: Annotated[str | None, typer.Option(
        help="The document's date (EDTF, e.g. 2010-04-14), printed in the symbol block.")]
    = None,
    title: Annotated[str | None, typer.Option(
        help="The document's title, printed above the report's.")] = None,
    check: Annotated[bool, typer.Option(
        "--check", help="List every event of the period that the report does not show, "
                        "and why; exit 1 if any is unaccounted for.")] = False,
    lang: Annotated[str, typer.Option(
        help="The report's language: ar, en, es, fr, ru or zh.")] = "en",
    log: Logs = None,
):
    """The annex-style report for a period, from the log as it is now (or from several
    logs, `--log`, as one)."""
    from . import messages, report

    with reporting():
        if format_ in REPORT_FILES and output is None:
            raise CooplogError(f"--format {format_.value}: {REPORT_FILES[format_]} needs "
                               f"--output FILE.{format_.value}", exit_code=USAGE)
        if json_ and format_ is not ReportFormat.md:
            raise CooplogError("--json and --format: choose one", exit_code=USAGE)
        if check and (org or group):
            raise CooplogError("--check: it checks the whole report; leave out --org and "
                               "--group", exit_code=USAGE)
        front = report.front_matter(symbol, date, title, messages.checked(lang))
        with _report_source(ctx, log) as conn:
            if check:
                from .omissions import omissions

                found = omissions(conn, period)
            else:
                content = report.build(conn, period, org=org, group=group,
                                           front=front, lang=lang)
        if check:
            _print_omissions(found, json_)
            return
        if format_ in REPORT_FILES:
            if format_ is ReportFormat.docx:
                from .report_docx import write
            else:
                from .report_pdf import write
            write(content, output)
            typer.echo(f"wrote {output}", err=True)
            return
        if json_:
            text = json.dumps(report.to_dict(content), ensure_ascii=False, indent=2) + "\n"
        elif format_ is ReportFormat.md:
            text = report.markdown(content)
        else:
            text = report.html_document(content)
        if output is None:
            typer.echo(text, nl=False)
        else:
            output.write_text(text, encoding="utf-8")
            typer.echo(f"wrote {output}", err=True)


@contextmanager
def _report_source(ctx: typer.Context, specs: list[str] | None):
    """What the report reads: the log's projection, caught up, or several logs as one."""
    if specs:
        from .site import as_one_log

        with as_one_log(_logs(ctx, specs)) as conn:
            yield conn
        return
    with _fresh(ctx) as projection:
        yield projection.conn


def _print_omissions(found, json_: bool) -> None:
    """One line per event the report leaves out; an error if any is unaccounted for."""
    from .dates import in_words

    if json_:
        typer.echo(json.dumps([o.to_dict() for o in found], ensure_ascii=False, indent=2))
    else:
        for o in found:
            when = in_words(o.occurred) if o.occurred else "undated"
            typer.echo(f"{o.event_id}  {o.type}  {when}  {o.reason}")
    unaccounted = sum(not o.accounted for o in found)
    typer.echo(f"{len(found)} event(s) of the period not in the report, "
               f"{unaccounted} of them unaccounted for", err=True)
    if unaccounted:
        raise CooplogError(f"{unaccounted} event(s) of the period are missing from the "
                           "report for no reason it knows: see the lines above")


export_app = App(no_args_is_help=True, help="The log in other programs' formats.")
app.add_typer(export_app, name="export")


@export_app.command("ics")
def export_ics(
    ctx: typer.Context,
    output: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
):
    """Meetings as an iCalendar file: all-day events over the days recorded; a meeting
    dated only to the year, or one whose date is unreadable, is left out and named on
    stderr."""
    from . import calendar_export

    with reporting():
        with _fresh(ctx) as projection:
            data, left_out = calendar_export.export(projection.conn)
    if output is None:
        typer.echo(data, nl=False)
    else:
        output.write_bytes(data)
        typer.echo(f"wrote {output}", err=True)
    from .dates import in_words  # Babel loads at the first call, if any is left out

    for row, why in left_out:
        when = (in_words(row["occurred"]) if why == calendar_export.YEAR_ONLY
                else row["occurred"])
        typer.echo(f"left out, {why}: {row['event_id']} {when} {row['title']}", err=True)


# --- audit and sync (git) ---------------------------------------------------------------


@app.command()
def history(
    ctx: typer.Context,
    event_id: Annotated[str | None, typer.Argument(
        metavar="[ID]", help="One event: its whole trail of corrections and retractions.",
        autocompletion=complete_id)] = None,
    since: Annotated[str | None, typer.Option(
        metavar="DATE", help="Only what was committed on or after this day (YYYY-MM-DD).")]
    = None,
    by: Annotated[str | None, typer.Option(
        "--by", metavar="WHO", help="Only what WHO (part of a name or email) recorded or "
                                    "committed.")] = None,
    json_: Json = False,
):
    """Who recorded what, and when: each event beside the git commit that added it."""
    from . import audit, inputs

    with reporting():
        entries = audit.history(ctx.obj.root, event_id and inputs.event_id(event_id),
                                since=since, by=by)
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
    log: Logs = None,
):
    """Prove the log append-only from its git history; exit 1 on any breach. With --log,
    each log, and any key of a private log that a public one names."""
    from . import audit

    if log:
        return _verify_logs(ctx, log, range_, json_)
    with reporting():
        report = audit.verify(ctx.obj.root, range_)
    if json_:
        typer.echo(json.dumps({"commits": report.commits, "files": report.files,
                               "breaches": [f.to_dict() for f in report.breaches],
                               "warnings": [f.to_dict() for f in report.warnings]},
                              ensure_ascii=False, indent=2))
    else:
        for finding in report.findings:
            _print_lines([f"{'breach' if finding.breach else 'warning'}: "
                             f"{finding.problem()}"], "red" if finding.breach else "yellow")
        typer.echo(f"{report.commits} commit(s), {report.files} event file(s): "
                   f"{len(report.breaches)} breach(es), {len(report.warnings)} warning(s)",
                   err=True)
    if report.breaches:
        raise typer.Exit(1)


def _verify_logs(ctx: typer.Context, specs: list[str], range_: str | None, json_: bool):
    from . import log_checks

    with reporting():
        reports, references = log_checks.verify(_logs(ctx, specs), range_)
    if json_:
        typer.echo(json.dumps({"logs": {name: {
            "commits": r.commits, "files": r.files,
            "breaches": [f.to_dict() for f in r.breaches],
            "warnings": [f.to_dict() for f in r.warnings]} for name, r in reports},
            "references": [asdict(p) for p in references]}, ensure_ascii=False, indent=2))
    else:
        for name, report in reports:
            for finding in report.findings:
                _print_lines([f"{name}: {'breach' if finding.breach else 'warning'}: "
                              f"{finding.problem()}"], "red" if finding.breach else "yellow")
        _print_lines((f"reference: {p}" for p in references), "red")
        for name, report in reports:
            typer.echo(f"{name}: {report.commits} commit(s), {report.files} event file(s): "
                       f"{len(report.breaches)} breach(es), {len(report.warnings)} "
                       "warning(s)", err=True)
        if references:
            typer.echo(f"{len(references)} reference(s) to a private log's keys", err=True)
    if references or any(report.breaches for _, report in reports):
        raise typer.Exit(1)


@app.command("sync")
def sync_command(ctx: typer.Context):
    """Fetch, verify, rebase onto and push to the upstream (else origin), then catch up."""
    from . import sync

    with reporting():
        done = sync.sync(ctx.obj.root, ctx.obj.db)
    for finding in done.warnings:
        typer.echo(f"warning: {finding.problem()}", err=True)
    typer.echo(f"synced with {done.remote} {done.branch}: {done.incoming} commit(s) in, "
               f"{done.outgoing} out")


def main() -> None:
    """Run the app, a usage error printed as one line and a --help hint: Typer's own way is
    a box of five or six lines."""
    from typer._click.exceptions import NoArgsIsHelpError, UsageError  # Typer's own Click

    try:
        code = app(prog_name="cooplog", standalone_mode=False)
    except NoArgsIsHelpError as e:  # the help, which Typer's rich help has printed already
        if e.format_message().strip():
            typer.echo(e.format_message(), err=True)
        code = USAGE
    except UsageError as e:
        command = e.ctx.command_path if e.ctx else "cooplog"
        message = " ".join(e.format_message().split()).rstrip(".")
        typer.echo(f"error: {message} (see `{command} --help`)", err=True)
        code = USAGE
    except typer.Abort:
        typer.echo("aborted", err=True)
        code = 1
    sys.exit(code if isinstance(code, int) else 0)
