"""The route page without coverage, in a real headless Chromium: Hanna opens Min rutt, the
service worker keeps it; without coverage the page still opens, and she reports a visit
done with values; the report waits on the phone and arrives exactly once when the phone is
back online, however often it is sent. At logout nothing stays on the phone (and reports
still waiting are not dropped without asking); on a later day the kept route is gone.

The server's clock is stopped at 09:40 this morning (tests/test_browser_flow.py's server)."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from hemma.demo import DEMO_PASSWORD
from hemma.kit.time import local_today
from hemma.models import Observation, Staff, Visit, VisitReportRecord
from tests.test_browser import ARTIFACTS, _login, browser, serving  # noqa: F401
from tests.test_browser_flow import morning_server  # noqa: F401

pytestmark = pytest.mark.browser

from playwright.sync_api import expect  # noqa: E402

NURSE = "hanna.lundstrom"
# The route page's queue, opened as its script opens it.
QUEUE = """new Promise((ok) => {
  const r = indexedDB.open("hemma-offline", 1);
  r.onupgradeneeded = () => r.result.createObjectStore("reports", {keyPath: "seq", autoIncrement: true});
  r.onsuccess = () => ok(r.result);
})"""
STORAGE = """async () => ({
  caches: await caches.keys(),
  databases: (await indexedDB.databases()).map((d) => d.name),
  workers: (await navigator.serviceWorker.getRegistrations()).length,
})"""


def _emptied(page) -> dict:
    """The phone's storage once the logout's clean-up has run: a route the worker was keeping
    while the nurse logged out is deleted as soon as its write ends, so wait for that."""
    for _ in range(50):
        found = page.evaluate(STORAGE)
        if found == {"caches": [], "databases": [], "workers": 0}:
            break
        page.wait_for_timeout(200)
    return found


def _phone(browser):  # noqa: F811
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    return context, context.new_page()


def _open_route(page, base):
    """Min rutt, kept on the phone by its service worker."""
    page.goto(f"{base}/my-route")
    expect(page.get_by_role("heading", name="Min rutt", exact=True)).to_be_visible()
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    expect(page.locator("#offline-kept")).to_be_visible()


def _first_planned(page):
    """The first visit of the route that can still be reported, and its ids."""
    stop = page.locator("li.visit", has=page.get_by_role("button", name="Påbörja")).first
    visit_id = stop.get_attribute("data-visit")
    return page.locator(f"li[data-visit='{visit_id}']"), visit_id


def _counts(database, visit_id: str) -> tuple[int, int]:
    with database.session() as s:
        visit = s.get(Visit, uuid.UUID(visit_id))
        reports = s.scalar(select(func.count()).select_from(VisitReportRecord)
                           .where(VisitReportRecord.visit_id == visit.id))
        values = s.scalar(select(func.count()).select_from(Observation).where(
            Observation.patient_id == visit.patient_id, Observation.source == "visit"))
        return reports, values


def _back_online(context, page):
    """Coverage again. A page Chromium loaded while its network was emulated offline keeps
    saying navigator.onLine (as a phone with a signal but no data does), so the browser does
    not tell it: the phone's "online" event is given here, as a phone gives it."""
    context.set_offline(False)
    page.evaluate("() => window.dispatchEvent(new Event('online'))")


def _log_out(page):
    """The menu's "Logga ut" (on a phone the menu folds behind a button)."""
    page.locator(".menu-toggle").click()
    page.locator("details.more > summary").click()
    page.locator('form[action="/logout"]').get_by_role("button", name="Logga ut").click()


def _report_done(stop, pulse="88", temperature="37,8"):
    stop.locator("summary", has_text="Klart").click()
    stop.get_by_label(re.compile("^Puls")).fill(pulse)
    stop.get_by_label(re.compile("^Temperatur")).fill(temperature)
    stop.get_by_role("button", name="Rapportera klart").click()


