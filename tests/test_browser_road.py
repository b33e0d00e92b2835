"""The road home for a new patient, in a real headless Chromium, as the people who walk it:
the nurse assesses on the OPAT pathway with the values she just measured, the physician signs
the decision, the nurse admits; the agreement is written from the pathway's template and the
patient confirms it on a phone; IV antibiotics in the shared plan become a care request that
the municipality accepts and plans; the logistics checklist is ticked off by both
organisations; the patient is discharged, the summary is written, signed and sent, its PDF
holds what was written, and the municipality acknowledges it. Screenshots of every step go
to test-artifacts/road-*.png.

Each person works in a browser context of their own (their own session), side by side. The
server's clock is stopped at 09:40 this morning (tests/test_browser_flow.py's server), so the
day plan is the same whenever the test runs."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from hemma.kit.time import local_today
from hemma.models import (
    Agreement,
    Assessment,
    CareRequest,
    ChecklistItem,
    DischargeSummary,
    Episode,
    Patient,
    PlanActivity,
    SummaryReceipt,
    Visit,
)
from hemma.patients.personnummer import format_number, make
from tests.test_browser import ARTIFACTS, _login, browser, serving  # noqa: F401
from tests.test_browser_flow import morning_server  # noqa: F401

pytestmark = pytest.mark.browser

from playwright.sync_api import expect  # noqa: E402

NUMBER = make(date(1949, 8, 21), 377)
GIVEN, FAMILY = "Birgit", "Vägström"
PATHWAY = "Intravenös antibiotika i hemmet (OPAT)"
SUMMARY_TEXT = "Erysipelas i vänster underben, tio dagar intravenöst kloxacillin i hemmet."
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


def _shot(page, name: str) -> None:
    page.screenshot(path=ARTIFACTS / f"road-{name}.png", full_page=True)


def _person(browser, base, username, width=1366, height=900):  # noqa: F811
    """A browser context of the person's own, logged in."""
    page = browser.new_context(viewport={"width": width, "height": height}).new_page()
    _login(page, base, username)
    expect(page.locator("details.more > summary")).to_be_visible()
    return page


def _answer_sharing(form) -> None:
    """Tick the patient's consent to sharing if the form asks for it."""
    consent = form.get_by_label("Patienten samtycker till informationsdelning")
    if consent.count():
        consent.check()


