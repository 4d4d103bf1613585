"""A log's own `datasette/` folder and metadata.yml add to the published site and never weaken
it (issue 21, defect 1). Logs arrive from other offices by `cooplog sync`, so: `serve` runs
only cooplog's plugins, never Python from a log; a log's templates are looked up before
cooplog's, which stay; its metadata.yml describes, and what would grant, configure or write
is left out and named, one warning line per item, when serve starts."""

from __future__ import annotations

import asyncio
import re
import signal
import sqlite3
from pathlib import Path

import httpx
import pytest

from cooplog import log_assets, serve
from cooplog.errors import CooplogError
from helpers import built
from test_serve import QUERIES, start_serve, stop_serve

# a log's metadata.yml that tries every way to open the site, beside what it may say
HOSTILE_METADATA = """\
title: Customs desk log
description: What the customs desk did.
allow_sql: true
permissions:
  insert-row: true
plugins:
  datasette-atom:
    allow_unsafe_html_in_canned_queries: true
databases:
  cooplog:
    allow: true
    tables:
      events:
        description: Every event the customs desk recorded.
        allow:
          id: root
    queries:
      add_state:
        sql: insert into _state (name, value) values (:name, 'written by the log')
        write: true
        on_success_message: Written.
      desk_organizations:
        title: The desk's organizations
        sql: select key, name from organizations order by key
"""

IGNORED_METADATA = [
    "metadata.yml: allow_sql: ignored: access rules are cooplog's alone (the published log "
    "is read-only)",
    "metadata.yml: permissions: ignored: access rules are cooplog's alone (the published log "
    "is read-only)",
    "metadata.yml: plugins: ignored: plugin configuration is cooplog's alone",
    "metadata.yml: databases.cooplog.allow: ignored: access rules are cooplog's alone (the "
    "published log is read-only)",
    "metadata.yml: databases.cooplog.tables.events.allow: ignored: access rules are cooplog's "
    "alone (the published log is read-only)",
    "metadata.yml: databases.cooplog.queries.add_state: ignored: a write query (the "
    "published log is read-only)",
]


def get(ds, path: str, **options) -> httpx.Response:
    return asyncio.run(ds.client.get(path, **options))


def state(db: Path) -> list[tuple]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute("select * from _state order by name").fetchall()
    finally:
        conn.close()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- the real `cooplog serve` --------------------------------------------------------------


@pytest.mark.slow
def test_an_empty_templates_folder_in_a_log_keeps_every_plugin(seeded, tmp_path):
    """`mkdir -p datasette/templates` switched off every cooplog plugin, the guard included."""
    (seeded / "datasette" / "templates").mkdir(parents=True)
    process, port, stderr_path = start_serve(seeded, tmp_path)  # waits for /-/cooplog.json
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            assert client.get("/-/cooplog.json").json()["watcher"] == "alive"
            report = client.get("/report", params={"period": "2008/2009"})
            assert report.status_code == 200
            assert "Signed an MoU." in report.text
            for sql in ("select length(zeroblob(9000000))",
                        "select printf('%.*c', 1000, 'x')", "select format('%s', 'x')"):
                refused = client.get("/cooplog.json", params={"sql": sql})
                assert refused.status_code == 400, (sql, refused.text[:300])
            for path in ("/cooplog/events", "/cooplog", "/"):
                posted = client.post(path, data={"sql": "delete from events"})
                assert posted.status_code == 405, (path, posted.status_code)
    finally:
        stop_serve(process, signal.SIGINT, stderr_path)
    assert "warning" not in stderr_path.read_text(encoding="utf-8")


