"""`report`, `export ics` and `sync` read the database through one helper
(`projection.fresh`): caught up first, unless a running watcher holds the lease that says it
keeps the database in step (issue 19: `export ics` caught up regardless)."""

from __future__ import annotations

import os

import pytest

from cooplog import lease
from cooplog.store import default_db

TITLE = "Enforcement Committee"


def add_meeting(cli, root) -> None:
    result = cli(root, "add", "meeting", "--title", TITLE, "--role", "observer",
                 "--date", "2009-03-23", "--summary", "Attended the Enforcement Committee.",
                 "--org", "wco")
    assert result.exit_code == 0, result.stderr


@pytest.fixture
def watched(seeded, cli):
    """A log whose database a watcher (here: this test, holding its lease) keeps in step."""
    assert cli(seeded, "build").exit_code == 0
    fd = lease.take(default_db(seeded))
    assert fd is not None
    try:
        yield seeded
    finally:
        os.close(fd)


@pytest.mark.parametrize("command", [("export", "ics"), ("report", "--period", "2009")])
def test_a_read_trusts_the_watcher_that_holds_the_lease(watched, cli, command):
    add_meeting(cli, watched)  # the watcher has not applied it yet
    trusting = cli(watched, *command)
    assert trusting.exit_code == 0, trusting.stderr
    assert "Enforcement Committee" not in trusting.stdout


@pytest.mark.parametrize("command", [("export", "ics"), ("report", "--period", "2009")])
def test_a_read_without_a_watcher_catches_up_first(seeded, cli, command):
    assert cli(seeded, "build").exit_code == 0
    add_meeting(cli, seeded)
    fresh = cli(seeded, *command)
    assert fresh.exit_code == 0, fresh.stderr
    assert "Enforcement Committee" in fresh.stdout