def _no_sideways_scroll(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size[
        "width"] + 1


def test_the_road_home_for_a_new_patient(morning_server, browser, database):  # noqa: F811
    ARTIFACTS.mkdir(exist_ok=True)
    base = morning_server
    today = local_today()
    sara = _person(browser, base, "sara.nilsson")

    # 1. Sara registers Birgit and starts an assessment on the OPAT pathway.
    sara.get_by_role("link", name="Ny patient").click()
    sara.get_by_label("Personnummer eller samordningsnummer").fill(format_number(NUMBER))
    sara.get_by_label("Förnamn").fill(GIVEN)
    sara.get_by_label("Efternamn").fill(FAMILY)
    sara.get_by_label("Gatuadress").fill("Storgatan 40, 921 31 Lycksele")
    sara.get_by_role("button", name="Registrera").click()
    expect(sara.get_by_role("status")).to_contain_text("Patienten är registrerad")
    sara.get_by_role("link", name="Påbörja bedömning för vård i hemmet").click()
    sara.get_by_label("Vårdprogram").select_option(label=PATHWAY)
    sara.get_by_role("button", name="Påbörja bedömning").click()
    expect(sara.locator(".state-assessing")).to_be_visible()
    _shot(sara, "01-assessing")
    with database.session() as s:
        patient = s.scalar(select(Patient).where(Patient.personnummer == NUMBER))
        episode = s.scalar(select(Episode).where(Episode.patient_id == patient.id))
        assert episode.state == "assessing"
    overview = f"{base}/patients/{patient.id}"
    ep = f"{overview}/episodes/{episode.id}"

    # The values first: a full set, NEWS2 2 (pulse 95 and 38,2 degrees score one each).
    sara.get_by_role("link", name="Registrera värden").click()
    form = sara.locator("#values-form")
    form.get_by_label(re.compile("^Andningsfrekvens")).fill("16")
    form.get_by_label(re.compile("^Syremättnad")).fill("97")
    form.get_by_label("Syrgas", exact=True).select_option(label="Luft")
    form.get_by_label(re.compile("^Systoliskt blodtryck")).fill("128")
    form.get_by_label(re.compile("^Diastoliskt blodtryck")).fill("78")
    form.get_by_label(re.compile("^Puls")).fill("95")
    form.get_by_label(re.compile("^Temperatur")).fill("38,2")
    form.get_by_label("Medvetandegrad (ACVPU)").select_option(value="A")
    _shot(sara, "02-values")
    form.get_by_role("button", name="Spara värden").click()
    expect(sara.get_by_role("status")).to_be_visible()
    _shot(sara, "03-values-saved")

    # The assessment's medical stability is filled from them: nothing missing, NEWS2 2.
    sara.goto(f"{ep}/assessment")
    expect(sara.get_by_role("heading", name="Bedömning för vård i hemmet")).to_be_visible()
    form = sara.locator("#assessment-form")
    stability = form.locator("#stability-values")
    expect(stability).not_to_contain_text("Saknas")
    for value in ("16", "97", "128", "95", "38,2"):
        expect(stability).to_contain_text(value)
    expect(stability.locator("tr", has_text="Syrgas")).to_contain_text("Nej")
    expect(stability.locator("xpath=following-sibling::p[1]")).to_have_text(
        re.compile(r"^\s*NEWS2:\s*2\b"))
    inclusion = form.locator('input[name="inclusion"]')
    assert inclusion.count() == 3
    for i in range(inclusion.count()):
        inclusion.nth(i).check()
    form.get_by_label("Patienten samtycker till vård i hemmet").check()
    _shot(sara, "04-assessment-form")
    form.get_by_role("button", name="Spara bedömningen").click()
    expect(sara.get_by_role("status")).to_be_visible()
    expect(sara.locator("#parts")).to_be_visible()
    _shot(sara, "05-assessment-saved")
    with database.session() as s:
        assessment = s.scalar(select(Assessment).where(Assessment.episode_id == episode.id))
        assert assessment.version == 1 and assessment.decision is None
        assert assessment.stability["news2_total"] == 2
        assert not assessment.stability.get("missing")
        assert all(assessment.criteria["inclusion"].values())
        assert assessment.information["consent_home"] is True

    # 2. Karin, the physician, signs the decision; Sara admits.
    karin = _person(browser, base, "karin.lundgren")
    karin.goto(f"{ep}/assessment")
    decide = karin.locator("#decide")
    _shot(karin, "06-decision")
    decide.get_by_label(re.compile(r"^Beslut\b")).select_option(label="Skriv in i vård i hemmet")
    decide.get_by_role("button", name="Signera beslutet").click()
    expect(karin.get_by_role("status")).to_be_visible()
    expect(karin.locator("#assessment-summary")).to_contain_text("Skriv in i vård i hemmet")
    expect(karin.locator("#assessment-summary")).to_contain_text("Karin Lundgren")
    _shot(karin, "07-decided")
    with database.session() as s:
        assert s.get(Assessment, assessment.id).decision == "admit"

    sara.goto(overview)
    expect(sara.locator("#assessment-summary")).to_contain_text("Skriv in i vård i hemmet")
    sara.get_by_role("link", name="Skriv in i vård i hemmet").click()
    form = sara.locator("#admit-form")
    form.get_by_label("Medicinskt ansvarig läkare").select_option(
        label="Lundgren, Karin · Läkare · Medicinkliniken, Lycksele lasarett")
    form.get_by_label("Fast vårdkontakt").select_option(
        label="Lundström, Hanna · Sjuksköterska · Hemsjukvården Lycksele kommun")
    _answer_sharing(form)
    _shot(sara, "08-admit")
    form.get_by_role("button", name="Skriv in", exact=True).click()
    expect(sara.get_by_role("status")).to_contain_text("Patienten är inskriven")
    expect(sara.locator(".state-admitted")).to_be_visible()
    _shot(sara, "09-admitted")
    with database.session() as s:
        assert s.get(Episode, episode.id).state == "admitted"

    # 3. The agreement, from the pathway's template; Birgit confirms it on her phone.
    sara.locator("section", has_text="Överenskommelse med patienten").get_by_role(
        "link", name="Skriv överenskommelsen").click()
    expect(sara).to_have_url(f"{ep}/agreement")
    sara.get_by_role("button", name="Skriv den från vårdprogrammets mall").click()
    expect(sara.locator("#confirmation")).to_have_class("warn")
    expect(sara.locator(".agreement")).to_contain_text("Håll förbandet över PICC-line")
    _shot(sara, "10-agreement")

    sara.goto(overview)
    sara.get_by_role("button", name="Inloggningskod till patienten").click()
    code = sara.locator("#patient-code").inner_text()
    _shot(sara, "11-patient-code")
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True).new_page()
    phone.goto(f"{base}/p")
    phone.get_by_label("Din kod").fill(code)
    phone.get_by_role("button", name="Logga in").click()
    expect(phone.get_by_role("heading", name=f"Hej {GIVEN}")).to_be_visible()
    _shot(phone, "12-phone-home")
    phone.goto(f"{base}/p/agreement")
    expect(phone.get_by_role("heading", name="Vår överenskommelse")).to_be_visible()
    expect(phone.locator("body")).to_contain_text("Håll förbandet över PICC-line")
    _no_sideways_scroll(phone)
    _shot(phone, "13-phone-agreement")
    phone.get_by_role("button", name="Jag har läst och förstår").click()
    expect(phone.locator("#confirmed")).to_be_visible()
    _shot(phone, "14-phone-confirmed")

    sara.goto(f"{ep}/agreement")
    expect(sara.locator("#confirmation")).to_have_class("ok")
    sara.goto(overview)
    expect(sara.locator("section", has_text="Överenskommelse med patienten")).to_contain_text(
        "Bekräftad")
    _shot(sara, "15-agreement-confirmed")
    with database.session() as s:
        agreement = s.scalar(select(Agreement).where(Agreement.episode_id == episode.id))
        assert agreement.version == 1 and agreement.confirmed_how == "patient_page"

    # 4. IV antibiotics in the shared plan, from the pathway's template: a care request to
    # the municipality's home nursing, today and the next two days.
    sara.locator("#careplan-link").click()
    expect(sara.get_by_role("heading", name="Gemensam plan")).to_be_visible()
    sara.locator("#add-activity > summary").click()
    sara.locator("#add-activity").get_by_role(
        "link", name=re.compile("^Intravenös antibiotika")).click()
    add = sara.locator("#add-activity")
    if add.get_attribute("open") is None:
        add.locator("summary").click()
    form = sara.locator("#activity-form")
    expect(form.get_by_label("Klockslag")).to_have_value("08:00 14:00 20:00")
    expect(form.locator("#unit_id option:checked")).to_contain_text("Hemsjukvården")
    form.get_by_label(re.compile(r"^Från\b")).fill(today.isoformat())
    form.get_by_label(re.compile(r"^Till\b")).fill((today + timedelta(days=2)).isoformat())
    _answer_sharing(form)
    _shot(sara, "16-activity-form")
    form.get_by_role("button", name="Lägg till i planen").click()
    expect(sara.get_by_role("status")).to_be_visible()
    row = sara.locator("table.activities tr", has_text="Intravenös antibiotika")
    expect(row).to_contain_text("Begärd, väntar på svar")
    _shot(sara, "17-activity-requested")
    with database.session() as s:
        activity = s.scalar(select(PlanActivity).where(PlanActivity.episode_id == episode.id))
        assert activity.times == ["08:00", "14:00", "20:00"]
        assert (activity.starts_on, activity.ends_on) == (today, today + timedelta(days=2))
        request = s.get(CareRequest, activity.care_request_id)
        assert request.status == "requested"

    # Hanna, the municipality's nurse, accepts it and plans the day.
    hanna = _person(browser, base, "hanna.lundstrom")
    hanna.get_by_role("link", name=re.compile("Vårdbegäran")).first.click()
    card = hanna.locator(".request", has_text=FAMILY)
    expect(card).to_contain_text("Intravenös antibiotika")
    _shot(hanna, "18-incoming")
    card.get_by_role("button", name="Acceptera").click()
    # Accepting checks the unit's capacity by planning the days (slow on a small machine);
    # a visit the unit cannot make is said at once, in a banner of its own.
    answer = hanna.get_by_role("status").or_(hanna.locator("#capacity"))
    expect(answer).to_contain_text("accepterad", timeout=60_000)
    _shot(hanna, "18b-accepted")
    hanna.get_by_role("link", name="Besöksplanering").click()
    hanna.get_by_role("button", name=re.compile("Planera (om )?dagen")).click()
    expect(hanna.locator("body")).to_contain_text(FAMILY)
    _shot(hanna, "19-day-plan")
    with database.session() as s:
        assert s.get(CareRequest, request.id).status == "accepted"
        visits = s.scalars(select(Visit).where(Visit.patient_id == patient.id)).all()
        assert {v.care_request_id for v in visits} == {request.id} and len(visits) >= 2

    hanna.goto(f"{ep}/careplan")
    expect(hanna.locator("table.activities tr", has_text="Intravenös antibiotika")
           ).to_contain_text("Pågår")
    _shot(hanna, "20-plan-ongoing")
    with database.session() as s:
        # A visit's status is not stored: it follows its care request and its visits.
        assert s.get(CareRequest, s.get(PlanActivity, activity.id).care_request_id
                     ).status == "accepted"

    # 5. Before homecoming: the checklist from the pathway's template, homecoming at noon.
    sara.goto(overview)
    sara.goto(f"{ep}/logistics")
    expect(sara.get_by_role("heading", name="Före hemkomst")).to_be_visible()
    create = sara.locator("#create-form")
    create.get_by_label("Hemkomst").fill(f"{today.isoformat()}T12:00")
    create.get_by_role("button", name="Skapa checklistan").click()
    items = sara.locator("#checklist tr[data-item]")
    expect(items).to_have_count(5)
    _shot(sara, "21-checklist")

    # The key box is the municipality's: Hanna ticks it; the rest are the region's.
    hanna.goto(f"{ep}/logistics")
    key = hanna.locator("#checklist tr[data-item]", has_text="Nyckel")
    key.locator('input[name="deliverer"]').fill("Dottern")
    key.get_by_role("button", name="Klart").click()
    expect(hanna.locator("#checklist tr[data-item]", has_text="Nyckel").get_by_role(
        "button", name="Klart")).to_have_count(0)
    _shot(hanna, "22-key-box-done")

    sara.reload()
    for _ in range(4):
        open_item = sara.locator("#checklist tr[data-item]").filter(
            has=sara.get_by_role("button", name="Klart")).first
        item = open_item.get_attribute("data-item")
        open_item.get_by_role("button", name="Klart").click()
        expect(sara.locator(f'#checklist tr[data-item="{item}"]').get_by_role(
            "button", name="Klart")).to_have_count(0)
    expect(sara.locator("#checklist").get_by_role("button", name="Klart")).to_have_count(0)
    _shot(sara, "23-checklist-done")
    with database.session() as s:
        done = s.scalars(select(ChecklistItem).where(ChecklistItem.episode_id == episode.id))
        assert all(i.done_at is not None for i in done)

    # 6. Sara discharges Birgit and goes straight on to the summary.
    sara.goto(overview)
    sara.get_by_role("link", name="Skriv ut patienten", exact=True).click()
    sara.get_by_label("Hur vårdtillfället avslutades").select_option(label="Färdigbehandlad")
    sara.get_by_label("Utskrivningsanteckning").fill("Kuren klar, feberfri. Åter till "
                                                    "vårdcentralen.")
    sara.get_by_role("button", name="Skriv ut patienten", exact=True).click()
    expect(sara).to_have_url(re.compile(r"/summary"))
    expect(sara.get_by_role("heading", name="Utskrivningssammanfattning")).to_be_visible()
    _shot(sara, "24-discharged")
    sara.get_by_role("button", name="Skriv sammanfattningen från vårdtillfället").click()
    sara.get_by_label("Läkarens sammanfattning").fill(SUMMARY_TEXT)
    sara.locator("#summary-form").get_by_role("button", name="Spara").click()
    expect(sara.get_by_label("Läkarens sammanfattning")).to_have_value(SUMMARY_TEXT)
    _shot(sara, "25-summary-draft")
    with database.session() as s:
        assert s.get(Episode, episode.id).state == "discharged"

    karin.goto(f"{ep}/summary")
    sign = karin.locator("#sign-form")
    expect(sign.get_by_label(re.compile("Hemsjukvården Lycksele kommun"))).to_be_checked()
    _shot(karin, "26-summary-to-sign")
    sign.get_by_role("button", name="Signera och skicka").click()
    expect(karin.locator(".lead")).to_contain_text("Signerad")
    expect(karin.locator("#summary-text")).to_contain_text(SUMMARY_TEXT)
    expect(karin.locator("#receipts")).to_contain_text("Hemsjukvården Lycksele kommun")
    _shot(karin, "27-summary-signed")

    response = karin.request.get(f"{ep}/summary.pdf")
    assert response.ok and response.headers["content-type"].startswith("application/pdf")
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(response.body())).pages)
    flat = " ".join(text.split())
    assert f"{GIVEN} {FAMILY}" in flat or f"{FAMILY}, {GIVEN}" in flat
    assert PATHWAY in flat
    assert " ".join(SUMMARY_TEXT.split()) in flat
    assert not UUID.search(text), UUID.search(text)

    # The municipality finds it among its discharge summaries and acknowledges it.
    hanna.goto(f"{base}/summaries")
    row = hanna.locator("#summaries tr", has_text=FAMILY)
    expect(row).to_contain_text("Inte ännu")
    _shot(hanna, "28-summaries-inbox")
    row.get_by_role("link", name=re.compile(FAMILY)).click()
    hanna.get_by_role("button", name="Kvittera mottagandet").click()
    expect(hanna.locator("#receipt")).to_contain_text("kvitterade")
    _shot(hanna, "29-summary-acknowledged")
    with database.session() as s:
        summary = s.scalar(select(DischargeSummary).where(
            DischargeSummary.episode_id == episode.id))
        assert summary.signed_at is not None and summary.text == SUMMARY_TEXT
        receipts = s.scalars(select(SummaryReceipt).where(
            SummaryReceipt.summary_id == summary.id)).all()
        assert receipts and all(r.acknowledged_at is not None for r in receipts)