@pytest.mark.slow
def test_a_log_adds_templates_and_metadata_and_never_code_or_writes(seeded, tmp_path):
    """Office B's commit brings a plugin, templates, stray files and a metadata.yml that tries
    to open the site: A's serve shows B's pages and descriptions, runs none of B's Python,
    writes nothing, and names each thing it left out."""
    marker = tmp_path / "innocent-ran"
    folder = seeded / "datasette"
    write(folder / "plugins" / "innocent.py",
          f"from pathlib import Path\nPath({str(marker)!r}).write_text('imported')\n")
    write(folder / "templates" / "index.html",
          '{% extends "default:index.html" %}{% block content %}'
          "<p>The customs desk's own front page.</p>{{ super() }}{% endblock %}")
    write(folder / "templates" / "pages" / "about-the-desk.html",
          '{% extends "base.html" %}{% block content %}<h1>About the customs desk</h1>'
          "{% endblock %}")
    write(folder / "settings.json", '{"allow_download": true}')
    write(seeded / "metadata.yml", HOSTILE_METADATA)
    db = seeded / ".cooplog" / "cooplog.db"

    process, port, stderr_path = start_serve(seeded, tmp_path)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            plugins = {p["name"] for p in client.get("/-/plugins.json").json()}
            assert "cooplog_guard.py" in plugins
            assert "innocent.py" not in plugins

            # the write query is not published, and a POST with a CSRF token writes nothing
            before = state(db)
            page = client.get("/cooplog/add_state")
            assert page.status_code == 404
            token = re.search(r'name="csrftoken" value="([^"]+)"', page.text)
            posted = client.post("/cooplog/add_state", data={
                "name": "pwned", "csrftoken": token[1] if token else "x"})
            assert posted.status_code == 405
            assert state(db) == before
            metadata = client.get("/-/metadata.json").json()
            queries = metadata["databases"]["cooplog"]["queries"]
            assert not [name for name, query in queries.items() if query.get("write")]
            assert "datasette-atom" not in metadata["plugins"]
            assert not {"allow", "allow_sql", "permissions"} & {
                *metadata, *metadata["databases"]["cooplog"],
                *metadata["databases"]["cooplog"]["tables"]["events"]}

            # what the log may add is there, beside cooplog's own pages
            home = client.get("/")
            assert "The customs desk's own front page." in home.text
            assert "Customs desk log" in home.text
            assert "About the customs desk" in client.get("/about-the-desk").text
            assert client.get("/cooplog/desk_organizations.json", params={
                "_shape": "objects"}).json()["rows"][0] == {"key": "gef", "name": "The GEF"}
            report = client.get("/report", params={"period": "2008/2009"})
            assert report.status_code == 200 and "Signed an MoU." in report.text
            assert client.get("/-/cooplog.json").status_code == 200
    finally:
        stop_serve(process, signal.SIGINT, stderr_path)
    assert not marker.exists(), "the log's plugin was imported"
    warnings = [line.removeprefix("cooplog: warning: ")
                for line in stderr_path.read_text(encoding="utf-8").splitlines()
                if line.startswith("cooplog: warning: ")]
    assert warnings == [
        *IGNORED_METADATA,
        "datasette/plugins/innocent.py: ignored: serve never runs Python from a log, only "
        "cooplog's own plugins",
        "datasette/settings.json: ignored: a log's datasette/ folder may hold only templates "
        "and static",
    ]


# --- what a log's metadata.yml may say ------------------------------------------------------


def test_a_logs_metadata_adds_to_cooplogs_and_cannot_grant_configure_or_write(tmp_path):
    root = tmp_path / "log"
    write(root / "metadata.yml", HOSTILE_METADATA)
    assets = log_assets.read(root)
    assert assets.ignored == IGNORED_METADATA
    merged = serve.metadata(root, assets.metadata)
    assert merged["title"] == "Customs desk log"
    assert "allow_sql" not in merged and "permissions" not in merged
    assert merged["plugins"] == serve.metadata(tmp_path / "plain")["plugins"]  # cooplog's own
    database = merged["databases"]["cooplog"]
    assert "allow" not in database
    assert set(database["queries"]) == {*QUERIES, "desk_organizations", "meetings_calendar",
                                        "recent_events"}
    assert database["queries"]["search"]["sql"].startswith("select id, occurred")
    events = database["tables"]["events"]
    assert events["description"] == "Every event the customs desk recorded."
    assert "allow" not in events
    assert events["facets"] == ["type"]  # cooplog's, kept beside the log's description
    assert database["tables"]["organizations"]["label_column"] == "name"  # cooplog's others


def test_a_logs_query_in_datasettes_short_form_is_kept(tmp_path):
    root = tmp_path / "log"
    write(root / "metadata.yml",
          "databases:\n  cooplog:\n    queries:\n      names: select name from organizations\n")
    assert log_assets.read(root).metadata["databases"]["cooplog"]["queries"] == {
        "names": {"sql": "select name from organizations"}}


@pytest.mark.parametrize(("text", "said"), [
    ("title: [unclosed\n", "metadata.yml: not valid YAML (while parsing"),
    ("- a list\n- not a mapping\n", "metadata.yml: the file: must be a mapping"),
    ("databases: [cooplog]\n", "metadata.yml: databases: must be a mapping"),
    ("databases:\n  cooplog:\n    tables:\n      events: just words\n",
     "metadata.yml: databases.cooplog.tables.events: must be a mapping"),
    ("databases:\n  cooplog:\n    queries:\n      q: [select 1]\n",
     "metadata.yml: databases.cooplog.queries.q: must be a mapping"),
])
def test_a_metadata_file_that_is_not_metadata_is_named_and_serve_refuses(
        seeded, cli, text, said):
    write(seeded / "metadata.yml", text)
    with pytest.raises(CooplogError) as refused:
        log_assets.read(seeded)
    assert said in str(refused.value)
    result = cli(seeded, "serve", "--port", "1")  # refused before it listens
    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: ") and said in line and "correct it" in line


# --- what a log's datasette/ folder may hold ---------------------------------------------------


