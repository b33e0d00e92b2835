"""Swedish users write a decimal comma: "39,1" is a temperature and "84,5" a weight on the
patient's page, in staff entry and at a visit; the inputs ask phones for the right keyboard;
an error in the summary says which field it is about."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from hemma.kit.time import local_today, utcnow
from hemma.models import Observation, Visit
from tests.monitoring.test_patient_page import _code_for, _form_fields, _patient_login


def _stored(database, pid) -> Observation:
    with database.session() as s:
        return s.scalars(select(Observation).where(Observation.patient_id == pid)).one()


def test_the_patients_page_takes_a_decimal_comma(app, world, database, as_user):
    pid = world.patient(unit="med", name="Gunnel")
    world.episode(pid, state="admitted", pathway="hf")  # heart failure: weight is asked too
    phone = _patient_login(app, _code_for(as_user("sara"), pid))
    home = phone.get("/p")
    assert 'inputmode="decimal"' in home.text and 'placeholder="37,2"' in home.text
    assert "&#34;" not in home.text.split('id="patient-values"')[1]
    sent = phone.post("/p/observations", data={**_form_fields(home.text), "temperature": "37,1",
                                               "weight": "84,5", "pulse": "72"})
    assert sent.status_code == 200
    row = _stored(database, pid)
    assert (row.temperature, row.weight, row.pulse) == (37.1, 84.5, 72)


def test_staff_entry_takes_a_decimal_comma_and_names_the_wrong_field(world, database, as_user):
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    sara = as_user("sara")
    form = sara.get(f"/patients/{pid}/observations/new").text
    client_id = re.search(r'name="client_id" value="([^"]+)"', form).group(1)
    csrf = sara.headers["X-CSRF-Token"]
    bad = sara.post(f"/patients/{pid}/observations/new", data={
        "csrf_token": csrf, "client_id": client_id, "temperature": "39,1,5", "pulse": "80"})
    assert bad.status_code == 422
    summary = bad.text.split('class="error-summary"')[1].split("</div>")[0]
    assert "Temperatur</a>: Ange ett tal" in summary
    ok = sara.post(f"/patients/{pid}/observations/new", data={
        "csrf_token": csrf, "client_id": client_id, "temperature": "39,1",
        "blood_glucose": "6,4", "on_oxygen": "false"}, follow_redirects=False)
    assert ok.status_code == 303
    row = _stored(database, pid)
    assert (row.temperature, row.blood_glucose, row.on_oxygen) == (39.1, 6.4, False)


def test_values_at_a_visit_take_a_decimal_comma_and_the_oxygen_question(world, database,
                                                                       as_user):
    pid = world.patient(unit="hsv", registered_by="hsv")
    world.episode(pid, state="admitted")
    world.consent(pid, "kommun")
    world.consent(pid, "region")
    now = utcnow()
    with database.session() as s:
        visit = Visit(patient_id=pid, unit_id=world.units["hsv"], day=local_today(),
                      kind="iv_antibiotic", earliest=now - timedelta(minutes=30),
                      latest=now + timedelta(minutes=30), duration_minutes=30, created_at=now)
        s.add(visit)
        s.flush()
        visit_id = visit.id
    kim = as_user("kim")
    done = kim.post(f"/patients/{pid}/visits/{visit_id}/report", data={
        "csrf_token": kim.headers["X-CSRF-Token"], "status": "done", "temperature": "38,9",
        "respiration_rate": "22", "spo2": "94", "on_oxygen": "false", "pulse": "104",
        "systolic_bp": "112", "consciousness": "A"}, follow_redirects=False)
    assert done.status_code == 303, done.text
    row = _stored(database, pid)
    assert row.temperature == 38.9 and row.on_oxygen is False
    # Every NEWS2 parameter was asked, so the score is complete.
    assert row.news2_partial is False and row.news2_total is not None


def test_values_quoted_in_an_alert_are_written_the_swedish_way():
    from hemma.i18n import current_language
    from hemma.monitoring.views import reason_text

    reason = {"message": "%(parameter)s %(value)s (limit %(op)s %(limit)s)",
              "params": {"parameter": "temperature", "value": 38.9, "op": ">=", "limit": 38.5}}
    assert reason_text(reason) == "Temperatur 38,9\u00a0°C (gräns ≥ 38,5\u00a0°C)"
    # Reasons are stored with their values as text ("38.9"): written the same way.
    stored = {**reason, "params": {**reason["params"], "value": "38.9", "limit": "38.5"}}
    assert reason_text(stored) == reason_text(reason)
    change = {"message": "%(parameter)s changed by %(change)s in %(hours)s hours",
              "params": {"parameter": "weight", "change": "+2.4", "hours": "72"}}
    assert reason_text(change) == "Vikt har ändrats med +2,4\u00a0kg på 72 timmar"
    pulse = {**reason, "params": {"parameter": "pulse", "value": "131", "op": ">=", "limit": "130"}}
    assert reason_text(pulse) == "Puls 131/min (gräns ≥ 130/min)"
    token = current_language.set("en")
    try:
        assert reason_text(reason) == "Temperature 38.9\u00a0°C (limit ≥ 38.5\u00a0°C)"
        assert reason_text(change) == "Weight changed by +2.4\u00a0kg in 72 hours"
    finally:
        current_language.reset(token)
