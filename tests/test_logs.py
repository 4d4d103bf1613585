"""Several logs named on the command line (issue 18): each way of naming them wrongly is one
line and exit 2, before anything is built, written or served."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cooplog import logs
from cooplog.errors import CooplogError
from helpers import git


def private(root: Path) -> Path:
    (root / logs.SETTINGS_FILE).write_text('visibility = "private"\n', encoding="utf-8")
    return root


def refused(result, *words: str) -> str:
    """The one error line of a refused command (exit 2), which names each of `words`."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def two(seeded, tmp_path) -> tuple[Path, Path]:
    other = shutil.copytree(seeded, tmp_path / "other", symlinks=True)
    return seeded, other


@pytest.mark.parametrize("command", [["serve", "--port", "9"], ["publish", "out"]])
def test_a_folder_that_is_not_a_log_is_refused(cli, seeded, tmp_path, command):
    (tmp_path / "notes").mkdir()
    result = cli(seeded, *command, "--log", f"a={seeded}", "--log", f"b={tmp_path / 'notes'}")
    refused(result, "--log b=", "not a log", "events/")
    result = cli(seeded, *command, "--log", f"a={tmp_path / 'nowhere'}")
    refused(result, "no such folder")
    assert not (seeded / "out").exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", [["serve", "--port", "9"], ["publish", "out"]])
def test_two_logs_with_one_name_are_refused(cli, two, tmp_path, command):
    a, b = two
    refused(cli(a, *command, "--log", f"basel={a}", "--log", f"basel={b}"),
            "two logs named 'basel'")
    refused(cli(a, *command, "--log", f"basel={a}", "--log", f"rotterdam={a}"),
            "the same folder as --log basel")


@pytest.mark.parametrize("spec, words", [("basel", "NAME=PATH"), ("Basel=.", "lower-case"),
                                         ("=.", "NAME=PATH")])
def test_a_log_option_not_written_name_equals_path_is_refused(cli, seeded, spec, words):
    refused(cli(seeded, "publish", "out", "--log", spec), words)


def test_a_private_log_asked_for_with_public_is_refused(cli, seeded, tmp_path):
    private(seeded)
    refused(cli(seeded, "publish", str(tmp_path / "out"), "--public"),
            "--public", "private", "cooplog.toml")
    refused(cli(seeded, "serve", "--port", "9", "--public", "--log", f"talks={seeded}"),
            "talks", "private")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("content, words", [
    (b'visibility = "private', "not valid TOML"),
    (b'visibility = "secret"\n', "neither \"public\" nor \"private\""),
    (b'visibility = "private"\naccess = "all"\n', "access: unknown setting"),
    (b'\xff\xfe', "not UTF-8"),
])
def test_an_invalid_cooplog_toml_is_refused(cli, two, tmp_path, content, words):
    a, b = two
    (b / logs.SETTINGS_FILE).write_bytes(content)
    line = refused(cli(a, "publish", str(tmp_path / "out"), "--log", f"a={a}",
                       "--log", f"b={b}"), words)
    assert str(b / logs.SETTINGS_FILE) in line
    assert not (tmp_path / "out").exists()


def test_an_unreadable_cooplog_toml_is_refused(cli, two, tmp_path):
    a, b = two
    settings = b / logs.SETTINGS_FILE
    settings.mkdir()  # a folder where the file should be: unreadable for root as for anyone
    refused(cli(a, "serve", "--port", "9", "--log", f"a={a}", "--log", f"b={b}"),
            str(settings), "cannot be read")


def test_public_leaves_private_logs_out_and_says_so(two):
    a, b = two
    private(b)
    told = []
    chosen = logs.chosen([f"basel={a}", f"talks={b}"], a, public=True, warn=told.append)
    assert [(log.name, log.private) for log in chosen] == [("basel", False)]
    assert told == [f"--log talks: left out: private ({b / logs.SETTINGS_FILE})"]
    everything = logs.chosen([f"basel={a}", f"talks={b}"], a)
    assert [(log.name, log.visibility) for log in everything] == [
        ("basel", "public"), ("talks", "private")]


def test_without_log_the_site_is_the_log_at_root(seeded):
    (log,) = logs.chosen([], seeded)
    assert (log.name, log.root, log.private) == ("log", seeded, False)
    with pytest.raises(CooplogError, match="each log keeps its own database"):
        logs.chosen([f"a={seeded}"], seeded, db=seeded / "x.db")


def committed_private(root: Path) -> Path:
    private(root)
    git(root, "add", logs.SETTINGS_FILE)
    git(root, "commit", "-q", "-m", "This log is private")
    return root


@pytest.mark.parametrize("edit", ["public", "deleted"])
def test_an_uncommitted_edit_never_makes_a_private_log_public(cli, two, tmp_path, edit):
    """Visibility is what the log's repository holds: a committed private log whose
    cooplog.toml is edited to public (or deleted) in its folder, not committed, stays
    private, and the edit is named."""
    a, b = two
    settings = committed_private(b) / logs.SETTINGS_FILE
    if edit == "public":
        settings.write_text('visibility = "public"\n', encoding="utf-8")
    else:
        settings.unlink()
    told = []
    chosen = logs.chosen([f"basel={a}", f"talks={b}"], a, public=True, warn=told.append)
    assert [log.name for log in chosen] == ["basel"]
    assert f"--log talks: left out: private ({settings})" in told
    assert (f"{settings}: visibility = \"public\" is not committed: the log stays private "
            "until it is (git commit cooplog.toml)" in told) == (edit == "public")
    alone = cli(b, "publish", str(tmp_path / "out"), "--public")
    assert alone.exit_code == 2
    assert alone.stderr.splitlines()[-1].startswith("error: --public: the log(s) asked for "
                                                    "are private")
    assert not (tmp_path / "out").exists()


def test_a_log_made_private_in_its_folder_is_private_before_the_commit(two):
    a, b = two
    private(b)  # not committed
    assert [log.private for log in logs.chosen([f"basel={a}", f"talks={b}"], a)] == [
        False, True]


def test_a_committed_invalid_cooplog_toml_is_refused_as_committed(cli, two, tmp_path):
    a, b = two
    (b / logs.SETTINGS_FILE).write_text('visibility = "secret"\n', encoding="utf-8")
    git(b, "add", logs.SETTINGS_FILE)
    git(b, "commit", "-q", "-m", "a bad setting")
    (b / logs.SETTINGS_FILE).write_text('visibility = "public"\n', encoding="utf-8")
    line = refused(cli(a, "publish", str(tmp_path / "out"), "--log", f"a={a}",
                       "--log", f"b={b}"), "(as committed)", "neither")
    assert str(b / logs.SETTINGS_FILE) in line
