"""The whole road, in a real headless Chromium, as the people who walk it: a nurse registers a
new patient with nothing but a street address, the patient agrees to sharing, is admitted and
the municipality is asked for IV antibiotics; the municipality accepts and plans its day; the
nurse who got the visit reports it done with values typed the Swedish way ("38,9"); the
values alert the hospital, whose nurse acknowledges; the physician's round books a home
visit; the patient is discharged. Screenshots of every step go to test-artifacts/flow-*.png.

The server runs in this process with its clock stopped at 09:40 this morning (the demo is
loaded at that moment too), so the day's plan and the visit's window are the same whenever
the test runs."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import select

from hemma.app import create_app
from hemma.demo import load_demo
from hemma.kit.time import at_local, frozen_clock, local_today
from hemma.models import (
    Alert,
    CareRequest,
    Episode,
    Observation,
    Patient,
    RoundNote,
    Staff,
    StaffShift,
    Visit,
    VisitAssignment,
)
from hemma.patients.personnummer import format_number, make
from hemma.planning.day import current_plan
from tests.test_browser import ARTIFACTS, _login, browser, serving  # noqa: F401

pytestmark = pytest.mark.browser

from playwright.sync_api import expect  # noqa: E402

MORNING = "09:40"
NUMBER = make(date(1946, 2, 14), 555)


@pytest.fixture
def morning_server(settings, database):
    """The demo at 09:40 this morning, served with the outbox worker in the process."""
    with frozen_clock(at_local(local_today(), MORNING)):
        load_demo(database)
        with serving(create_app(settings, database, background=True)) as base:
            yield base


def _shot(page, name: str) -> None:
    page.screenshot(path=ARTIFACTS / f"flow-{name}.png", full_page=True)


def _logout(page) -> None:
    page.locator("details.more > summary").click()
    page.get_by_role("button", name="Logga ut").click()
    expect(page.get_by_role("heading", name="Logga in")).to_be_visible()


def _patient(database) -> Patient:
    with database.session() as s:
        return s.scalar(select(Patient).where(Patient.personnummer == NUMBER))


def test_a_new_patient_from_registration_to_discharge(morning_server, browser, database):  # noqa: F811
    ARTIFACTS.mkdir(exist_ok=True)
    base = morning_server
    page = browser.new_page(viewport={"width": 1366, "height": 900})

    # 1. Sara, the hospital's nurse, registers Stina with nothing but a street address.
    _login(page, base, "sara.nilsson")
    page.get_by_role("link", name="Ny patient").click()
    page.get_by_label("Personnummer eller samordningsnummer").fill(format_number(NUMBER))
    page.get_by_label("Förnamn").fill("Stina")
    page.get_by_label("Efternamn").fill("Flödesson")
    page.get_by_label("Gatuadress").fill("Skolgatan 12, 921 31 Lycksele")
    page.get_by_role("button", name="Registrera").click()
    expect(page.get_by_role("status")).to_contain_text("Patienten är registrerad")
    _shot(page, "01-registered")
    patient = _patient(database)
    # The address is kept as its parts, and found on the map (the postal code's locality:
    # approximate, and the page says so).
    assert (patient.street, patient.postal_code, patient.city) == (
        "Skolgatan 12", "921 31", "Lycksele")
    assert patient.latitude is not None and patient.position_precision == "postal_code"
    expect(page.locator("body")).to_contain_text("Ungefärlig")

    # 2. Assessment and admission: the fast vårdkontakt is the municipality's nurse, so the
    # patient is asked about sharing between the region and the municipality.
    page.get_by_role("link", name="Påbörja bedömning för vård i hemmet").click()
    page.get_by_label("Vårdprogram").select_option(label="Intravenös antibiotika i hemmet (OPAT)")
    page.get_by_role("button", name="Påbörja bedömning").click()
    # The snabbspår assessment: no values yet, so medical stability is "not assessed".
    page.get_by_role("link", name="Bedöm", exact=True).click()
    page.get_by_label("Patienten samtycker till vård i hemmet").check()
    page.get_by_role("button", name="Spara bedömningen").click()
    expect(page.get_by_role("status")).to_contain_text("Sparat")
    _logout(page)
    # The physician admits anyway, with a reason: the values are taken at home tonight.
    _login(page, base, "karin.lundgren")
    page.goto(f"{base}/patients/{_patient(database).id}")
    page.get_by_role("link", name="Bedömning och beslut").click()
    page.locator("#decision").select_option(label="Skriv in i vård i hemmet")
    page.get_by_label("Skäl").fill("Stabil på avdelningen; värdena tas hemma i kväll.")
    page.get_by_role("button", name="Signera beslutet").click()
    expect(page.get_by_role("status")).to_contain_text("Beslutet om inskrivning är signerat")
    _logout(page)
    _login(page, base, "sara.nilsson")
    page.goto(f"{base}/patients/{_patient(database).id}")
    page.get_by_role("link", name="Skriv in i vård i hemmet").click()
    page.get_by_label("Medicinskt ansvarig läkare").select_option(
        label="Lundgren, Karin · Läkare · Medicinkliniken, Lycksele lasarett")
    page.get_by_label("Fast vårdkontakt").select_option(
        label="Lundström, Hanna · Sjuksköterska · Hemsjukvården Lycksele kommun")
    _shot(page, "02-admit-asks-sharing")
    page.get_by_label("Patienten samtycker till informationsdelning").check()
    page.get_by_role("button", name="Skriv in", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Patienten är inskriven")
    _shot(page, "03-admitted")

    # 3. A care request to the municipality's home nursing: IV antibiotics at 10:30 today.
    page.get_by_role("link", name="Vårdbegäran och besök").click()
    form = page.locator("#request-form")
    form.get_by_label("Till enhet").select_option(label="Hemsjukvården Lycksele kommun")
    form.get_by_label("Vad").select_option(label="Intravenös antibiotika")
    form.get_by_label("Klockslag").fill("10:30")
    form.get_by_label("Första dag").fill(local_today().isoformat())
    form.get_by_label("Sista dag").fill(local_today().isoformat())
    form.get_by_label("Kompetens som krävs").fill("iv")
    # Consent was given at admission: nothing more is asked.
    expect(form.locator('[name="sharing"]')).to_have_count(0)
    form.get_by_role("button", name="Skicka vårdbegäran").click()
    expect(page.get_by_role("status")).to_contain_text("Vårdbegäran är skickad")
    _shot(page, "04-care-request-sent")
    _logout(page)

    # 4. Hanna, the municipality's nurse and planner: the request waits (a badge in the
    # menu); she accepts it and plans the day.
    _login(page, base, "hanna.lundstrom")
    expect(page.get_by_role("link", name=re.compile(r"Vårdbegäran\s*\d"))).to_be_visible()
    page.get_by_role("link", name=re.compile("Vårdbegäran")).first.click()
    card = page.locator(".request", has_text="Flödesson")
    expect(card).to_contain_text("Intravenös antibiotika")
    _shot(page, "05-incoming")
    card.get_by_role("button", name="Acceptera").click()
    expect(page.get_by_role("status")).to_contain_text("accepterad")
    page.get_by_role("link", name="Besöksplanering").click()
    page.get_by_role("button", name=re.compile("Planera (om )?dagen")).click()
    expect(page.locator("body")).to_contain_text("Flödesson")
    _shot(page, "06-day-planned")
    with database.session() as s:
        visit = s.scalar(select(Visit).where(Visit.patient_id == patient.id))
        plan = current_plan(s, visit.unit_id, local_today())
        nurse = s.scalar(
            select(Staff.username).join(StaffShift, StaffShift.staff_id == Staff.id)
            .join(VisitAssignment, VisitAssignment.shift_id == StaffShift.id)
            .where(VisitAssignment.plan_id == plan.id, VisitAssignment.visit_id == visit.id))
    assert nurse is not None, "the new dose was left out of the day"
    _logout(page)

    # 5. The nurse who got the dose, on her phone: start, then done with values typed with a
    # decimal comma, and the oxygen question answered.
    phone = browser.new_page(viewport={"width": 390, "height": 844})
    _login(phone, base, nurse)
    phone.goto(f"{base}/my-route")
    stop = phone.locator(f"#visit-{visit.id}")
    expect(stop).to_contain_text("Flödesson")
    stop.get_by_role("button", name="Påbörja").click()
    stop = phone.locator(f"#visit-{visit.id}")
    stop.locator("summary", has_text="Klart").click()
    stop.get_by_label(re.compile("^Andningsfrekvens")).fill("25")
    stop.get_by_label(re.compile("^Syremättnad")).fill("92")
    stop.get_by_label("Syrgas").select_option(label="Luft")
    stop.get_by_label(re.compile("^Puls")).fill("118")
    stop.get_by_label(re.compile("^Systoliskt blodtryck")).fill("98")
    stop.get_by_label(re.compile("^Temperatur")).fill("38,9")
    stop.get_by_label("Medvetandegrad (ACVPU)").select_option(value="A")
    _shot(phone, "07-visit-values")
    stop.get_by_role("button", name="Rapportera klart").click()
    expect(phone.get_by_role("status")).to_contain_text("Besöket är utfört")
    _shot(phone, "08-visit-done")
    with database.session() as s:
        values = s.scalar(select(Observation).where(Observation.patient_id == patient.id))
        assert values.temperature == 38.9 and values.news2_partial is False
        assert values.news2_total >= 7
        alert = s.scalar(select(Alert).where(Alert.patient_id == patient.id))
        assert alert is not None and alert.status == "open"

    # 6. The alert reaches the hospital: Sara acknowledges it in her inbox.
    _login(page, base, "sara.nilsson")
    page.get_by_role("link", name=re.compile("^Larm")).click()
    row = page.locator("tr", has_text="Flödesson").first
    expect(row).to_contain_text("NEWS2")
    _shot(page, "09-alert")
    row.get_by_role("button", name="Kvittera").click()
    expect(page.get_by_role("status")).to_contain_text("kvitterat")
    _logout(page)

    # 7. The physician's remote round: Stina first, and "Boka hembesök" books a visit by the
    # mobile team.
    _login(page, base, "karin.lundgren")
    page.get_by_role("link", name="Distansrond").click()
    first = page.locator("table tbody tr").first
    expect(first).to_contain_text("Flödesson")
    _shot(page, "10-worklist")
    first.get_by_role("link", name=re.compile("Rond|Beslut")).click()
    # Why the patient returns, or how the episode ended, is asked with that decision only.
    decision = page.get_by_label("Beslut", exact=True)
    returns = page.get_by_label("Varför patienten återförs till sjukhus")
    ends = page.get_by_label("Hur vårdtillfället avslutades")
    expect(returns).to_be_hidden()
    expect(ends).to_be_hidden()
    decision.select_option(label="Återföring till sjukhus")
    expect(returns).to_be_visible()
    expect(returns).to_have_value("")
    decision.select_option(label="Skriv ut patienten")
    expect(returns).to_be_hidden()
    expect(ends).to_be_visible()
    decision.select_option(label="Boka hembesök")
    page.get_by_label("Rondanteckning").fill("Feber och takykardi. Bedömning i hemmet i dag.")
    # The options say which units are in the care team and which make home visits.
    team = page.locator("#visit_unit_id option", has_text="Mobila teamet Södra Lappland")
    page.get_by_label("Vem gör besöket").select_option(team.get_attribute("value"))
    _shot(page, "11-round-booking")
    page.get_by_role("button", name="Registrera beslut").click()
    expect(page.get_by_role("status")).to_be_visible()
    _shot(page, "12-round-booked")
    with database.session() as s:
        note = s.scalar(select(RoundNote).where(RoundNote.patient_id == patient.id))
        assert note.decision == "visit" and note.care_request_id is not None
        booked = s.get(CareRequest, note.care_request_id)
        assert booked.status == "requested" and booked.patient_id == patient.id
    _logout(page)

    # 8. Sara discharges Stina: the summary is written, the open visits stop.
    _login(page, base, "sara.nilsson")
    page.get_by_role("link", name="Vård i hemmet", exact=True).click()
    page.get_by_role("link", name=re.compile("Flödesson")).click()
    page.get_by_role("link", name="Skriv ut patienten", exact=True).click()
    outcome = page.get_by_label("Hur vårdtillfället avslutades")
    expect(outcome).to_have_value("")  # chosen, never preselected
    outcome.select_option(label="Färdigbehandlad")
    page.get_by_label("Utskrivningsanteckning").fill("Feberfri efter byte av antibiotika. "
                                                   "Åter till vårdcentralen.")
    _shot(page, "13-discharge")
    page.get_by_role("button", name="Skriv ut patienten", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("utskriven")
    _shot(page, "14-discharged")
    with database.session() as s:
        episode = s.scalar(select(Episode).where(Episode.patient_id == patient.id))
        assert (episode.state, episode.end_reason) == ("discharged", "completed")
        assert all(a.status == "resolved" for a in s.scalars(
            select(Alert).where(Alert.patient_id == patient.id)))
