"""Every test gets a git that ignores the user's configuration, and no cooplog settings."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cooplog import append, repo
from cooplog.cli import app
from cooplog.store import Store
from helpers import RECORDER, SEED, built, git, written

REPO = Path(__file__).resolve().parents[1]


# Each test's temporary folder in memory when the machine has room there: the logs, git
# repositories and databases the tests make are real files on a real file system (tmpfs),
# but their fsyncs cost nothing, which was two fifths of the quick run on a disk.
IN_MEMORY = Path("/dev/shm")
IN_MEMORY_ROOM = 4 * 2**30
IN_MEMORY_KEY = pytest.StashKey[str]()


def pytest_configure(config):
    if config.option.basetemp is None and IN_MEMORY.is_dir() and os.access(IN_MEMORY, os.W_OK):
        if shutil.disk_usage(IN_MEMORY).free >= IN_MEMORY_ROOM:
            config.option.basetemp = tempfile.mkdtemp(prefix="cooplog-tests-", dir=IN_MEMORY)
            config.stash[IN_MEMORY_KEY] = config.option.basetemp


def pytest_unconfigure(config):
    made = config.stash.get(IN_MEMORY_KEY, None)
    if made:
        shutil.rmtree(made, ignore_errors=True)


def _isolate(patch: pytest.MonkeyPatch, home: Path) -> None:
    patch.setenv("HOME", str(home))
    patch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    patch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for role in ("AUTHOR", "COMMITTER"):
        patch.setenv(f"GIT_{role}_NAME", "Test Author")
        patch.setenv(f"GIT_{role}_EMAIL", "author@example.org")
    for name in ("COOPLOG_USER", "COOPLOG_ROOT", "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        patch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def isolated_git(tmp_path_factory, monkeypatch):
    _isolate(monkeypatch, tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="session")
def _templates(tmp_path_factory) -> tuple[Path, Path]:
    """A new log and a seeded one, made once (with git isolated too) and copied per test."""
    with pytest.MonkeyPatch.context() as patch:
        _isolate(patch, tmp_path_factory.mktemp("home"))
        empty = tmp_path_factory.mktemp("new") / "log"
        repo.init(empty)
        git(empty, "config", "user.email", RECORDER)
        git(empty, "config", "user.name", "Recorder")
        seeded = tmp_path_factory.mktemp("seeded") / "log"
        shutil.copytree(empty, seeded, symlinks=True)
        append.append(Store(seeded), [(f"seed {i}", body) for i, body in enumerate(SEED)],
                      message="seed")
    return empty, seeded


@pytest.fixture
def log(tmp_path, _templates) -> Path:
    """A new, empty log with a recorder identity in its git config."""
    return shutil.copytree(_templates[0], tmp_path / "log", symlinks=True)


@pytest.fixture
def seeded(tmp_path, _templates) -> Path:
    """A log where the organizations and entities of helpers.SEED exist (one commit)."""
    return shutil.copytree(_templates[1], tmp_path / "log", symlinks=True)


@pytest.fixture
def cli():
    """Run `cooplog --root ROOT ARGS...` in-process; stdout and stderr stay apart."""
    runner = CliRunner()

    def invoke(root, *args, input=None):
        return runner.invoke(app, ["--root", str(root), *map(str, args)], input=input,
                             catch_exceptions=False)

    return invoke


@pytest.fixture(scope="session")
def sample_db(tmp_path_factory) -> Path:
    """The repository's sample log (events/, 2008–2009) built once into a scratch database:
    tests that read the real record share it and never touch the repository."""

    db = tmp_path_factory.mktemp("sample") / "cooplog.db"
    built(REPO, db)
    return db


@pytest.fixture
def store(tmp_path) -> Store:
    """An empty log without git: events/ and nothing else."""
    store = Store(tmp_path / "log")
    store.events_dir.mkdir(parents=True)
    return store


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "db" / "cooplog.db"


@pytest.fixture
def meeting(seeded, cli) -> str:
    """A meeting recorded in English, in Brussels, from 23 March to 11 May 2009 (the
    languages' tests translate it)."""
    result = cli(seeded, "add", "meeting", "--title", "Customs enforcement course",
                 "--role", "presenter", "--city", "Brussels", "--country", "BE",
                 "--date", "2009-03-23/2009-05-11", "--org", "wco",
                 "--summary", "Trained customs officers in Brussels.")
    assert result.exit_code == 0, result.output
    [(event_id, _)] = written(result, seeded)
    result = cli(seeded, "correct", event_id, "--set", "lang=en", "--reason", "in English")
    assert result.exit_code == 0, result.output
    return event_id


def pytest_collection_modifyitems(items):
    """Every browser and reliability test is slow (seconds to minutes each): marked by its
    folder, so that a new module there needs no marker of its own to stay out of the quick
    run (`-m "not slow"`)."""
    for item in items:
        if item.path.parent.name in ("browser", "reliability"):
            item.add_marker(pytest.mark.slow)
