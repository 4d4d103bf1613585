"""A site of several logs as people see it (issue 18): a real `cooplog serve --log … --log …`
in headless Chromium. Each item names its log, a private log's items carry a visible
confidential mark, and a log chosen keeps to it from page to page."""

from __future__ import annotations

import pytest
from test_pages import Visit, browser  # noqa: F401 - `browser` is a fixture

from test_site_log_pages import two_logs  # noqa: F401 - a fixture
from test_site_report import two  # noqa: F401 - a fixture
from test_site_serve import serving


@pytest.fixture
def visit(browser, two_logs, tmp_path):  # noqa: F811 - the fixtures imported above
    basel, stockholm = two_logs
    with serving(tmp_path, "--log", f"basel={basel.root}",
                 "--log", f"stockholm={stockholm.root}") as (client, _):
        yield Visit(browser, str(client.base_url).rstrip("/"))


def test_the_private_logs_items_are_marked_and_a_chosen_log_is_kept(visit):
    page = visit.open("/search?q=met+in+Geneva")
    marks = page.locator("ol.results .confidential")
    assert marks.count() == 1 and marks.first.is_visible()
    assert marks.first.evaluate("e => getComputedStyle(e).color") == "rgb(170, 0, 0)"
    marked = page.locator("ol.results li", has=page.locator(".confidential")).inner_text()
    assert "Stockholm met in Geneva." in marked and "[stockholm]" in marked
    page.locator(".cooplog-logs").get_by_role("link", name="basel").click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/search?log=basel")
    page.locator('input[name="q"]').fill("met in Geneva")
    page.get_by_role("button", name="Search").click()
    page.wait_for_load_state("networkidle")
    assert "log=basel" in page.url
    results = page.locator("ol.results li").all_inner_texts()
    assert len(results) == 1 and "Basel met in Geneva." in results[0]
    page.locator(".cooplog-nav").get_by_role("link", name="Meetings").click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/meetings?log=basel")
    agenda = page.locator("main").inner_text()
    assert "Basel's Geneva meeting" in agenda and "Stockholm" not in agenda
    visit.finish("several-logs-meetings-basel")


def test_the_report_of_the_log_chosen_and_then_of_another(visit):
    from test_reading import serious_violations

    page = visit.open("/?log=basel")
    page.locator(".cooplog-nav").get_by_role("link", name="Report").click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/report?log=basel")
    assert page.locator(".logs-reported").inner_text() == "From the logs basel alone."
    assert page.get_by_label("basel").is_checked()
    assert "Basel met in Geneva." in page.locator("table.cooplog-report").inner_text()
    assert serious_violations(page) == []
    page.get_by_label("basel").uncheck()
    page.get_by_label("stockholm").check()
    page.get_by_role("button", name="Show").click()
    page.wait_for_load_state("networkidle")
    assert "log=stockholm" in page.url and "log=basel" not in page.url
    report = page.locator("table.cooplog-report").inner_text()
    assert "Stockholm met in Geneva." in report and "Basel" not in report
    visit.finish("several-logs-report-stockholm", full_page=False)
