"""The event files: written where the id says, read back equal, never over another file, and
never half-written, even when the writer is killed."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings

from cooplog import append, events
from cooplog.errors import CooplogError
from cooplog.rules import check_log
from cooplog.store import MAX_EVENT_BYTES, Store, contents, ulid_month
from helpers import event_files, numbered_ulid, read_json
from strategies import whole_events

ACTIVITY = {"type": "activity.noted", "occurred": "2009", "summary": "Gave a talk."}


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(whole_events())
@pytest.mark.slow
def test_what_is_written_is_read_back_equal(body):
    event = events.validate(body)
    with tempfile.TemporaryDirectory() as folder:
        store = Store(folder)
        path = store.write(event)
        year, month = ulid_month(event.id)
        assert store.relpath(path) == f"events/{year}/{month}/{event.id}.json"
        assert store.read(path) == event
        assert read_json(path) == events.to_dict(event)
        assert list(store.files()) == [path]


def test_ulid_month_is_the_utc_month_of_the_id():
    assert ulid_month("01M8E5GJKGV3RS3DTR98H6BCFN") == ("2026", "11")
    assert ulid_month("00000000000000000000000000") == ("1970", "01")


def test_an_existing_file_is_never_replaced(tmp_path):
    store = Store(tmp_path)
    body = {"id": append.mint_ids(1)[0], "schema": 1, "recorded_at": "2026-11-27T09:31:18Z",
            "recorded_by": "a@example.org", "orgs": [], "data": {}, **ACTIVITY}
    path = store.write(events.validate(body))
    first = path.read_bytes()
    with pytest.raises(CooplogError) as refused:
        store.write(events.validate({**body, "summary": "Something else."}))
    assert str(refused.value) == f"{store.relpath(path)}: id: already exists; nothing was written"
    assert path.read_bytes() == first
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left


def test_files_are_listed_in_path_order_without_temporaries(tmp_path):
    store = Store(tmp_path)
    early, late = store.path_for(numbered_ulid(1, "01GZ000000")), store.path_for(numbered_ulid(1))
    for path in (late, early, late.with_name(".B.1.tmp"), late.with_name("notes.txt"),
                 store.events_dir / "A.json"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
    assert [store.relpath(p) for p in store.files()] == [
        store.relpath(early), store.relpath(late), "events/A.json"]
    assert list(Store(tmp_path / "nowhere").files()) == []


def test_a_symbolic_link_is_not_an_event(tmp_path):
    store = Store(tmp_path)
    (event, path), = append.append(store, [("t", ACTIVITY)], by="a@example.org", commit=False)
    link = tmp_path / "events" / "link.json"
    link.symlink_to(path)
    with pytest.raises(events.Invalid) as refused:
        store.read(link)
    assert refused.value.problems == [("", "a symbolic link, not an event file: remove it")]


KILLED_WRITER = textwrap.dedent("""
    import os, signal, sys
    from cooplog import append, store

    def killed(*args, **kwargs):  # dies between writing the temporary and linking it
        os.kill(os.getpid(), signal.SIGKILL)

    os.link = killed
    body = {"type": "activity.noted", "occurred": "2009", "summary": "Never finished."}
    append.append(store.Store(sys.argv[1]), [("t", body)], by="a@example.org")
""")


def test_a_writer_killed_before_the_rename_leaves_no_event_file(log):
    before = event_files(log)
    process = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(log)],
                             capture_output=True, text=True, timeout=60)
    assert process.returncode == -9, process.stderr
    assert event_files(log) == before
    leftovers = [p for p in (log / "events").rglob("*") if p.is_file()
                 and p.name != ".gitkeep"]
    assert len(leftovers) == 1 and leftovers[0].name.startswith(".")
    assert leftovers[0].name.endswith(".tmp")

    (event, path), = append.append(Store(log), [("t", ACTIVITY)])
    assert event_files(log) == [Store(log).relpath(path)]
    assert check_log(Store(log)) == []


def test_append_leaves_nothing_when_a_write_fails(tmp_path, monkeypatch):
    """A batch is all or nothing: files written before the failure are removed."""
    store = Store(tmp_path)
    link, calls = os.link, []

    def link_until_the_disk_is_full(src, dst):
        calls.append(dst)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return link(src, dst)

    monkeypatch.setattr(os, "link", link_until_the_disk_is_full)
    with pytest.raises(OSError):
        append.append(store, [(f"line {i}", ACTIVITY) for i in range(5)], by="a@example.org")
    assert len(calls) == 3
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


@pytest.mark.parametrize("now", [b"0123456789" * 3, b"01234", b""])
def test_a_file_is_read_as_it_is_even_if_it_changed_since_its_lstat(tmp_path, now):
    """`contents` asks for as many bytes as lstat counted; a file grown or shrunk meanwhile
    is still read whole, as it is now."""
    path = tmp_path / "e.json"
    path.write_bytes(b"0123456789")
    status = path.lstat()
    path.write_bytes(now)
    assert contents(path, status) == now


def test_a_file_grown_past_the_limit_since_its_lstat_is_read_only_to_one_byte_over(tmp_path):
    path = tmp_path / "e.json"
    path.write_bytes(b"{}")
    status = path.lstat()
    path.write_bytes(b"x" * (MAX_EVENT_BYTES + 50))
    assert len(contents(path, status)) == MAX_EVENT_BYTES + 1


def test_a_file_swapped_for_a_pipe_after_its_lstat_is_read_without_waiting(tmp_path):
    """A pipe opened for reading waits for a writer; one put where a file was looked at
    reads as empty instead (its problem is named when it is looked at again)."""
    path = tmp_path / "e.json"
    path.write_bytes(b"{}")
    status = path.lstat()
    path.unlink()
    os.mkfifo(path)
    assert contents(path, status) == b""