def test_a_visit_reported_without_coverage_arrives_exactly_once(morning_server, browser,  # noqa: F811
                                                                 database):
    ARTIFACTS.mkdir(exist_ok=True)
    base = morning_server
    context, page = _phone(browser)
    _login(page, base, NURSE)
    _open_route(page, base)
    # An app to install: its manifest and worker are whole (Playwright's contexts are
    # private windows, which is the one thing the browser holds against installing).
    cdp = context.new_cdp_session(page)
    assert cdp.send("Page.getAppManifest")["errors"] == []
    assert {e["errorId"] for e in cdp.send("Page.getInstallabilityErrors")[
        "installabilityErrors"]} <= {"in-incognito"}
    stop, visit_id = _first_planned(page)
    patient = stop.locator("h2").evaluate("h => h.firstChild.textContent.trim()")

    # No coverage: the route still opens, from the phone, and says so.
    context.set_offline(True)
    page.reload()
    expect(page.get_by_role("heading", name="Min rutt", exact=True)).to_be_visible()
    expect(page.locator(f"li[data-visit='{visit_id}'] h2")).to_contain_text(patient)
    expect(page.locator("#offline-shown")).to_contain_text("Ingen täckning")

    # Done, with values typed with a decimal comma: it waits on the phone.
    stop = page.locator(f"li[data-visit='{visit_id}']")
    _report_done(stop)
    panel = page.locator("#offline-queue")
    expect(panel).to_contain_text("1 rapport väntar på att skickas")
    expect(stop.locator(".queued-note")).to_contain_text("Sparad i telefonen")
    expect(stop.locator(".visit-actions")).to_be_hidden()
    page.screenshot(path=ARTIFACTS / "offline-waiting.png", full_page=True)
    assert _counts(database, visit_id) == (0, 0)

    # Still waiting after the page is opened again without coverage.
    page.reload()
    expect(panel).to_contain_text("1 rapport väntar på att skickas")
    expect(page.locator(f"li[data-visit='{visit_id}'] .state")).to_have_text("Klart")

    # Back online: it is sent, and the page says so.
    _back_online(context, page)
    expect(panel).to_contain_text("Alla rapporter är skickade")
    expect(panel.locator("li.queued-sent")).to_contain_text(patient)
    page.screenshot(path=ARTIFACTS / "offline-sent.png", full_page=True)
    assert _counts(database, visit_id) == (1, 1)
    with database.session() as s:
        visit = s.get(Visit, uuid.UUID(visit_id))
        values = s.scalar(select(Observation).where(Observation.patient_id == visit.patient_id,
                                                    Observation.source == "visit"))
        assert visit.status == "done"
        assert (values.pulse, values.temperature) == (88, 37.8)
        assert values.client_id == f"visit-{visit_id}"

    # Its answer was lost on the way (the phone thinks it still waits): sent again, with
    # the same client id, it changes nothing.
    page.evaluate("""async () => {
      const db = await """ + QUEUE + """;
      const store = db.transaction("reports", "readwrite").objectStore("reports");
      const all = await new Promise((ok) => { const r = store.getAll(); r.onsuccess = () => ok(r.result); });
      for (const e of all) { e.state = "waiting"; store.put(e); }
      await new Promise((ok) => { store.transaction.oncomplete = ok; });
      db.close();
    }""")
    page.reload()
    expect(panel).to_contain_text("Alla rapporter är skickade")
    page.get_by_role("heading", name="Min rutt", exact=True).click()
    assert _counts(database, visit_id) == (1, 1)
    page.reload()
    expect(page.locator(f"li[data-visit='{visit_id}'] .state")).to_have_text("Klart")
    assert _counts(database, visit_id) == (1, 1)

    # Logout: nothing of the route or the queue stays on the phone.
    _log_out(page)
    expect(page.get_by_role("heading", name="Logga in")).to_be_visible()
    assert _emptied(page) == {"caches": [], "databases": [], "workers": 0}
    context.close()


def test_logout_with_reports_waiting_asks_first(morning_server, browser, database):  # noqa: F811
    base = morning_server
    context, page = _phone(browser)
    _login(page, base, NURSE)
    _open_route(page, base)
    stop, visit_id = _first_planned(page)
    context.set_offline(True)
    stop.get_by_role("button", name="Påbörja").click()
    expect(page.locator("#offline-queue")).to_contain_text("1 rapport väntar på att skickas")
    # The visit shows as started; what may follow is still offered.
    expect(stop.locator(".state")).to_have_text("Påbörjad")
    expect(stop.get_by_role("button", name="Påbörja")).to_be_hidden()
    expect(stop.locator("summary", has_text="Klart")).to_be_visible()

    # Logging out asks first: the report is still waiting.
    _log_out(page)
    warning = page.locator("#offline-logout")
    expect(warning).to_contain_text("Rapporter har inte skickats")
    expect(warning.get_by_role("button", name="Kasta rapporterna och logga ut")).to_be_visible()
    page.screenshot(path=ARTIFACTS / "offline-logout-warning.png", full_page=True)
    assert page.evaluate(STORAGE)["databases"] == ["hemma-offline"]

    # Back online, it is sent; then the logout goes through and empties the phone.
    _back_online(context, page)
    expect(page.locator("#offline-queue")).to_contain_text("Alla rapporter är skickade")
    assert _counts(database, visit_id) == (1, 0)
    page.locator("#offline-logout-done").get_by_role("button", name="Logga ut").click()
    expect(page.get_by_role("heading", name="Logga in")).to_be_visible()
    assert _emptied(page) == {"caches": [], "databases": [], "workers": 0}

    # Discarding on purpose: the report never reaches the server.
    _login(page, base, NURSE)
    _open_route(page, base)
    stop, second = _first_planned(page)
    context.set_offline(True)
    stop.get_by_role("button", name="Påbörja").click()
    expect(page.locator("#offline-queue")).to_contain_text("1 rapport väntar på att skickas")
    _log_out(page)
    page.once("dialog", lambda dialog: dialog.accept())
    # Without coverage the logout itself cannot reach the server; the phone is emptied first.
    with page.expect_event("requestfailed", lambda r: r.url.endswith("/logout")):
        page.get_by_role("button", name="Kasta rapporterna och logga ut").click()
    context.set_offline(False)
    page.goto(f"{base}/login")
    assert _emptied(page) == {"caches": [], "databases": [], "workers": 0}
    assert _counts(database, second) == (0, 0)
    context.close()


