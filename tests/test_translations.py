"""Translations as events (DESIGN.md, "Languages"): `translation.added` is checked like any
event, projected into `translations`, corrected and retracted like any event, and appended
with `cooplog translate`."""

from __future__ import annotations

import pytest

import test_projection
from cooplog import events
from helpers import built, commits, read_json, snapshot, written
from test_projection import Files, applied, body, problems, q, ulid


def valid(data: dict, **envelope) -> dict:
    return body(9, "translation.added", data, **envelope)


def problems_of(event: dict) -> list[tuple[str, str]]:
    with pytest.raises(events.Invalid) as caught:
        events.validate(event)
    return caught.value.problems


def test_a_translation_with_a_summary_or_a_title_is_valid():
    for data in ({"summary": "Réunion."}, {"title": "Comité"}, {"summary": "a", "title": "b"}):
        event = events.validate(valid({"target": ulid(1), "lang": "fr", **data}))
        assert event.data == {"target": ulid(1), "lang": "fr", **data}


@pytest.mark.parametrize("data, field, words", [
    ({"lang": "fr"}, "data", "give the summary, the title or both"),
    ({"lang": "fr", "summary": "   "}, "data.summary", "spaces alone are empty"),
    ({"lang": "fr", "title": ""}, "data.title", "empty"),
    ({"lang": "xx", "summary": "Réunion."}, "data.lang", "'xx' is not an ISO 639-1"),
    ({"lang": "FR", "summary": "Réunion."}, "data.lang", "two lower-case letters"),
    ({"lang": "fra", "summary": "Réunion."}, "data.lang", "two lower-case letters"),
    ({"summary": "Réunion."}, "data.lang", "missing"),
])
def test_a_bad_translation_is_refused_naming_its_field(data, field, words):
    [(found, message)] = problems_of(valid({"target": ulid(1), **data}))
    assert found == field and words in message


def test_the_envelope_lang_is_any_iso_639_1_code_and_nothing_else():
    meeting = body(3, "activity.noted")
    assert events.validate({**meeting, "lang": "pt"}).lang == "pt"
    assert problems_of({**meeting, "lang": "xx"}) == [
        ("lang", "'xx' is not an ISO 639-1 language code: use one such as en, fr or zh")]
    [(field, message)] = problems_of({**meeting, "lang": "zh-Hans"})
    assert field == "lang" and "two lower-case letters" in message


def log_with_translations(root) -> tuple[Files, dict[str, str]]:
    files = Files(root)
    files.org(1, "wto")
    ids = {
        "event": files.put(2, "activity.noted", orgs=["wto"], lang="zh",
                           summary="秘书处请求获得世贸组织贸易与环境委员会观察员地位。"),
        "first": files.put(3, "translation.added", {"target": ulid(2), "lang": "en",
                                                     "summary": "Asked for WTO CTE status."}),
        "second": files.put(4, "translation.added", {
            "target": ulid(2), "lang": "en",
            "summary": "Requested observer status in the WTO CTE."}),
        "french": files.put(5, "translation.added", {"target": ulid(2), "lang": "fr",
                                                      "title": "Statut d'observateur"}),
    }
    return files, ids


def test_the_translation_with_the_larger_id_is_the_current_one(tmp_path):
    files, ids = log_with_translations(tmp_path / "log")
    db = built(files.root, tmp_path / "full.db")
    assert q(db, "select target, lang, summary, title from current_translations "
                 "order by lang") == [
        (ids["event"], "en", "Requested observer status in the WTO CTE.", None),
        (ids["event"], "fr", None, "Statut d'observateur")]
    assert q(db, "select count(*) from translations") == [(3,)]
    assert q(db, "select lang from events where id = ?", ids["event"]) == [("zh",)]
    assert q(db, "select target from events where id = ?", ids["first"]) == [(ids["event"],)]
    # any arrival order ends in the same tables
    order = [files.path(ids[k]) for k in ("second", "french", "first", "event")]
    order.append(files.path(ulid(1)))
    assert (test_projection.snapshot(applied(files.root, tmp_path / "inc.db", order))
            == test_projection.snapshot(db))


def test_a_retracted_translation_no_longer_applies_and_a_corrected_one_reads_corrected(
        tmp_path):
    files, ids = log_with_translations(tmp_path / "log")
    files.put(6, "event.retracted", {"target": ids["second"], "reason": "not faithful"})
    files.put(7, "event.corrected", {"target": ids["first"], "reason": "the committee's name",
                                     "set": {"data.summary": "Asked for observer status in "
                                                             "the WTO CTE."}})
    db = built(files.root, tmp_path / "full.db")
    assert q(db, "select event_id, summary from current_translations where lang = 'en'") == [
        (ids["first"], "Asked for observer status in the WTO CTE.")]
    files.put(8, "event.retracted", {"target": ulid(6), "reason": "it was faithful"})
    assert q(built(files.root, tmp_path / "again.db"),
             "select event_id from current_translations where lang = 'en'") == [
        (ids["second"],)]


