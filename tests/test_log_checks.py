"""`validate --log` and `verify --log` (issue 18): each log checked, its problems named with
the log, and a public log's reference to a key only a private log defines reported."""

from __future__ import annotations

import json
import shutil

import pytest

from helpers import git, numbered_ulid
from test_logs import private
from test_publish import SECRET, basel_and_talks  # noqa: F401 - a fixture

MESSAGE = "'zqx-ministry' is defined only in the private log talks"


@pytest.fixture
def leaking(basel_and_talks):  # noqa: F811
    """basel (public) names the private log's ministry in a committed file of its own."""
    basel, talks = basel_and_talks
    event_id = numbered_ulid(1)
    path = basel / "events" / "2024" / "06" / f"{event_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "id": event_id, "type": "activity.noted", "schema": 1,
        "recorded_at": "2024-06-01T00:00:00Z", "recorded_by": "a@example.org",
        "occurred": "2009-05", "summary": "Met the ministry.", "orgs": ["zqx-ministry"],
        "data": {}}, indent=2) + "\n", encoding="utf-8")
    git(basel, "add", "events")
    git(basel, "commit", "-q", "-m", "a reference to a private key")
    return basel, talks, f"basel: events/2024/06/{event_id}.json: orgs[0]: {MESSAGE}"


def test_validate_of_several_logs_reports_a_public_reference_to_a_private_key(cli, leaking):
    basel, talks, line = leaking
    done = cli(basel, "validate", "--log", f"basel={basel}", "--log", f"talks={talks}")
    assert done.exit_code == 1
    assert any(out.startswith(line) for out in done.stdout.splitlines()), done.stdout
    # the same reference within one log is only an unknown organization
    alone = cli(basel, "validate")
    assert alone.exit_code == 1 and MESSAGE not in alone.stdout
    assert "unknown organization 'zqx-ministry'" in alone.stdout


def test_verify_of_several_logs_reports_it_and_each_logs_proof(cli, leaking):
    basel, talks, line = leaking
    done = cli(basel, "verify", "--log", f"basel={basel}", "--log", f"talks={talks}")
    assert done.exit_code == 1
    assert any(out.startswith(f"reference: {line}") for out in done.stdout.splitlines())
    assert "basel: 3 commit(s), 9 event file(s): 0 breach(es)" in done.stderr
    assert "talks: 3 commit(s), 10 event file(s): 0 breach(es)" in done.stderr


@pytest.mark.slow
def test_logs_that_name_no_private_key_verify_clean(cli, seeded, tmp_path):
    other = shutil.copytree(seeded, tmp_path / "other", symlinks=True)
    private(other)
    git(other, "add", "cooplog.toml")
    git(other, "commit", "-q", "-m", "private")
    done = cli(seeded, "verify", "--log", f"basel={seeded}", "--log", f"talks={other}")
    assert done.exit_code == 0, done.output
    assert SECRET not in done.output
    valid = cli(seeded, "validate", "--log", f"basel={seeded}", "--log", f"talks={other}")
    assert valid.exit_code == 0, valid.output