def test_a_route_kept_on_an_earlier_day_is_not_shown(morning_server, browser, database):  # noqa: F811
    base = morning_server
    context, page = _phone(browser)
    _login(page, base, NURSE)
    _open_route(page, base)
    with database.session() as s:
        staff_id = s.scalar(select(Staff.id).where(Staff.username == NURSE))
    today = local_today()
    yesterday = today - timedelta(days=1)
    names = page.evaluate("caches.keys()")
    assert f"hemma-route-{staff_id}-{today.isoformat()}" in names
    # The phone kept it yesterday: the same page, under yesterday's name.
    page.evaluate(f"""async () => {{
      const page = await (await caches.open("hemma-route-{staff_id}-{today}")).match("/my-route");
      await (await caches.open("hemma-route-{staff_id}-{yesterday}")).put("/my-route", page);
      await caches.delete("hemma-route-{staff_id}-{today}");
    }}""")
    context.set_offline(True)
    page.reload()
    expect(page.locator("#route-offline")).to_contain_text("dagens rutt är inte sparad")
    expect(page.locator("li.visit")).to_have_count(0)
    assert not [n for n in page.evaluate("caches.keys()") if n.startswith("hemma-route-")]
    context.close()


def test_another_users_reports_and_route_stay_theirs(morning_server, browser, database):  # noqa: F811
    base = morning_server
    context, page = _phone(browser)
    _login(page, base, NURSE)
    _open_route(page, base)
    # A report someone else queued on this phone (their session has ended).
    page.evaluate("""async () => {
      const db = await """ + QUEUE + """;
      const store = db.transaction("reports", "readwrite").objectStore("reports");
      store.add({staff: "999999", day: "2000-01-01", visit_id: "x", patient_id: "y",
                 url: "/api/v1/patients/y/visits/x/report", patient: "Någon",
                 body: {status: "started", client_id: "someone-else-1", at: new Date().toISOString()},
                 state: "waiting", created_at: new Date().toISOString()});
      await new Promise((ok) => { store.transaction.oncomplete = ok; });
      db.close();
    }""")
    page.reload()
    others = page.locator("#offline-others")
    expect(others).to_contain_text("Rapporter från en annan användare väntar i telefonen: 1")
    expect(page.locator("#offline-list li")).to_have_count(0)
    # A login (whoever it is) leaves no one's route on the phone; the report stays theirs.
    page.goto(f"{base}/login")
    page.wait_for_function("""async () => !(await caches.keys())
                                .some((n) => n.startsWith("hemma-route-"))""")
    assert page.evaluate(STORAGE)["databases"] == ["hemma-offline"]
    context.close()


