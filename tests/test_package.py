"""cooplog installed from its wheel, as a host installs it to publish a log (issue 14, point
6). The wheel carries cooplog's own site (plugins, templates, metadata.yml), so a log made by
`cooplog init`, which has no `datasette/` folder, served with its database elsewhere under
another name, gets the guard, the report and every canned query. Without it, a wheel install
served a log with no guard at all: `//evil.example/` was an off-site redirect."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from test_serve import raw_get, start_serve, stop_serve

pytestmark = pytest.mark.slow  # a wheel, a fresh venv, real servers

REPO = Path(__file__).resolve().parents[1]

EVENTS = [
    {"type": "organization.registered",
     "data": {"key": "wco", "name": "World Customs Organization", "category": "intergovernmental"}},
    {"type": "activity.noted", "occurred": "2009-03", "orgs": ["wco"],
     "summary": "Trained customs officers to spot illegal shipments of waste.", "data": {}},
]


PIP_WHEEL = (sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir")


def source_tree(target: Path, *left_out: str) -> Path:
    """A copy of this tree as a build sees it, without the log, the tests and what a
    developer's checkout holds besides (the build writes beside its sources)."""
    return shutil.copytree(REPO, target, ignore=shutil.ignore_patterns(
        ".*", "build", "*.egg-info", "__pycache__", "events", "tests", *left_out))


def run(*command, **options) -> subprocess.CompletedProcess:
    """The command, with the installed cooplog: never one that PYTHONPATH points at."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True, env=env,
                          **options)
    assert done.returncode == 0, (command, done.stdout[-2000:], done.stderr[-2000:])
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The `cooplog` script of a fresh venv holding the wheel built from this tree, and its
    dependencies as pip is set up to find them (from its cache where it has them)."""
    work = tmp_path_factory.mktemp("wheel")
    run(*PIP_WHEEL, work / "dist", source_tree(work / "source"))
    (wheel,) = (work / "dist").glob("cooplog-*.whl")
    venv = work / "venv"
    run(sys.executable, "-m", "venv", venv)
    run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", wheel)
    return venv / "bin" / "cooplog"


def test_a_wheel_install_serves_a_new_log_guarded_whatever_its_database(
        installed, tmp_path, monkeypatch):
    monkeypatch.delenv("PYTHONPATH", raising=False)
    where = run(installed.parent / "python", "-c",
                "from cooplog import log_assets; print(log_assets.COOPLOG)").stdout.strip()
    assert Path(where).is_relative_to(installed.parents[1]), where  # the wheel's, not REPO's
    log = tmp_path / "log"
    run(installed, "init", log)
    assert not (log / "datasette").exists()
    for body in EVENTS:
        run(installed, "--root", log, "add", "--by", "host@example.org", "--json", "-",
            input=json.dumps(body))

    process, port, stderr_path = start_serve(log, tmp_path, "--db", "elsewhere/x.db",
                                             cooplog=installed)
    try:
        assert (tmp_path / "elsewhere" / "x.db").is_file()
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            plugins = {p["name"] for p in client.get("/-/plugins.json").json()}
            assert "cooplog_guard.py" in plugins
            for path in ("//evil.example/", "/%5Cevil.example/"):
                status, headers = raw_get(port, path)
                assert (status, headers.get("location")) == (404, None), path
            for path in ("/", "/cooplog", "/cooplog/events"):
                assert client.post(path, data={"sql": "delete from events"}).status_code == 405
            assert client.get("/-/cooplog.json").json()["watcher"] == "alive"
            report = client.get("/report", params={"period": "2008/2009"})
            assert report.status_code == 200
            assert "Trained customs officers" in report.text
            queries = client.get("/-/metadata.json").json()["databases"]["cooplog"]["queries"]
            assert {"search", "organization_history", "recent_events"} <= set(queries)
            for name in queries:
                page = client.get(f"/cooplog/{name}")
                assert page.status_code == 200, (name, page.text[:300])
            assert client.get("/cooplog/organization_history.json", params={
                "org": "wco", "_shape": "objects"}).json()["rows"]
            assert client.get("/-/dashboards/cooperation").status_code == 200
    finally:
        stop_serve(process, signal.SIGINT, stderr_path)
    assert "warning" not in stderr_path.read_text(encoding="utf-8")


def test_a_wheel_is_not_built_without_the_guard(tmp_path):
    """A source tree that lost datasette/ (an sdist made without MANIFEST.in) would make a
    wheel that serves every log unguarded: the build stops and names the file."""
    source = source_tree(tmp_path / "source", "datasette")
    built = subprocess.run([*map(str, PIP_WHEEL), str(tmp_path / "dist"), str(source)],
                           capture_output=True, text=True)
    assert built.returncode != 0
    assert (f"{source / 'datasette' / 'plugins' / 'cooplog_guard.py'}: missing: a cooplog "
            "built without it would serve logs unguarded") in built.stdout + built.stderr
    assert not list((tmp_path / "dist").glob("*.whl"))
