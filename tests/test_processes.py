"""Where the process boundary matters: the installed `cooplog` script, many appends at once,
and what a command-line append imports."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from cooplog.mistakes import NO_ORGANIZATION
from cooplog.rules import check_log
from cooplog.store import Store
from helpers import RECORDER, commits, committed_files, event_files, git, read_json

COOPLOG = Path(sys.executable).parent / "cooplog"
HEAVY = {"sqlite_utils", "sqlite3", "_sqlite3", "datasette", "watchdog", "pycountry",
         "babel", "fpdf", "docx"}  # the last three: dates in words, PDF and Word reports


def run(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([str(COOPLOG), *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


@pytest.mark.slow  # four runs of the real program
def test_the_installed_script(tmp_path):
    root = tmp_path / "log"
    assert run("init", root).returncode == 0
    git(root, "config", "user.email", RECORDER)
    done = run("--root", root, "add", "organization", "--key", "wco", "--name",
               "World Customs Organization", "--category", "intergovernmental")
    assert (done.returncode, done.stderr) == (0, "")
    event_id, path = done.stdout.split()
    assert Path(path).name == f"{event_id}.json"
    assert read_json(Path(path))["data"]["key"] == "wco"
    refused = run("--root", root, "add", "activity", "--date", "2009", "--summary", "S.",
                  "--org", "nowhere")
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr.splitlines() == [
        "error: add activity: --org: unknown organization 'nowhere': register it with "
        "`cooplog add organization --key nowhere ...` or fix the key; nothing was written"]
    checked = run("validate", cwd=root)
    assert (checked.returncode, checked.stderr) == (0, "1 event file(s), no problems\n")
    assert run("add", "activity", cwd=root).returncode == 2


@pytest.mark.slow  # twenty real processes taking turns at git's lock
def test_twenty_appends_at_once_lose_nothing(log):
    processes = [
        subprocess.Popen([str(COOPLOG), "--root", str(log), "add", "activity", "--date",
                          "2009", "--summary", f"Activity number {i}."],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(20)]
    results = [(p.wait(timeout=120), *p.communicate()) for p in processes]
    unattributed = f"warning: add activity: --org: {NO_ORGANIZATION}\n"
    assert [(code, err) for code, _, err in results] == [(0, unattributed)] * 20
    assert len(event_files(log)) == 20
    assert sorted(commits(log)[:20]) == sorted(
        f"activity.noted: Activity number {i}. (2009)" for i in range(20))
    assert len(commits(log)) == 21
    shas = git(log, "rev-list", "HEAD").stdout.split()[:20]
    assert sorted(f for sha in shas for f in committed_files(log, sha)) == event_files(log)
    assert git(log, "status", "--porcelain", "--untracked-files=all").stdout == ""
    assert check_log(Store(log)) == []


def imported(*args: str, cwd=None) -> set[str]:
    """Every module a Python process run with -X importtime loads."""
    done = subprocess.run([sys.executable, "-X", "importtime", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return {m["name"].split(".")[0] for m in re.finditer(
        r"^import time:\s+\d+ \|\s+\d+ \| \s*(?P<name>\S+)$", done.stderr, re.M)}


@pytest.mark.slow
def test_start_up_imports_nothing_heavy(tmp_path):
    modules = imported("-c", "import cooplog.cli")
    assert "cooplog" in modules and "typer" in modules
    assert modules & HEAVY == set()
    # A whole append, as typed at the command line (no country, so no pycountry either).
    modules = imported(str(COOPLOG), "--root", str(tmp_path), "add", "activity",
                       "--date", "2009", "--summary", "S.", "--by", RECORDER, "--no-commit")
    # a temporary file named by os.urandom (secrets loads OpenSSL)
    assert {"ulid", "msgspec"} <= modules and "hashlib" not in modules
    assert modules & HEAVY == set()
    assert len(event_files(tmp_path)) == 1