def test_a_translation_of_no_event_is_a_problem_until_its_target_comes(tmp_path):
    files = Files(tmp_path / "log")
    translation = files.put(3, "translation.added", {"target": ulid(2), "lang": "fr",
                                                      "summary": "Réunion."})
    db = applied(files.root, tmp_path / "inc.db", [files.path(translation)])
    assert problems(db) == [(files.rel(translation), "data.target",
                             f"no event has the id {ulid(2)}")]
    target = files.put(2, "activity.noted", summary="A meeting.")
    assert problems(applied(files.root, tmp_path / "inc.db", [files.path(target)])) == []


# --- cooplog translate ------------------------------------------------------------------------


def first_event(seeded) -> str:
    return q(built(seeded), "select id from events where type = 'request.made'")[0][0]


def test_translate_appends_and_commits_a_translation(seeded, cli):
    target = first_event(seeded)
    result = cli(seeded, "translate", target, "--lang", "fr",
                 "--summary", "A demandé le statut d'observateur.", "--title", "Statut")
    assert result.exit_code == 0, result.output
    [(event_id, path)] = written(result, seeded)
    assert read_json(seeded / path)["data"] == {
        "target": target, "lang": "fr", "summary": "A demandé le statut d'observateur.",
        "title": "Statut"}
    assert commits(seeded)[0] == "translation.added: Statut"
    assert q(built(seeded), "select event_id, lang from current_translations") == [
        (event_id, "fr")]


@pytest.mark.parametrize("args, code, words", [
    (["--lang", "fr"], 2, "--summary, --title: give the summary, the title or both"),
    (["--lang", "xx", "--summary", "Réunion."], 1, "'xx' is not an ISO 639-1 language code"),
    (["--lang", "fr", "--summary", "  "], 1, "spaces alone are empty"),
])
def test_translate_refuses_bad_input_and_writes_nothing(seeded, cli, args, code, words):
    target = first_event(seeded)
    before = snapshot(seeded)
    result = cli(seeded, "translate", target, *args)
    assert result.exit_code == code
    assert words in result.stderr
    assert snapshot(seeded) == before


def test_translate_refuses_an_event_the_log_does_not_have(seeded, cli):
    before = snapshot(seeded)
    result = cli(seeded, "translate", ulid(77), "--lang", "fr", "--summary", "Réunion.")
    assert result.exit_code == 1
    assert f"no event has the id {ulid(77)}" in result.stderr
    assert snapshot(seeded) == before


# --- search across languages ------------------------------------------------------------------


def test_search_finds_an_event_by_the_words_of_its_current_translations(tmp_path):
    """The issue's example: `WTO CTE` finds the Chinese paragraph once it has an English
    translation; a retracted translation leaves search."""
    from cooplog import serve
    from test_serve import rows

    files, ids = log_with_translations(tmp_path / "log")
    files.put(6, "translation.added", {"target": ids["event"], "lang": "es",
                                        "summary": "Solicitó la condición de observador."})
    files.put(7, "event.retracted", {"target": ulid(6), "reason": "not faithful"})
    ds = serve.datasette(files.root, built(files.root))

    def search(q):
        return [(r["id"], r["matched_lang"], r["translation"])
                for r in rows(ds, "/cooplog/search.json", q=q)]

    assert search("WTO CTE") == [(ids["event"], "en",
                                  "Requested observer status in the WTO CTE.")]
    assert search("observateur") == [(ids["event"], "fr", "Statut d'observateur")]
    assert search("世贸组织") == [(ids["event"], "zh", None)]  # its own words, as before
    assert search("observador") == []  # the Spanish one was retracted
    assert search("CT") == [(ids["event"], "en", "Requested observer status in the WTO CTE.")]


def test_history_of_an_event_shows_its_translations_and_what_became_of_them(seeded, cli):
    target = first_event(seeded)
    [(translation, _)] = written(cli(seeded, "translate", target, "--lang", "fr",
                                     "--summary", "A demandé le statut."), seeded)
    [(retraction, _)] = written(cli(seeded, "retract", translation, "--reason", "too short"),
                                seeded)
    lines = cli(seeded, "history", target).stdout.splitlines()
    assert [line.split()[:3] for line in lines] == [
        ["added", target, "request.made"], ["translated", translation, "translation.added"],
        ["retracted", retraction, "event.retracted"]]
