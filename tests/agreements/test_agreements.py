"""The agreement the patient has in their hand: written from the pathway's template, edited
into versions, confirmed by the patient (on their phone or on paper), printed, and kept to
the home ward's own organisation."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pypdf
from sqlalchemy import select

from hemma.kit.time import local_today, utcnow
from hemma.models import AuditEntry, Staff, Unit
from hemma.models.careplans import Agreement
from hemma.models.monitoring import DutyShift
from tests.monitoring.test_patient_page import _code_for, _patient_login

DASHED_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.I)


def _setup(world, *, name="Åsa", family="Öberg"):
    pid = world.patient(unit="med", name=name, family=family)
    eid = world.episode(pid, pathway="snabbspar")
    return pid, eid, f"/patients/{pid}/episodes/{eid}/agreement"


def _roster(world, database):
    """Sara has the day, Lisa is the physician on call tonight; the unit has a switchboard."""
    now = utcnow()
    with database.session() as s:
        s.get(Staff, world.staff["sara"]).phone = "070-111 11 11"
        s.get(Staff, world.staff["lisa"]).phone = "070-222 22 22"
        s.get(Unit, world.units["med"]).phone = "0950-399 00"
        today = local_today()
        from hemma.kit.time import at_local

        s.add_all([
            DutyShift(unit_id=world.units["med"], staff_id=world.staff["sara"], role="nurse",
                      starts_at=at_local(today, "07:00"), ends_at=at_local(today, "16:00")
                      + timedelta(days=1)),
            DutyShift(unit_id=world.units["med"], staff_id=world.staff["lisa"],
                      role="physician_on_call", starts_at=at_local(today, "17:00"),
                      ends_at=at_local(today, "08:00") + timedelta(days=1)),
        ])
    assert now  # the shifts cover now and the coming night


def _versions(database, eid) -> list[Agreement]:
    with database.session() as s:
        rows = s.scalars(select(Agreement).where(Agreement.episode_id == eid)
                         .order_by(Agreement.version)).all()
        s.expunge_all()
        return rows


def _edit_form(page: str) -> dict:
    """The edit form's fields as the page filled them in."""
    form = page.split('id="agreement-form"')[1].split("</form>")[0]
    data = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', form))
    for name, text in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>([^<]*)</textarea>', form):
        data[name] = text.replace("&#39;", "'").replace("&amp;", "&")
    for name, body in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', form, re.S):
        chosen = re.search(r'value="([^"]+)"\s+selected', body)
        if chosen:
            data[name] = chosen.group(1)
    return {k: v for k, v in data.items() if v != ""}


