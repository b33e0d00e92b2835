"""Follow-up in a real headless Chromium, on the demo: the home ward's nurse reads her unit's
figures for last month, opens a definition, changes the period and downloads the CSV; the
medical lead reads all units with small numbers hidden; the page fits a phone and breaks no
CSP rule. Screenshots go to test-artifacts/."""

from __future__ import annotations

import pytest

from hemma.followup.definitions import DEFINITIONS
from tests.test_browser import ARTIFACTS, _login, browser  # noqa: F401
from tests.test_browser_flow import morning_server  # noqa: F401

pytestmark = pytest.mark.browser

from playwright.sync_api import expect  # noqa: E402


def _open(browser, base, username, width=1366):  # noqa: F811
    context = browser.new_context(viewport={"width": width, "height": 900},
                                  accept_downloads=True)
    page = context.new_page()
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    _login(page, base, username)
    expect(page.locator("h1")).not_to_have_text("Logga in")
    return page, problems


def test_the_unit_reads_its_follow_up(morning_server, browser):  # noqa: F811
    ARTIFACTS.mkdir(exist_ok=True)
    page, problems = _open(browser, morning_server, "sara.nilsson")
    page.locator("details.more > summary").click()
    page.get_by_role("link", name="Uppföljning").click()
    expect(page.get_by_role("heading", name="Uppföljning", exact=True)).to_be_visible()
    expect(page.locator("article.figure")).to_have_count(len(DEFINITIONS))
    days = page.locator("#figure-days_at_home")
    expect(days.locator(".figure-value")).not_to_have_text("0")
    expect(days.locator("svg.spark polyline")).to_have_count(1)
    expect(page.locator("#figure-cost_saved")).to_contain_text("8\u00a0483\u00a0kr")
    # The definition is one click away.
    days.get_by_text("Så räknas det").click()
    expect(days.locator(".definition p").first).to_contain_text("Nätter inskriven i hemmet")
    page.screenshot(path=ARTIFACTS / "followup-unit.png", full_page=True)
    # Another period, and the same figures as CSV.
    quarter = page.locator("#period option", has_text="Kvartal").first
    page.locator("#period").select_option(quarter.get_attribute("value"))
    page.get_by_role("button", name="Visa").click()
    expect(page.locator(".lead")).to_contain_text(" Q")
    with page.expect_download() as download:
        page.get_by_role("link", name="Ladda ner som CSV").click()
    text = open(download.value.path(), encoding="utf-8-sig").read()
    assert "Vårddygn i hemmet" in text and ";" in text
    assert not problems, problems


def test_the_medical_lead_sees_all_units_with_small_numbers_hidden(morning_server,  # noqa: F811
                                                                     browser):  # noqa: F811
    page, problems = _open(browser, morning_server, "maria.holm")  # the medical lead
    page.goto(f"{morning_server}/followup")
    page.locator("#scope").select_option("all")
    page.get_by_role("button", name="Visa").click()
    expect(page.locator(".lead")).to_contain_text("Alla enheter")
    expect(page.locator(".hint").first).to_contain_text("Antal under 5 döljs")
    expect(page.locator("#figure-days_at_home .figure-value")).not_to_have_text("0")
    page.screenshot(path=ARTIFACTS / "followup-all.png", full_page=True)
    assert not problems, problems


def test_the_page_fits_a_phone(morning_server, browser):  # noqa: F811
    page, problems = _open(browser, morning_server, "eva.marklund", width=390)
    page.goto(f"{morning_server}/followup")
    expect(page.locator("article.figure")).to_have_count(len(DEFINITIONS))
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
    page.screenshot(path=ARTIFACTS / "followup-phone.png", full_page=True)
    assert not problems, problems


def test_the_follow_up_user_reads_every_unit_and_no_patient(morning_server, browser):  # noqa: F811
    """Verksamhetsuppföljning: sent straight to the figures, chooses the mobile team's
    palliative home ward (a year of history) and reads its response times; no patient's
    record is hers."""
    page, problems = _open(browser, morning_server, "birgitta.ohman")
    expect(page.get_by_role("heading", name="Uppföljning", exact=True)).to_be_visible()
    option = page.locator("#scope option", has_text="Mobila teamet").first
    page.locator("#scope").select_option(option.get_attribute("value"))
    page.get_by_role("button", name="Visa").click()
    expect(page.locator(".lead")).to_contain_text("Mobila teamet")
    for key in ("days_at_home", "ack_p50", "visits_done"):
        value = page.locator(f"#figure-{key} .figure-value")
        expect(value).not_to_have_text("–")
        expect(value).not_to_have_text("0")
    page.screenshot(path=ARTIFACTS / "followup-region.png", full_page=True)
    assert not problems, problems
    # No patient: the home ward's list is not hers.
    response = page.goto(f"{morning_server}/home-ward")
    assert response.status == 403


def test_the_research_exporter_takes_an_extract(morning_server, browser):  # noqa: F811
    page, problems = _open(browser, morning_server, "johan.wallin")
    page.get_by_role("link", name="Forskningsuttag").first.click()
    expect(page.get_by_role("heading", name="Forskningsuttag")).to_be_visible()
    # Without the approval's reference, nothing is taken and the field says why.
    page.get_by_role("button", name="Ta ut uttaget (ZIP)").click()
    expect(page.locator("#approval")).to_have_attribute("required", "")
    page.get_by_label("Etikprövningstillstånd (Dnr)").fill("Dnr 2026-01234-01")
    with page.expect_download() as download:
        page.get_by_role("button", name="Ta ut uttaget (ZIP)").click()
    assert download.value.suggested_filename.endswith(".zip")
    page.screenshot(path=ARTIFACTS / "followup-research.png", full_page=True)
    assert not problems, problems
