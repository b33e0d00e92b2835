"""In a real headless Chromium: a demo nurse logs in, opens the home-ward list, admits a
patient, and sees the admission on the list; the log reviewer then finds it in the log."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from hemma.app import create_app
from hemma.demo import DEMO_PASSWORD, load_demo
from tests.live import serving

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"

pytestmark = pytest.mark.browser

if not Path(CHROMIUM).exists():
    if os.environ.get("HEMMA_REQUIRE_BROWSER") == "1":
        raise RuntimeError(f"{CHROMIUM} is missing (apt-get install chromium)")
    pytest.skip(f"{CHROMIUM} not installed; .ci/run installs it", allow_module_level=True)

from playwright.sync_api import expect, sync_playwright  # noqa: E402


@pytest.fixture
def live_server(settings, database):
    """The demo, served as `hemma serve` does: with the outbox worker in the process."""
    load_demo(database)
    with serving(create_app(settings, database, background=True)) as base:
        yield base


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
    # Hanna is the municipality's: the patient is asked about sharing between the two.
    page.get_by_label("Patienten samtycker till informationsdelning").check()
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
    page.locator("details.more > summary").click()  # the person's own menu
    page.get_by_role("button", name="Logga ut").click()
    expect(page.get_by_role("heading", name="Logga in")).to_be_visible()

    _login(page, live_server, "tomas.vikner")
    expect(page.get_by_role("heading", name="Loggranskning")).to_be_visible()
    page.get_by_label("Användare").fill("sara.nilsson")
    page.get_by_role("button", name="Filtrera").click()
    # The action in words (its code only as the label's tooltip).
    entry = page.locator("#log-entries tr", has_text="Skrev in i vård i hemmet")
    expect(entry.locator('[title*="episode.admit"]')).to_be_visible()
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


def test_patient_values_reach_the_nurses_open_inbox_live(live_server, browser):
    """A patient on a phone sends values that score NEWS2 7 or more; the nurse's inbox,
    open the whole time, shows the alert within 2 seconds without a reload; she acknowledges
    it; the round's worklist has the patient on top."""
    nurse = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    _login(nurse, live_server, "sara.nilsson")
    nurse.get_by_role("link", name="Nordlund, Anna-Lisa").click()
    # Anna-Lisa is only being assessed; admit her so her values count on the ward.
    nurse.get_by_role("link", name="Skriv in i vård i hemmet").click()
    nurse.get_by_label("Medicinskt ansvarig läkare").select_option(
        label="Lundgren, Karin · Läkare · Medicinkliniken, Lycksele lasarett")
    nurse.get_by_role("button", name="Skriv in", exact=True).click()
    nurse.get_by_role("button", name="Inloggningskod till patienten").click()
    code = nurse.locator("#patient-code").inner_text()

    nurse.goto(f"{live_server}/alerts")
    expect(nurse.locator("#live-status")).to_have_class(re.compile("on"))

    phone = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    phone.goto(f"{live_server}/p")
    phone.get_by_label("Din kod").fill(code)
    phone.get_by_role("button", name="Logga in").click()
    expect(phone.get_by_role("heading", name="Hej Anna-Lisa")).to_be_visible()
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 391
    phone.get_by_label("Syremättnad (%)").fill("90")
    phone.get_by_label("Puls (slag per minut)").fill("131")
    phone.get_by_label("Andetag per minut").fill("26")
    phone.get_by_label("Temperatur (°C)").fill("38,9".replace(",", "."))
    phone.screenshot(path=ARTIFACTS / "patient-phone.png", full_page=True)
    phone.get_by_role("button", name="Skicka", exact=True).click()
    expect(phone.get_by_text("Dina värden behöver kontrolleras nu.")).to_be_visible()
    phone.screenshot(path=ARTIFACTS / "patient-sent.png", full_page=True)

    row = nurse.locator("#inbox tr", has_text="Nordlund, Anna-Lisa")
    expect(row).to_be_visible(timeout=2000)
    expect(row).to_contain_text("Prioritet: kritisk")
    expect(nurse.locator("#new-alert")).to_contain_text("Nordlund")
    nurse.screenshot(path=ARTIFACTS / "inbox-live.png", full_page=True)
    row.get_by_role("button", name="Kvittera").click()
    expect(nurse.locator("#inbox tr", has_text="Nordlund, Anna-Lisa")).to_contain_text(
        "Kvitterat")

    nurse.get_by_role("link", name="Distansrond").click()
    first = nurse.locator("#worklist tbody tr").first
    expect(first).to_contain_text("Nordlund, Anna-Lisa")
    nurse.screenshot(path=ARTIFACTS / "round.png", full_page=True)


@pytest.fixture
def ten_oclock():
    """The demo's visit day, at 10:00 in Lycksele, whenever the suite runs."""
    from hemma.kit.time import at_local, frozen_clock, local_today

    with frozen_clock(at_local(local_today(), "10:00")):
        yield


@pytest.fixture
def planning_server(ten_oclock, live_server):
    return live_server