def test_written_from_the_template_then_changed_into_version_two(world, database, as_user):
    _roster(world, database)
    pid, eid, base = _setup(world)
    sara = as_user("sara")
    page = sara.get(base)
    assert page.status_code == 200 and "Ingen överenskommelse skriven ännu" in page.text
    # The form starts from the pathway's template.
    assert "Håll förbandet över PICC-line torrt och rent" in page.text
    assert sara.post(f"{base}/draft", follow_redirects=False).status_code == 303
    (v1,) = _versions(database, eid)
    assert v1.version == 1 and v1.change_note is None and v1.confirmed_at is None
    assert v1.content["planned_days"] == 10 and len(v1.content["if_worse"]) == 4
    assert v1.content["measure_times"] == ["08:00", "14:00", "20:00"]
    # The numbers of the day: the nurse on duty by day, the physician on call at night.
    assert v1.content["phones"] == {"day": "070-111 11 11", "night": "070-222 22 22"}
    page = sara.get(base)
    assert "Call 070-111 11 11 (daytime) or 070-222 22 22 (evening and night)" in page.text \
        or "Ring 070-111 11 11" in page.text
    # A second draft is refused: the agreement is changed, not rewritten.
    assert sara.post(f"{base}/draft").status_code == 409

    form = _edit_form(page.text)
    assert form["base_version"] == "1" and form["action_3"] == "call_112"
    form["patient_tasks"] += "\nTa Waran enligt doseringslistan kl 18"
    form["planned_days"] = "12"
    # Without saying what changed: refused, nothing saved.
    r = sara.post(base, data=form)
    assert r.status_code == 422 and 'id="change_note-error"' in r.text
    assert len(_versions(database, eid)) == 1
    form["change_note"] = "Waran tillagt; förlängt två dagar"
    r = sara.post(base, data=form, follow_redirects=False)
    assert r.status_code == 303, r.text[:3000]
    v1, v2 = _versions(database, eid)
    assert v2.version == 2 and v2.change_note == "Waran tillagt; förlängt två dagar"
    assert v2.content["planned_days"] == 12 and v1.content["planned_days"] == 10
    # The earlier version stays readable, and the new one says what changed.
    old = sara.get(f"{base}/versions/1")
    assert old.status_code == 200 and "Ta Waran" not in old.text
    new = sara.get(f"{base}/versions/2")
    changes = new.text.split('id="changes"')[1].split("</ul>")[0]
    assert "Ta Waran enligt doseringslistan kl 18" in changes
    assert "10" in changes and "12" in changes
    assert sara.get(f"{base}/versions/3").status_code == 404
    # The same text saved again is no new version.
    form["base_version"] = "2"
    assert sara.post(base, data=form).status_code == 422
    # A save started from version 1 after version 2 exists does not overwrite it.
    form["base_version"] = "1"
    form["change_note"] = "Något annat"
    form["planned_days"] = "9"
    assert sara.post(base, data=form).status_code == 409
    assert len(_versions(database, eid)) == 2
    with database.session() as s:
        actions = set(s.scalars(select(AuditEntry.action).where(AuditEntry.patient_id == pid)))
    assert "agreement.save" in actions


def test_a_confirmation_belongs_to_one_version(world, database, as_user):
    pid, eid, base = _setup(world)
    sara = as_user("sara")
    sara.post(f"{base}/draft")
    # On paper: recorded by staff, for the version on the page.
    assert sara.post(f"{base}/confirm-paper", data={"version": "1"},
                     follow_redirects=False).status_code == 303
    (v1,) = _versions(database, eid)
    assert v1.confirmed_how == "paper" and v1.confirmed_by_id == world.staff["sara"]
    assert sara.post(f"{base}/confirm-paper", data={"version": "1"}).status_code == 409
    overview = sara.get(f"/patients/{pid}")
    assert 'id="h-agreement"' in overview.text and "Version 1" in overview.text
    # A new version needs a confirmation of its own.
    r = sara.post(f"{base}", data={**_edit_form(sara.get(base).text), "planned_days": "14",
                                   "change_note": "Längre kur"}, follow_redirects=False)
    assert r.status_code == 303
    v1, v2 = _versions(database, eid)
    assert v1.confirmed_at is not None and v2.confirmed_at is None
    assert sara.post(f"{base}/confirm-paper", data={"version": "1"}).status_code == 409
    assert sara.post(f"{base}/confirm-paper", data={"version": "x"}).status_code == 422


def test_the_patient_reads_and_confirms_on_their_phone(app, world, database, as_user):
    pid, eid, base = _setup(world, name="Gunnel")
    sara = as_user("sara")
    sara.post(f"{base}/draft")
    phone = _patient_login(app, _code_for(sara, pid))
    home = phone.get("/p")
    assert 'href="/p/agreement"' in home.text
    page = phone.get("/p/agreement")
    assert page.status_code == 200
    assert "Antibiotikakuren är klar" in page.text and "112" in page.text
    assert 'name="viewport" content="width=device-width' in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    # Meanwhile staff change it: the version on the patient's screen is no longer current.
    r = sara.post(base, data={**_edit_form(sara.get(base).text), "planned_days": "11",
                              "change_note": "En dag till"}, follow_redirects=False)
    assert r.status_code == 303
    stale = phone.post("/p/agreement/confirm", data={"csrf_token": token, "version": "1"})
    assert stale.status_code == 409
    assert 'name="version" value="2"' in stale.text  # the newer one, to read and confirm
    assert all(v.confirmed_at is None for v in _versions(database, eid))
    ok = phone.post("/p/agreement/confirm", data={"csrf_token": token, "version": "2"},
                    follow_redirects=False)
    assert ok.status_code == 303
    v1, v2 = _versions(database, eid)
    assert v1.confirmed_at is None and v2.confirmed_how == "patient_page"
    assert v2.confirmed_by_id is None
    again = phone.get("/p/agreement")
    assert 'id="confirmed"' in again.text and 'id="confirm-agreement"' not in again.text
    assert "patient" in sara.get(base).text.lower()
    with database.session() as s:
        entries = s.scalars(select(AuditEntry).where(
            AuditEntry.patient_id == pid, AuditEntry.action == "patient.agreement_confirm")).all()
        assert [e.basis for e in entries] == ["self"]