def test_a_kept_page_from_another_session_and_an_ended_session(morning_server, browser,  # noqa: F811
                                                               database):
    """The page on the phone may be older than the session: its CSRF token is renewed once
    from the server; a session that ended while the phone was without coverage asks the
    nurse to log in again, and the report waits for it."""
    from hemma.access.auth import end_all_sessions

    base = morning_server
    context, page = _phone(browser)
    _login(page, base, NURSE)
    _open_route(page, base)
    stop, visit_id = _first_planned(page)
    # The page's token is not this session's (kept from an earlier one).
    page.evaluate("""() => document.querySelectorAll("input[name=csrf_token]")
                             .forEach((i) => { i.value = "from-an-earlier-session"; })""")
    context.set_offline(True)
    stop.get_by_role("button", name="Påbörja").click()
    panel = page.locator("#offline-queue")
    expect(panel).to_contain_text("1 rapport väntar på att skickas")
    _back_online(context, page)
    expect(panel).to_contain_text("Alla rapporter är skickade")
    assert _counts(database, visit_id) == (1, 0)

    # Without coverage again, and meanwhile the session ends (timed out on the server).
    context.set_offline(True)
    stop = page.locator(f"li[data-visit='{visit_id}']")
    stop.locator("summary", has_text="Ej utfört").click()
    stop.get_by_label("Varför blev besöket inte av?").select_option(
        label="Patienten var inte hemma")
    stop.get_by_label("Med egna ord").fill("Ingen öppnade")
    stop.get_by_role("button", name="Rapportera ej utfört").click()
    expect(panel).to_contain_text("1 rapport väntar på att skickas")
    with database.session() as s:
        end_all_sessions(s, s.scalar(select(Staff.id).where(Staff.username == NURSE)))
    _back_online(context, page)
    expect(panel.get_by_role("link", name="Logga in igen för att skicka rapporterna som väntar")
           ).to_be_visible()
    expect(panel).to_contain_text("1 rapport väntar på att skickas")
    assert _counts(database, visit_id) == (1, 0)

    # She logs in again: the route opens, and the report is sent in her new session.
    panel.get_by_role("link", name="Logga in igen för att skicka rapporterna som väntar").click()
    page.get_by_label("Användarnamn").fill(NURSE)
    page.get_by_label("Lösenord").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Logga in").click()
    expect(page.locator("#offline-queue")).to_contain_text("Alla rapporter är skickade")
    assert _counts(database, visit_id) == (2, 0)
    with database.session() as s:
        visit = s.get(Visit, uuid.UUID(visit_id))
        assert (visit.status, visit.not_done_code, visit.not_done_reason) == (
            "not_done", "patient_not_home", "Ingen öppnade")
    context.close()


def test_a_visit_not_done_without_coverage_says_why(morning_server, browser, database):  # noqa: F811
    """Not done takes why from a list (nothing chosen beforehand): without coverage the
    choice waits on the phone with the report and arrives with it; "another reason" needs
    words, and the server's refusal is shown at once, with nothing saved."""
    base = morning_server
    context, page = _phone(browser)
    _login(page, base, NURSE)
    _open_route(page, base)
    stop, visit_id = _first_planned(page)
    stop.locator("summary", has_text="Ej utfört").click()
    why = stop.get_by_label("Varför blev besöket inte av?")
    expect(why).to_have_value("")
    expect(why.locator("option").first).to_have_text("Välj …")

    # Another reason without words: refused while she is still there, nothing saved.
    why.select_option(label="Annan orsak")
    stop.get_by_role("button", name="Rapportera ej utfört").click()
    expect(stop.locator(".error-summary")).to_contain_text("Ange varför besöket inte blev av")
    expect(stop.get_by_label("Med egna ord")).to_have_attribute("aria-invalid", "true")
    # Nothing waits on the phone either: the visit shows as it was.
    expect(page.locator("#offline-queue")).to_be_hidden()
    expect(stop.locator(".queued-note")).to_have_count(0)
    expect(stop.locator(".state")).to_have_text("Planerad")
    assert _counts(database, visit_id) == (0, 0)
    page.screenshot(path=ARTIFACTS / "offline-not-done-refused.png", full_page=True)

    # Without coverage: nobody home. It waits on the phone with its reason.
    context.set_offline(True)
    why.select_option(label="Patienten var inte hemma")
    stop.get_by_role("button", name="Rapportera ej utfört").click()
    panel = page.locator("#offline-queue")
    expect(panel).to_contain_text("1 rapport väntar på att skickas")
    expect(panel.locator("#offline-list")).to_contain_text(
        "Ej utfört (Patienten var inte hemma)")
    expect(stop.locator(".state")).to_have_text("Ej utfört")
    page.screenshot(path=ARTIFACTS / "offline-not-done-waiting.png", full_page=True)
    assert _counts(database, visit_id) == (0, 0)

    _back_online(context, page)
    expect(panel).to_contain_text("Alla rapporter är skickade")
    assert _counts(database, visit_id) == (1, 0)
    with database.session() as s:
        visit = s.get(Visit, uuid.UUID(visit_id))
        assert (visit.status, visit.not_done_code, visit.not_done_reason) == (
            "not_done", "patient_not_home", None)
    page.reload()
    expect(page.locator(f"li[data-visit='{visit_id}'] .not-done-reason")).to_have_text(
        "Patienten var inte hemma")
    context.close()