def test_planner_inserts_an_urgent_visit_and_the_nurse_sees_her_new_route(
        planning_server, browser):
    """Hemsjukvården's day is planned when the demo loads. A planner inserts an urgent visit
    and gives it to Hanna by hand; Hanna's phone page, open all along, says her route changed
    and shows the visit."""
    ARTIFACTS.mkdir(exist_ok=True)
    base = planning_server
    phone = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    _login(phone, base, "hanna.lundstrom")
    phone.goto(f"{base}/my-route")
    expect(phone.get_by_role("heading", name="Min rutt")).to_be_visible()
    before = phone.locator("li.visit").count()
    assert before > 3
    expect(phone.locator("#route-changed")).to_be_hidden()

    desk = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    _login(desk, base, "agneta.karlsson")
    desk.goto(f"{base}/planning")
    expect(desk.get_by_role("heading", name="Besöksplanering · Hemsjukvården Lycksele kommun"))\
        .to_be_visible()
    expect(desk.locator("#figures")).to_contain_text(re.compile(r"\d+ / 50"))
    desk.get_by_text("Akut besök idag").click()
    desk.get_by_label("Patient").select_option(label="Edlund, Greta (Lycksele)")
    desk.get_by_label("Vad").select_option(label="Bedömning")
    desk.get_by_label("Från").fill("10:15")
    desk.get_by_label("Start senast").fill("13:00")
    desk.get_by_label("Minuter").fill("30")
    desk.get_by_label("Information till den som gör besöket").fill(
        "Ramlat i natt, ont i höger höft. Bedöm och ring läkaren.")
    desk.get_by_role("button", name="Planera in akut besök").click()
    expect(desk.get_by_role("status")).to_contain_text("Det akuta besöket är inplanerat")
    added = desk.locator("#changes tr[data-change='added']", has_text="Edlund, Greta")
    expect(added).to_have_count(1)
    visit_id = added.get_attribute("data-visit")
    desk.screenshot(path=ARTIFACTS / "planning-urgent.png", full_page=True)

    # Every open route page of the unit learns that the plan changed, without a reload.
    expect(phone.locator("#route-changed")).to_be_visible(timeout=15_000)

    stop = desk.locator(f"#visit-{visit_id}-0")
    if "Hanna Lundström" not in added.inner_text():
        stop.locator("summary", has_text="Flytta eller lås").click()
        stop.get_by_label("Flytta till").select_option(label="Hanna Lundström")
        stop.get_by_role("button", name="Flytta").click()
        expect(desk.get_by_role("status")).to_contain_text("Besöket är flyttat och låst")
    expect(desk.locator("#route-" + desk.locator(".route", has_text="Hanna Lundström")
                        .first.get_attribute("id").split("-")[1])
           .locator(f"[data-visit='{visit_id}']")).to_have_count(1)

    phone.get_by_role("link", name="Visa den nya rutten").click()
    urgent = phone.locator(f"li[data-visit='{visit_id}']")
    expect(urgent).to_contain_text("Greta Edlund")
    expect(urgent).to_contain_text("Akut")
    expect(urgent).to_contain_text("Ramlat i natt")
    expect(urgent.get_by_role("button", name="Påbörja")).to_be_visible()
    phone.screenshot(path=ARTIFACTS / "my-route.png", full_page=True)



def test_a_nurse_at_the_door_gives_a_new_patient_a_map_position(live_server, browser):
    """A new patient whose address nobody can place (921 98 is no postal code) has no map
    position; the nurse at the door uses her phone's: the page's script asks the browser,
    which the Permissions-Policy allows for our own pages."""
    ARTIFACTS.mkdir(exist_ok=True)
    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, permissions=["geolocation"],
        geolocation={"latitude": 64.6421, "longitude": 19.1083, "accuracy": 15})
    page = phone.new_page()
    _login(page, live_server, "sara.nilsson")
    page.goto(f"{live_server}/patients/new")
    page.get_by_label("Personnummer eller samordningsnummer").fill("19390212-9828")
    page.get_by_label("Förnamn").fill("Nils")
    page.get_by_label("Efternamn").fill("Öhman")
    page.get_by_label("Gatuadress").fill("Knaftenvägen 7")
    page.get_by_label("Postnummer").fill("921 98")
    page.get_by_label("Ort").fill("Knaften")
    page.get_by_role("button", name="Registrera").click()
    expect(page.get_by_role("status")).to_contain_text("Patienten är registrerad")
    expect(page.locator(".position.missing")).to_contain_text("Ingen kartposition")

    page.get_by_role("link", name="Rätta kartpositionen").click()
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Använd min position nu").click()
    expect(page.get_by_role("status")).to_contain_text("Kartpositionen är uppdaterad")
    expect(page.locator("#position")).to_contain_text("Uppmätt vid dörren (± 15 m)")
    expect(page.locator("#position")).to_contain_text("latitud 64,64210, longitud 19,10830")
    page.screenshot(path=ARTIFACTS / "position-at-the-door.png", full_page=True)
    phone.close()
