"""The questions about the stay in a real headless Chromium, on the demo at 09:40: Margit,
discharged home this morning, answers on her phone (390 px wide, large type, nothing to
scroll sideways), leaves two questions out and writes a comment; she is thanked and asked
no more. Sara, the home ward's nurse, sees the answers on the episode's page. Both pages
pass axe-core. Screenshots go to test-artifacts/prem-*.png."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from hemma.models import PremResponse
from tests.prem.demo import discharged_this_morning
from tests.test_browser import ARTIFACTS, _login, browser, serving  # noqa: F401
from tests.test_browser_a11y import AXE, AXE_RUN, FAILING_IMPACTS
from tests.test_browser_flow import morning_server  # noqa: F401

pytestmark = pytest.mark.browser

from playwright.sync_api import expect  # noqa: E402

COMMENT = "Tryggt att veta att någon svarade på natten."


def _shot(page, name: str) -> None:
    page.screenshot(path=ARTIFACTS / f"prem-{name}.png", full_page=True)


def _axe(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    return [f"{v['id']}: {v['help']}" for v in page.evaluate(AXE_RUN, False)
            if v["impact"] in FAILING_IMPACTS]


def test_a_discharged_patient_answers_on_her_phone_and_the_nurse_reads_it(
        morning_server, browser, database):  # noqa: F811
    ARTIFACTS.mkdir(exist_ok=True)
    base = morning_server
    pid, eid, code = discharged_this_morning(database)

    # 1. Margit logs in on her phone: the page asks how the care at home was.
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                  bypass_csp=True)
    phone = context.new_page()
    phone.goto(f"{base}/p/login")
    phone.get_by_label("Din kod").fill(code)
    phone.get_by_role("button", name="Logga in").click()
    card = phone.locator("#prem-card")
    expect(card.get_by_role("heading", name="Hur upplevde du vården i hemmet?")).to_be_visible()
    _shot(phone, "01-card")
    card.get_by_role("link", name="Svara på frågorna").click()
    expect(phone.get_by_role("heading", level=1, name="Hur upplevde du vården i hemmet?")
           ).to_be_visible()
    # Five statements, each a group of five large choices, nothing beyond the screen's edge.
    groups = phone.get_by_role("group")
    expect(groups).to_have_count(5)
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    box = phone.get_by_role("radio", name="1, Stämmer inte alls").first.locator(
        "xpath=..").bounding_box()
    assert box["height"] >= 56 and box["width"] >= 48  # a target for an unsteady finger
    assert _axe(phone) == []
    _shot(phone, "02-form")

    # 2. She answers three, leaves two out, writes a comment and sends.
    for statement, step in (("Jag kände mig trygg med att vårdas hemma", "5, Stämmer helt och "
                             "hållet"),
                            ("Jag visste vem jag skulle ringa om något hände",
                             "4, Stämmer ganska bra"),
                            ("Jag skulle välja vård i hemmet igen", "5, Stämmer helt och hållet")):
        phone.get_by_role("group", name=statement).get_by_role("radio", name=step).check()
    phone.get_by_label(re.compile("^Vill du berätta något mer")).fill(COMMENT)
    phone.get_by_role("button", name="Skicka").click()
    expect(phone.get_by_role("status")).to_have_text("Tack för dina svar")
    expect(phone.locator("#prem-form")).to_have_count(0)
    assert _axe(phone) == []
    _shot(phone, "03-thanks")
    phone.goto(f"{base}/p")
    expect(phone.locator("#prem-card")).to_contain_text("Tack för dina svar")
    expect(phone.locator("#prem-link")).to_have_count(0)
    context.close()
    with database.session() as s:
        row = s.scalar(select(PremResponse).where(PremResponse.episode_id == eid))
        assert row.answers == {"safe": 5, "who_to_call": 4, "again": 5}
        assert (row.channel, row.comment) == ("phone", COMMENT)

    # 3. Sara reads the answers on the episode's page.
    nurse = browser.new_context(viewport={"width": 1366, "height": 900},
                                bypass_csp=True).new_page()
    _login(nurse, base, "sara.nilsson")
    nurse.goto(f"{base}/patients/{pid}/episodes/{eid}/summary")
    section = nurse.locator("#prem")
    expect(section.get_by_role("heading", name="Patientens upplevelse (PREM)")).to_be_visible()
    expect(section).to_contain_text("Besvarad av patienten i Hemma")
    table = section.locator("#prem-answers")
    expect(table.get_by_role("row", name=re.compile("Jag kände mig trygg"))).to_contain_text(
        "5 · Stämmer helt och hållet")
    expect(table.get_by_role("row", name=re.compile("Personalen lyssnade"))).to_contain_text(
        "Inte besvarat")
    expect(section.locator("#prem-comment")).to_have_text(COMMENT)
    expect(section.locator("#prem-form")).to_have_count(0)
    assert _axe(nurse) == []
    section.screenshot(path=ARTIFACTS / "prem-04-nurse.png")
