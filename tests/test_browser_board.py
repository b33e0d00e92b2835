"""The coordination board in a real headless Chromium: the municipality's nurse has the
board open; the home ward's nurse gives her unit a task and writes the evening hand-over in
her own browser; both appear on the open board within two seconds, without a reload, and the
hand-over is confirmed as received from the board. Screenshots go to test-artifacts/."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from hemma.models import Handover, Patient, Staff, Task
from tests.test_browser import ARTIFACTS, _login, browser  # noqa: F401
from tests.test_browser_flow import morning_server  # noqa: F401

pytestmark = pytest.mark.browser

from playwright.sync_api import expect  # noqa: E402


def _person(browser, base, username, width=1366, height=900):  # noqa: F811
    page = browser.new_context(viewport={"width": width, "height": height}).new_page()
    _login(page, base, username)
    expect(page.locator("h1")).not_to_have_text("Logga in")
    return page


def test_a_task_and_a_hand_over_reach_the_open_board(morning_server, browser, database):  # noqa: F811
    ARTIFACTS.mkdir(exist_ok=True)
    base = morning_server
    with database.session() as s:
        task = s.scalar(select(Task).where(Task.title == "Ta blodprover: CRP och Hb"))
        patient = s.get(Patient, task.patient_id)
        hanna = s.scalar(select(Staff).where(Staff.username == "hanna.lundstrom"))
    hanna_page = _person(browser, base, "hanna.lundstrom", width=1920, height=1080)
    hanna_page.goto(f"{base}/board?view=wall")
    board = hanna_page.locator("#board")
    expect(board.locator(".b-tasks")).to_contain_text("Ta blodprover")
    expect(board.locator(".b-handovers")).to_contain_text("Mobila teamet")
    # The page is never reloaded: a mark on the window survives every update.
    hanna_page.evaluate("window.__sameBoard = true")
    expect(hanna_page.locator("#board-status")).to_contain_text("Live")
    hanna_page.screenshot(path=ARTIFACTS / "board-wall.png", full_page=True)

    sara = _person(browser, base, "sara.nilsson")
    sara.goto(f"{base}/patients/{patient.id}/tasks")
    form = sara.locator("#task-form")
    form.get_by_label("Uppgift").fill("Hämta pump på apoteket")
    form.get_by_label("Enhet").select_option(label="Hemsjukvården Lycksele kommun")
    form.get_by_label("Prioritet").select_option(label="Akut")
    started = time.monotonic()
    form.get_by_role("button", name="Ge uppgiften").click()
    expect(sara.locator(".flash")).to_contain_text("Uppgiften gavs")
    expect(board.locator(".b-tasks")).to_contain_text("Hämta pump på apoteket", timeout=2000)
    assert time.monotonic() - started < 4  # the click, the redirect and the update
    assert hanna_page.evaluate("window.__sameBoard") is True

    sara.goto(f"{base}/patients/{patient.id}/handovers")
    form = sara.locator("#handover-form")
    form.get_by_label("Till").select_option(label="Hemsjukvården Lycksele kommun")
    form.get_by_label("S – Situation: vad som händer nu").fill("Ny pump i kväll")
    form.get_by_label("B – Bakgrund: vad som lett hit").fill("Pumpen larmade")
    form.get_by_label("A – Aktuell bedömning: hur du bedömer läget").fill("Stabil")
    form.get_by_label("R – Rekommendation: vad mottagaren ska göra").fill("Byt pump vid besöket")
    form.get_by_role("button", name="Skicka rapporten").click()
    expect(sara.locator(".flash")).to_contain_text("Rapporten skickades")
    item = board.locator(".b-handovers li", has_text="Ny pump i kväll")
    expect(item).to_be_visible(timeout=2000)
    assert hanna_page.evaluate("window.__sameBoard") is True
    hanna_page.screenshot(path=ARTIFACTS / "board-handover.png", full_page=True)

    item.get_by_role("button", name="Bekräfta mottagen").click()
    expect(hanna_page.locator(".flash")).to_contain_text("Rapporten bekräftades som mottagen")
    expect(hanna_page.locator(".b-handovers")).not_to_contain_text("Ny pump i kväll")
    with database.session() as s:
        h = s.scalar(select(Handover).where(Handover.situation == "Ny pump i kväll"))
        assert h.received_by_id == hanna.id and h.received_at is not None
    sara.reload()
    expect(sara.locator(f'[data-handover="{h.id}"]')).to_contain_text(
        "Mottagen av Hanna Lundström")

    # On a phone the same board is one column and no wider than the screen.
    phone = _person(browser, base, "hanna.lundstrom", width=390, height=844)
    phone.goto(f"{base}/board?view=phone")
    expect(phone.locator(".b-tasks")).to_contain_text("Hämta pump")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 391
    phone.screenshot(path=ARTIFACTS / "board-phone.png", full_page=True)
