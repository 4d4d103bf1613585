"""The README's short tour and user guide, run as written: the shell blocks of each are one
session in an empty folder (with the real `cooplog`, git, a real `serve` and a bare remote),
so that both stay true."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import commits, read_json

pytestmark = pytest.mark.slow  # real servers and processes, seconds each

README = Path(__file__).resolve().parents[1] / "README.md"


def blocks(heading: str) -> list[str]:
    """The ```sh blocks of the README's section under this `## ` heading, in order."""
    text = README.read_text(encoding="utf-8")
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^```sh\n(.*?)^```$", section, re.S | re.M)


def guide_blocks() -> list[str]:
    return blocks("User guide")


def run_bash(script: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    """The script under `set -euo pipefail`; anything it left running is stopped."""
    stop_leftovers = "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT"
    return subprocess.run(["bash", "-c", f"set -euo pipefail\n{stop_leftovers}\n{script}"],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_tour_runs_as_written(tmp_path):
    """From a clone with `.venv` installed: here a `.venv/bin/activate` that puts this
    environment's `cooplog` on PATH, and nothing else on it but the system's."""
    activate = tmp_path / ".venv" / "bin" / "activate"
    activate.parent.mkdir(parents=True)
    activate.write_text(f'export PATH="{Path(sys.executable).parent}:$PATH"\n')
    env = {**os.environ, "PATH": os.defpath}
    script = "\n".join(blocks("A short tour"))
    result = run_bash(script, tmp_path, env)
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr and "error" not in result.stderr, result.stderr

    log = tmp_path / "mylog"
    by_type: dict[str, list[dict]] = {}
    for path in sorted((log / "events").rglob("*.json")):
        body = read_json(path)
        by_type.setdefault(body["type"], []).append(body)
    assert {t: len(b) for t, b in by_type.items()} == {
        "organization.registered": 1, "meeting.attended": 1, "submission.made": 1,
        "status.changed": 2, "request.made": 1, "activity.noted": 2, "event.corrected": 1,
        "event.retracted": 1, "translation.added": 1}
    (meeting,), (correction,) = by_type["meeting.attended"], by_type["event.corrected"]
    assert meeting["data"]["location"] == {"city": "Bruxelles", "country": "BE"}
    assert correction["data"]["target"] == meeting["id"]
    assert correction["data"]["set"] == {
        "data.role": "presenter", "data.location": {"city": "Brussels", "country": "BE"}}
    assert 'data.location: {"city": "Bruxelles", "country": "BE"} → {"city": "Brussels", ' \
           '"country": "BE"}' in result.stdout  # show and history, old → new
    assert "Trained customs officers with the WCO." in result.stdout  # the report
    assert (log / "annex.docx").read_bytes()[:2] == b"PK"
    assert "SUMMARY:29th session of the WCO Enforcement Committee" in (
        log / "meetings.ics").read_text(encoding="utf-8")
    (translation,) = by_type["translation.added"]
    assert translation["data"] == {"target": meeting["id"], "lang": "fr", "summary": (
        "Le Secrétariat a fait un exposé au nom des secrétariats BRS.")}
    assert "Le Secrétariat a fait un exposé au nom des secrétariats BRS." in result.stdout
    assert [c.split(":")[0] for c in commits(log)[:2]] == ["translation.added", "event.retracted"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_guide_has_its_five_tasks():
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## User guide\n", 1)[1].split("\n## ", 1)[0]
    assert re.findall(r"^### (.*)$", section, re.M) == [
        "Recording a meeting", "Fixing a mistake", "Producing the report",
        "Subscribing to the calendar", "Syncing two offices"]
    assert len(guide_blocks()) == 5


@pytest.mark.slow  # the whole guide: git, a real serve and a remote, about ten seconds
def test_the_user_guide_runs_as_written(tmp_path):
    port = free_port()  # the only change: a port nobody else is using
    script = "\n".join(guide_blocks()).replace(":8001/", f":{port}/")
    script = script.replace("--port 8001", f"--port {port}")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = run_bash(script, tmp_path, env)
    assert result.returncode == 0, result.stderr

    office_a, office_b = tmp_path / "office-a", tmp_path / "office-b"
    bodies = {p.name: read_json(p) for p in (office_a / "events").rglob("*.json")}
    assert {p.name for p in (office_b / "events").rglob("*.json")} == set(bodies)
    by_type = {}
    for body in bodies.values():
        by_type.setdefault(body["type"], []).append(body)
    (meeting,), (correction,) = by_type["meeting.attended"], by_type["event.corrected"]
    assert correction["data"]["target"] == meeting["id"]
    assert correction["data"]["set"] == {"data.role": "presenter"}
    twice, office_b_activity = sorted(by_type["activity.noted"], key=lambda b: b["id"])
    (retraction,) = by_type["event.retracted"]
    assert retraction["data"]["target"] == twice["id"]
    assert office_b_activity["recorded_by"] == "office-b@example.org"

    shown = subprocess.run(["cooplog", "show", meeting["id"], "--json"], cwd=office_a,
                           env=env, capture_output=True, text=True, check=True)
    assert json.loads(shown.stdout)["event"]["data"]["role"] == "presenter"

    report = (office_a / "report-2010.md").read_text(encoding="utf-8")
    assert "The Secretariat took part in the WCO Enforcement Committee." in report
    assert "Briefed the WCO" not in report  # recorded in office B after the report
    assert "Attended the Enforcement Committee in Brussels." not in report  # retracted
    content = json.loads((office_a / "report-2010.json").read_text(encoding="utf-8"))
    assert content["title"] == "Report on international cooperation in 2010"
    assert (office_a / "report-2010.docx").read_bytes()[:2] == b"PK"

    for calendar in ("meetings.ics", "subscribed.ics"):
        text = (office_a / calendar).read_text(encoding="utf-8")
        assert "SUMMARY:29th session of the WCO Enforcement Committee" in text, calendar
        assert "DTSTART;VALUE=DATE:20100302" in text, calendar

    assert commits(office_a) == commits(office_b)
    assert commits(office_a)[0] == "activity.noted: Briefed the WCO on e-waste. (2010-04)"
    assert (office_b / ".git" / "hooks" / "pre-commit").exists()