def test_a_logs_template_runs_no_python_and_cannot_write(published_root, tmp_path):
    """Jinja left open is Python: the log's templates are rendered in a sandbox that reaches
    neither modules nor the connection that writes."""
    root, db = published_root
    marker = tmp_path / "template-ran"
    templates = root / "datasette" / "templates"
    write(templates / "database.html",
          "{{ cycler.__init__.__globals__.os.system('touch " + str(marker) + "') }}")
    write(templates / "row.html",
          "{{ urls.ds.get_database('cooplog').execute_write("
          "\"insert into _state (name, value) values ('pwned', 'yes')\") }}")
    before = state(db)
    ds = serve.datasette(root, db)
    assert get(ds, "/cooplog").status_code == 500
    assert get(ds, "/cooplog/organizations/wco").status_code == 500
    assert not marker.exists()
    assert state(db) == before


@pytest.mark.slow
def test_beside_a_logs_templates_every_page_of_cooplogs_renders(published_root):
    """The sandbox renders cooplog's and Datasette's templates as before."""
    root, db = published_root
    write(root / "datasette" / "templates" / "pages" / "kept.html", "<p>the log's page</p>")
    write(root / "datasette" / "static" / "desk.css", "body { color: navy; }")
    ds = serve.datasette(root, db)
    assert get(ds, "/static/desk.css").text == "body { color: navy; }"
    for path in ("/", "/cooplog", "/cooplog/events", "/cooplog/organizations/wco",
                 "/cooplog/meetings", "/cooplog/organization_history?org=wco",
                 "/cooplog/search?q=customs", "/-/dashboards/cooperation",
                 "/report?period=2008/2009", "/kept", "/-/plugins"):
        page = get(ds, path)
        assert page.status_code == 200, (path, page.text[:500])
    assert type(ds.jinja_env) is log_assets.Sandbox


def test_a_logs_template_that_links_out_of_it_is_not_served(published_root, tmp_path):
    root, db = published_root
    secret = write(tmp_path / "elsewhere" / "secret.html", "the server's own secret")
    pages = root / "datasette" / "templates" / "pages"
    pages.mkdir(parents=True)
    (pages / "leak.html").symlink_to(secret)
    write(pages / "kept.html", "<p>a page of the log's own</p>")
    ds = serve.datasette(root, db)
    assert get(ds, "/kept").text == "<p>a page of the log's own</p>"
    leak = get(ds, "/leak")
    assert leak.status_code == 404
    assert "secret" not in leak.text


def test_a_logs_file_or_folder_that_links_out_of_it_is_left_out_and_named(published_root, tmp_path):
    root, db = published_root
    elsewhere = tmp_path / "elsewhere"
    write(elsewhere / "id_rsa", "the server's own key")
    write(elsewhere / "metadata.yml", "title: the server's own settings\n")
    (root / "metadata.yml").symlink_to(elsewhere / "metadata.yml")
    (root / "datasette").mkdir()
    (root / "datasette" / "static").symlink_to(elsewhere, target_is_directory=True)
    warned = []
    ds = serve.datasette(root, db, warn=warned.append)
    assert warned == ["metadata.yml: ignored: a link out of the log",
                      "datasette/static: ignored: a link out of the log"]
    assert get(ds, "/static/id_rsa").status_code == 404
    assert "the server's own settings" not in get(ds, "/").text


def test_without_cooplogs_own_plugins_serve_refuses(published_root, tmp_path, monkeypatch):
    """An install that lacks them would publish the log unguarded."""
    root, db = published_root
    monkeypatch.setattr(log_assets, "PLUGINS", tmp_path / "no-plugins")
    with pytest.raises(CooplogError) as refused:
        serve.datasette(root, db)
    assert str(refused.value).startswith(f"{tmp_path / 'no-plugins'}: cooplog's Datasette "
                                         "plugins are missing")


def test_the_repository_cooplog_runs_from_is_served_with_nothing_left_out(sample_db):
    """The sample log's metadata.yml and datasette/ are cooplog's own, not a log's."""
    warned = []
    ds = serve.datasette(log_assets.COOPLOG, sample_db, warn=warned.append)
    assert warned == []
    assert "Basel Convention secretariat" in get(ds, "/").text
    assert get(ds, "/-/dashboards/cooperation").status_code == 200


@pytest.fixture
def published_root(tmp_path):
    """A log with one organization, built: (root, db)."""
    from cooplog import append
    from cooplog.store import Store

    root = tmp_path / "log"
    store = Store(root)
    store.events_dir.mkdir(parents=True)
    append.append(store, [("org", {"type": "organization.registered", "data": {
        "key": "wco", "name": "World Customs Organization", "category": "un"}})],
        by="assets@example.org", commit=False)
    return root, built(root, root / ".cooplog" / "cooplog.db")
