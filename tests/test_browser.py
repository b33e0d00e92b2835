"""In a real headless Chromium: a demo nurse logs in, opens the home-ward list, admits a
patient, and sees the admission on the list; the log reviewer then finds it in the log."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn

from hemma.demo import DEMO_PASSWORD, load_demo

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"

pytestmark = pytest.mark.browser

if not Path(CHROMIUM).exists():
    if os.environ.get("HEMMA_REQUIRE_BROWSER") == "1":
        raise RuntimeError(f"{CHROMIUM} is missing (apt-get install chromium)")
    pytest.skip(f"{CHROMIUM} not installed; .ci/run installs it", allow_module_level=True)

from playwright.sync_api import expect, sync_playwright  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_server(app, database):
    load_demo(database)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield b
        b.close()


def _login(page, base, username):
    page.goto(f"{base}/")
    expect(page.get_by_role("heading", name="Logga in")).to_be_visible()
    page.get_by_label("Användarnamn").fill(username)
    page.get_by_label("Lösenord").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Logga in").click()


def test_nurse_admits_a_patient_and_the_log_shows_it(live_server, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})

    _login(page, live_server, "sara.nilsson")
    expect(page.get_by_role("heading", name="Vård i hemmet · Medicinkliniken, Lycksele lasarett"))\
        .to_be_visible()
    row = page.locator("#home-ward tr", has_text="Nordlund, Anna-Lisa")
    expect(row).to_contain_text("Bedömning")
    page.screenshot(path=ARTIFACTS / "home-ward.png", full_page=True)

    row.get_by_role("link", name="Nordlund, Anna-Lisa").click()
    page.get_by_role("link", name="Skriv in i vård i hemmet").click()
    page.get_by_label("Medicinskt ansvarig läkare").select_option(label="Lundgren, Karin · Läkare · "
                                                                  "Medicinkliniken, Lycksele lasarett")
    page.get_by_label("Fast vårdkontakt").select_option(
        label="Lundström, Hanna · Sjuksköterska · Hemsjukvården Lycksele kommun")
    page.get_by_role("button", name="Skriv in", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Patienten är inskriven")
    expect(page.locator("text=Vårdplats 12")).to_be_visible()
    page.screenshot(path=ARTIFACTS / "overview.png", full_page=True)

    page.get_by_role("link", name="Vård i hemmet", exact=True).click()
    row = page.locator("#home-ward tr", has_text="Nordlund, Anna-Lisa")
    expect(row).to_contain_text("Inskriven")
    expect(row).to_contain_text("Hanna Lundström")
    expect(row.locator("td").first).to_have_text("12")
    expect(page.locator(".summary")).to_contain_text("12 inskrivna")
    page.get_by_role("button", name="Logga ut").click()
    expect(page.get_by_role("heading", name="Logga in")).to_be_visible()

    _login(page, live_server, "tomas.vikner")
    expect(page.get_by_role("heading", name="Loggranskning")).to_be_visible()
    page.get_by_label("Användare").fill("sara.nilsson")
    page.get_by_role("button", name="Filtrera").click()
    entry = page.locator("#log-entries tr", has_text="episode.admit")
    expect(entry).to_contain_text("Anna-Lisa Nordlund")
    expect(entry).to_contain_text("Medicinkliniken, Lycksele lasarett")
    page.screenshot(path=ARTIFACTS / "log-review.png", full_page=True)


def test_phone_sized_home_ward_is_usable(live_server, browser):
    page = browser.new_page(viewport={"width": 390, "height": 844})
    _login(page, live_server, "hanna.lundstrom")
    expect(page.get_by_role("heading", name="Våra patienter i hemmet · Hemsjukvården Lycksele "
                                          "kommun")).to_be_visible()
    # No sideways scrolling of the whole page on a phone.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390 + 1
    page.screenshot(path=ARTIFACTS / "home-ward-phone.png", full_page=True)