def test_the_pdf_has_name_date_swedish_letters_large_type_and_no_ids(world, database,
                                                                      as_user):
    _roster(world, database)
    pid, eid, base = _setup(world, name="Åsa", family="Öberg")
    sara = as_user("sara")
    # Nothing written yet: where it is written.
    assert sara.get(f"{base}.pdf", follow_redirects=False).status_code == 303
    sara.post(f"{base}/draft")
    r = sara.get(f"{base}.pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert str(eid) not in r.headers["content-disposition"]
    reader = pypdf.PdfReader(io.BytesIO(r.content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "Åsa Öberg" in text and local_today().isoformat() in text
    assert "Håll förbandet över PICC-line torrt och rent" in text
    assert "070-111 11 11" in text and "112" in text
    assert not UUID.search(text) and str(eid) not in text and str(pid) not in text
    assert str(eid).encode() not in r.content and str(pid).encode() not in r.content
    # (The file's /ID is a digest of its content, 32 hex digits without dashes: no database's.)
    assert not DASHED_UUID.search(r.content.decode("latin-1"))
    # Large type: the body text is set at 15 pt or more.
    sizes = set()

    def visit(text_, cm, tm, font, size):
        if text_.strip():
            sizes.add(round(size * tm[0], 1))

    reader.pages[0].extract_text(visitor_text=visit)
    assert sizes and min(sizes) >= 11 and sorted(sizes)[len(sizes) // 2] >= 15
    # The print page: the same text, ready for the browser's print.
    printed = sara.get(f"{base}/print")
    assert printed.status_code == 200 and "@media print" not in printed.text
    assert "/static/agreement.css" in printed.text and "Åsa Öberg" in printed.text
    with database.session() as s:
        assert "agreement.print" in set(s.scalars(select(AuditEntry.action).where(
            AuditEntry.patient_id == pid)))


def test_another_organisation_reads_with_consent_and_never_changes(world, database, as_user):
    pid, eid, base = _setup(world)
    world.relation(pid, unit="hsv")
    as_user("sara").post(f"{base}/draft")
    kim = as_user("kim")
    form = {"patient_tasks": "Mät", "if_worse": "x", "symptom_0": "Feber",
            "action_0": "call_team", "planned_days": "5", "end_criteria": "Klar",
            "change_note": "Kommunen ändrar"}
    api = f"/api/v1/patients/{pid}/episodes/{eid}/agreement"
    body = {"content": {"if_worse": [{"symptom": "Feber", "action": "call_112"}],
                        "planned_days": 5, "end_criteria": "Klar"}, "change_note": "Ändrat"}
    # Without the patient's consent: the region's agreement does not exist for Kommunen.
    assert kim.get(base).status_code == 404
    assert kim.get(f"{base}.pdf").status_code == 404
    assert kim.get(api).status_code == 404
    assert kim.post(base, data=form).status_code == 404
    # With consent: read, never changed.
    world.consent(pid, "kommun")
    page = kim.get(base)
    assert page.status_code == 200 and "Håll förbandet" in page.text
    assert 'id="agreement-form"' not in page.text and "/confirm-paper" not in page.text
    assert kim.get(api).status_code == 200
    assert kim.post(base, data=form).status_code == 403
    assert kim.post(f"{base}/confirm-paper", data={"version": "1"}).status_code == 403
    assert kim.post(api, json=body).status_code == 403
    assert kim.post(f"{api}/paper-confirmation", json={"version": 1}).status_code == 403
    (v1,) = _versions(database, eid)
    assert v1.confirmed_at is None and v1.content["planned_days"] == 10
    # The region's own nurse of another unit changes it (the same organisation).
    world.relation(pid, unit="hc")
    r = as_user("hugo").post(api, json=body)
    assert r.status_code == 201 and r.json()["version"] == 2
    assert r.json()["changes"]


def test_bad_input_is_refused_by_field_and_saves_nothing(world, database, as_user):
    pid, eid, base = _setup(world)
    sara = as_user("sara")
    bad = {"patient_tasks": "x" * 501 + "\nMät", "team_tasks": "Kommer\x07",
           "symptom_0": "Feber", "action_0": "call_the_neighbour", "planned_days": "400",
           "end_criteria": "<script>alert(1)</script>"}
    r = sara.post(base, data=bad)
    assert r.status_code == 422
    for name in ("patient_tasks", "team_tasks", "action_0", "planned_days"):
        assert f'id="{name}-error"' in r.text, name
    assert "<script>alert(1)</script>" not in r.text  # shown back escaped, never run
    r = sara.post(base, data={"planned_days": "5", "end_criteria": "Klar"})
    assert r.status_code == 422 and 'id="if_worse-error"' in r.text
    assert _versions(database, eid) == []
    api = f"/api/v1/patients/{pid}/episodes/{eid}/agreement"
    r = sara.post(api, json={"content": {"if_worse": [{"symptom": "", "action": "call_112"}],
                                         "planned_days": 0, "end_criteria": "Klar",
                                         "extra": 1}})
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]} if "errors" in r.json() else set(
        str(r.json()))
    assert any("planned_days" in f for f in fields) and any("symptom" in f for f in fields)
    # Markup typed into the agreement is kept as text everywhere it is shown.
    ok = sara.post(api, json={"content": {
        "patient_tasks": ["<b>Mät</b> & skicka"],
        "if_worse": [{"symptom": "<img src=x onerror=alert(1)>", "action": "call_team"}],
        "planned_days": 5, "end_criteria": "Klar"}})
    assert ok.status_code == 201
    page = sara.get(base).text
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert sara.get(f"{base}/versions/0").status_code == 422
    assert sara.get(f"{base}.pdf?version=99").status_code == 404


def test_numbers_fall_back_to_the_plan_then_the_unit(world, database):
    from hemma.agreements import service
    from hemma.models import Episode, MonitoringPlan

    pid, eid, _base = _setup(world)
    with database.session() as s:
        s.get(Unit, world.units["med"]).phone = "0950-399 00"
        episode = s.get(Episode, eid)
        # No one on the roster: the unit's own number, day and night.
        assert service.contact_numbers(s, episode) == {"day": "0950-399 00",
                                                       "night": "0950-399 00"}
        s.add(MonitoringPlan(episode_id=eid, patient_id=pid, spo2_scale=1, rule_overrides=[],
                             contact_phone="070-333 33 33", updated_at=utcnow()))
        s.flush()
        # The number the plan gives the patient comes before the switchboard.
        assert service.contact_numbers(s, episode)["night"] == "070-333 33 33"
        # A nurse on a night shift is the night number; the day keeps the plan's.
        s.get(Staff, world.staff["sara"]).phone = "070-444 44 44"
        from hemma.kit.time import at_local

        s.add(DutyShift(unit_id=world.units["med"], staff_id=world.staff["sara"], role="nurse",
                        starts_at=at_local(local_today(), "21:00") - timedelta(days=1),
                        ends_at=at_local(local_today(), "21:00") + timedelta(days=1)))
        s.flush()
        assert service.contact_numbers(s, episode) == {"day": "070-333 33 33",
                                                       "night": "070-444 44 44"}
