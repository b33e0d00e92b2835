"""Messages in a real headless Chromium, on the demo at 09:40: Margit writes to the home
ward on her phone; Sara's open board shows it within two seconds; Sara sees it in her inbox
of messages (beside Gunnel's, which has waited about an hour), opens it — which marks it
read —, and answers; Margit's page shows the answer and that Medicinkliniken read her
message. Screenshots go to test-artifacts/messages-*.png."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from hemma.access.auth import create_patient_code
from hemma.models import Message, MessageThread, Patient, Staff, Unit
from tests.test_browser import ARTIFACTS, _login, browser, serving  # noqa: F401
from tests.test_browser_flow import morning_server  # noqa: F401

pytestmark = pytest.mark.browser

from playwright.sync_api import expect  # noqa: E402

QUESTION = "Jag har fått utslag på armarna sedan i går. Ska jag ta nästa dos ändå?"
ANSWER = "Ta inte nästa dos. Vi ringer dig inom en halvtimme."


def _shot(page, name: str) -> None:
    page.screenshot(path=ARTIFACTS / f"messages-{name}.png", full_page=True)


def test_a_patient_writes_the_nurse_answers_and_the_patient_sees_who_read_it(
        morning_server, browser, database):  # noqa: F811
    ARTIFACTS.mkdir(exist_ok=True)
    base = morning_server
    with database.session() as s:
        # The demo's threads: Gunnel waits for the home ward, Elsa and Mobila teamet wrote
        # yesterday, and region and kommun write to each other about Gunnel.
        gunnel = s.scalar(select(Patient).where(Patient.family_name == "Lindgren"))
        waiting = s.scalars(select(Message).where(Message.patient_id == gunnel.id,
                                                  Message.author_kind == "patient")).all()
        assert len(waiting) == 1 and waiting[0].answered_at is None
        staff_units = {s.get(Unit, m.documented_by_unit_id).organisation_id for m in s.scalars(
            select(Message).join(MessageThread, MessageThread.id == Message.thread_id)
            .where(MessageThread.kind == "staff"))}
        assert len(staff_units) == 2  # the region's and the kommun's
        assert s.scalar(select(Message).where(Message.author_kind == "patient",
                                              Message.answered_at.is_not(None)))
        margit = s.scalar(select(Patient).where(Patient.family_name == "Holmgren"))
        sara_id = s.scalar(select(Staff.id).where(Staff.username == "sara.nilsson"))
        code, _row = create_patient_code(s, margit.id, sara_id)

    # 0. Sara has the home ward's board open (it lists Gunnel's waiting message).
    sara = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    _login(sara, base, "sara.nilsson")
    sara.goto(f"{base}/board")
    expect(sara.locator(".b-messages")).to_contain_text("Gunnel Lindgren")
    expect(sara.locator("#board-status")).to_contain_text("Live")
    sara.evaluate("window.__sameBoard = true")

    # 1. Margit writes on her phone.
    phone = browser.new_context(viewport={"width": 390, "height": 844},
                                is_mobile=True).new_page()
    phone.goto(f"{base}/p")
    phone.get_by_label("Din kod").fill(code)
    phone.get_by_role("button", name="Logga in").click()
    expect(phone.get_by_role("heading", name="Hej Margit")).to_be_visible()
    phone.locator("#messages-link").click()
    phone.locator("#patient-message-form textarea[name=body]").fill(QUESTION)
    _shot(phone, "01-phone-writes")
    phone.locator("#patient-message-form button[type=submit]").click()
    expect(phone.locator("#sent")).to_be_visible()
    expect(phone.locator(".p-messages")).to_contain_text(QUESTION)
    # Sara's open board shows it within two seconds, without a reload.
    expect(sara.locator(".b-messages")).to_contain_text("Margit Holmgren", timeout=2000)
    assert sara.evaluate("window.__sameBoard") is True
    _shot(sara, "01-board")

    # 2. Sara sees it in her inbox, with Gunnel's that has waited about an hour (and her
    # relative's, in the same thread); the menu counts all three.
    sara.goto(f"{base}/home-ward")
    expect(sara.locator('a[href="/messages"] .badge')).to_have_text("3")
    sara.locator('a[href="/messages"]').first.click()
    inbox = sara.locator("#message-inbox")
    expect(inbox).to_contain_text("Margit Holmgren")
    expect(inbox.locator("tr.waiting").first).to_contain_text("Gunnel Lindgren")
    expect(inbox.locator("tr.waiting", has_text="Gunnel")).to_contain_text(
        re.compile(r"1 h [0-9]+ min"))
    _shot(sara, "02-inbox")

    # 3. She opens Margit's thread (it is read now) and answers.
    inbox.get_by_role("link", name="Margit Holmgren").click()
    expect(sara.locator("#patient-thread")).to_contain_text(QUESTION)
    sara.locator("#to-patient-form textarea[name=body]").fill(ANSWER)
    _shot(sara, "03-thread")
    sara.locator("#to-patient-form button[type=submit]").click()
    expect(sara.locator("#patient-thread")).to_contain_text(ANSWER)
    expect(sara.locator(".msg-waiting")).to_have_count(0)

    # 4. Margit's page shows the answer, and who read her message when.
    phone.goto(f"{base}/p")
    expect(phone.locator("#messages-link")).to_contain_text("1")
    phone.locator("#messages-link").click()
    expect(phone.locator(".p-messages")).to_contain_text(ANSWER)
    receipt = phone.locator(".read-receipt")
    expect(receipt).to_contain_text("Medicinkliniken")
    expect(receipt).to_contain_text("09:40")
    _shot(phone, "04-phone-answer")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 391
