"""6. Bad input: a corpus of broken and hostile files (tests/reliability/corpus/, each with
`@ID@` where its id goes), plus what is made at test time rather than committed: a 20 MB
file, files of exactly the size limit and one byte over, a symbolic link to an event
outside the log, a folder named like an event file and a named pipe. Each one is named by
`cooplog validate` and listed in `problems` by a full build and by the watcher, with the
field and words a person can act on; the good files beside them project; nothing crashes,
hangs or stalls the watcher."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from faults import COOPLOG, envelope, ids, ids_from, query, wait_until

from cooplog import append, events, serve
from cooplog.store import MAX_EVENT_BYTES, Store
from test_watch import watching

# the reliability suite (README, "Reliability"): minutes in all, so `-m "not slow"` skips it

CORPUS = Path(__file__).resolve().parent / "corpus"

# corpus file -> (field, words the problem must hold); None: a valid event
EXPECTED = {
    "invalid-json.json": ("", "not valid JSON"),
    "truncated.json": ("", "not valid JSON (Input data was truncated)"),
    "deeply-nested.json": ("", "nested too deeply"),
    "nan.json": ("", "not valid JSON"),
    "infinity.json": ("", "not valid JSON"),
    "duplicate-keys.json": ("summary", "given twice in one object"),
    "non-utf-8.json": ("", "not UTF-8 text"),
    "byte-order-mark.json": ("", "byte-order mark"),
    "empty.json": ("", "empty: an event file holds one JSON object"),
    "key-with-bracket.json": ("data.title]", "unknown field"),
    "key-with-quote.json": ('or"gs', "unknown field"),
    "key-with-space.json": ("sum mary", "unknown field"),
    "org-key-with-space.json": ("orgs[0]", "not a key"),
    "html-in-a-field.json": ("type", "unknown type \"<script>alert('type')</script>\""),
    "html-in-the-summary.json": None,
}
MADE = {  # made at test time
    "20 MB": ("", "too large for an event (20,971,"),
    "one byte over the limit": ("", f"too large for an event ({MAX_EVENT_BYTES + 1:,} bytes"),
    "exactly the limit": None,
    "symbolic link out of the log": ("", "a symbolic link, not an event file"),
    "folder": ("", "a folder named like an event file"),
    "named pipe": ("", "not a regular file"),
}


def sized(event_id: str, size: int) -> bytes:
    """A valid event file of exactly `size` bytes (a long summary)."""
    body = envelope(event_id, "activity.noted", {}, summary="x")
    padding = size - len(events.encode(body))
    body["summary"] = "x" * (1 + padding)
    raw = events.encode(body)
    assert len(raw) == size
    return raw


def make_corpus(root: Path, outside: Path) -> dict[str, tuple[str, tuple | None]]:
    """Write every bad and good input under root: name -> (relative path, expectation)."""
    store = Store(root)
    names = [*EXPECTED, *MADE]
    placed = dict(zip(names, ids_from(datetime(2024, 6, 1, tzinfo=timezone.utc), len(names)),
                      strict=True))
    out = {}
    for name, event_id in placed.items():
        path = store.path_for(event_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        if name in EXPECTED:
            path.write_bytes((CORPUS / name).read_bytes().replace(b"@ID@", event_id.encode()))
        elif name == "20 MB":
            with open(path, "wb") as f:  # a valid event but for its size
                f.write(sized(event_id, 20 * 2**20))
        elif name == "one byte over the limit":
            path.write_bytes(sized(event_id, MAX_EVENT_BYTES + 1))
        elif name == "exactly the limit":
            path.write_bytes(sized(event_id, MAX_EVENT_BYTES))
        elif name == "symbolic link out of the log":
            target = outside / f"{event_id}.json"
            target.write_bytes(events.encode(envelope(event_id, "activity.noted", {})))
            path.symlink_to(target)
        elif name == "folder":
            path.mkdir()
            (path / "inside.json").write_bytes(b"{}")
        else:
            os.mkfifo(path)
        out[name] = (store.relpath(path), EXPECTED.get(name, MADE.get(name)))
    return out


def check_problems(db: Path, corpus: dict) -> None:
    listed = {}
    for path, field, message in query(db, "select path, field, message from problems"):
        listed.setdefault(path, []).append((field, message))
    for name, (rel, expected) in corpus.items():
        if expected is None:
            assert rel not in listed, (name, listed.get(rel))
            continue
        field, words = expected
        assert any(f == field and words in m for f, m in listed.get(rel, [])), (
            name, listed.get(rel))
    assert set(listed) == {rel for rel, expected in corpus.values() if expected}


def test_every_bad_input_is_named_and_the_rest_projects(log, cli, tmp_path, monkeypatch):
    outside = tmp_path / "outside"
    outside.mkdir()
    corpus = make_corpus(log, outside)
    good = {rel for rel, expected in corpus.values() if expected is None}

    # validate names each one, field and words, and exits 1
    started = time.monotonic()
    result = cli(log, "validate")
    took = time.monotonic() - started
    assert result.exit_code == 1
    output = result.stdout + result.stderr
    for name, (rel, expected) in corpus.items():
        if expected:
            field, words = expected
            assert f"{rel}: {field + ': ' if field else ''}" in output, (name, output)
            assert any(rel in line and words in line for line in output.splitlines()), name
        else:  # a good file may only be warned about (these name no organization)
            assert not any(rel in line for line in output.splitlines()
                           if not line.startswith("warning: ")), name
    assert took < 10  # the 20 MB file is not read

    # a full build lists each in problems; the good files are events
    db = tmp_path / "built.db"
    assert cli(log, "--db", db, "build").exit_code == 0
    check_problems(db, corpus)
    assert {f"events/2024/06/{i}.json" for i in ids(db)} == good

    # the watcher, file by file, the same; a file after them all is applied at once
    store = Store(log)
    watched = tmp_path / "watched" / "cooplog.db"
    for rel, _ in corpus.values():
        os.rename(log / rel, tmp_path / Path(rel).name)
    with watching(store, watched) as watcher:
        for rel, _ in corpus.values():
            os.rename(tmp_path / Path(rel).name, log / rel)
        (after, path), = append.append(store, [("after", {
            "type": "activity.noted", "occurred": "2010", "summary": "After the bad ones."})],
            commit=False)
        appended = time.monotonic()
        wait_until(lambda: after.id in (ids(watched) or ()), 10,
                   "the watcher applied the file written after the bad ones")
        lag = time.monotonic() - appended
        wait_until(lambda: len(query(watched, "select * from _files")) == len(corpus) + 1, 10,
                   "the watcher recorded every file")
        check_problems(watched, corpus)
        assert watcher.status.errors == []
        assert watcher.status.alive
        # problems that quote the input show it as text, not as markup
        monkeypatch.setattr(serve, "WATCHER", watcher)
        page = asyncio.run(serve.datasette(log, watched).client.get("/cooplog/problems"))
        assert page.status_code == 200
        assert "<script>alert(" not in page.text
        assert "&lt;script&gt;alert(" in page.text
    assert lag < 5, lag

    # the audit and verification read every file too: they end (no pipe holds them)
    for command in (["history"], ["verify"]):
        done = subprocess.run([str(COOPLOG), "--root", str(log), *command], timeout=60,
                              capture_output=True, text=True)
        assert "Traceback" not in done.stderr, (command, done.stderr)


def test_add_refuses_an_event_over_the_size_limit(log, cli, tmp_path):
    body = tmp_path / "big.json"
    body.write_text('{"type": "activity.noted", "occurred": "2009", "summary": "'
                    + "x" * MAX_EVENT_BYTES + '"}', encoding="utf-8")
    before = list((log / "events").rglob("*.json"))
    result = cli(log, "add", "--json", body)
    assert result.exit_code == 1
    assert "too large for an event" in result.stdout + result.stderr
    assert list((log / "events").rglob("*.json")) == before


def test_validate_stays_small_with_a_20_mb_file(log, tmp_path):
    """The 20 MB file is refused by its size, unread: validating it costs no more memory
    than validating without it."""
    def peak(extra: bool) -> int:
        root = tmp_path / ("with" if extra else "without")
        corpus = make_corpus(root, tmp_path)
        if not extra:
            (root / corpus["20 MB"][0]).unlink()
        process = subprocess.Popen([str(COOPLOG), "--root", str(root), "validate"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        assert process.returncode == 1
        return usage.ru_maxrss * 1024  # kilobytes on Linux

    with_file, without = peak(True), peak(False)
    assert with_file < without + 5 * 2**20, (with_file, without)


@pytest.mark.parametrize("raw, field", [
    (b'{"a": 1, "a": 2}', "a"),
    (b'{"a" : 1, "a"\n: 2}', "a"),  # spaces and a newline before the colons
    (b'{"s": "x\\u0022:", "a": 1, "a": 2}', "a"),  # an escape that spells `":`
    (b'{"d": [{"t": "x", "t": "x"}]}', "d[0].t"),  # nested, and the same value twice
    (b'{"d": {"e": {"f": 1, "f": 1}}}', "d.e.f"),
    (b'{"a\\"": 1, "a\\u0022": 2}', 'a"'),  # one key, spelled two ways
])
def test_a_repeated_key_is_named_wherever_it_is(raw, field):
    with pytest.raises(events.Invalid) as refused:
        events.decode(raw)
    assert refused.value.problems == [(field, "given twice in one object: keep one of the two")]


@pytest.mark.parametrize("raw", [
    b'{"s": "he said \\": no", "t": {"u": "\\":\\":"}}',  # `":` inside strings
    b'{"a" : 1, "b" :2}',
    b'{"s": "caf\\u00e9", "t": 1}',
])
def test_no_repeated_key_is_invented(raw):
    assert events.decode(raw)
