"""The patient's experience of the stay (PREM): Gunnel, discharged home yesterday, answers on
her phone, once; a paper questionnaire is typed in by the home ward; who is asked and who
is not (a death at home, a return to hospital, a relative); who reads the answers (the care
team that may read the episode) and who may not even learn they exist."""

from __future__ import annotations

import re
import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from hemma.access.auth import create_patient_code
from hemma.kit.errors import Conflict, Forbidden
from hemma.kit.time import local_date, local_today, utcnow
from hemma.models import AuditEntry, Episode, PremResponse, Relative
from hemma.prem import service
from hemma.web.deps import PatientSelf
from tests.monitoring.test_patient_page import _patient_login

ANSWER = {"answers.safe": "5", "answers.who_to_call": "4", "answers.again": "5",
          "comment": "Tryggt att ha er nära."}


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _discharged(world, database, *, end_reason: str | None = "completed",
                state: str = "discharged", days_ago: int = 1):
    """Gunnel, home-ward patient of Medicinkliniken with Hemsjukvården in the care team (no
    consent to sharing yet), discharged `days_ago` days ago."""
    pid = world.patient(unit="med", name="Gunnel", family="Lindgren")
    world.relation(pid, unit="hsv")
    eid = world.episode(pid, state=state)
    with database.session() as s:
        e = s.get(Episode, eid)
        e.end_reason = end_reason
        e.ended_at = utcnow() - timedelta(days=days_ago)
        e.admitted_at = e.ended_at - timedelta(days=5)
    return pid, eid


def _phone(app, world, database, pid, relative_id=None):
    with database.session() as s:
        code, _row = create_patient_code(s, pid, world.staff["sara"], relative_id=relative_id)
    return _patient_login(app, code)


def _responses(database) -> list[PremResponse]:
    with database.session() as s:
        return list(s.scalars(select(PremResponse)))


def _audit(database, action: str) -> int:
    with database.session() as s:
        return s.scalar(select(func.count()).select_from(AuditEntry)
                        .where(AuditEntry.action == action))


def _url(pid, eid):
    return f"/api/v1/patients/{pid}/episodes/{eid}/prem"


def test_the_discharged_patient_answers_once_and_is_thanked(app, world, database, as_user):
    pid, eid = _discharged(world, database)
    phone = _phone(app, world, database, pid)
    home = phone.get("/p")
    assert "Hur upplevde du vården i hemmet?" in home.text and 'href="/p/prem"' in home.text
    form = phone.get("/p/prem")
    assert form.status_code == 200
    assert "Jag kände mig trygg med att vårdas hemma" in form.text
    assert "Jag visste vem jag skulle ringa om något hände" in form.text
    assert form.text.count('type="radio"') == 25
    assert "Stämmer inte alls" in form.text and "Stämmer helt och hållet" in form.text
    r = phone.post("/p/prem", data={**ANSWER, "csrf_token": _csrf(form.text)},
                   follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/p/prem"
    thanks = phone.get("/p/prem")
    assert "Tack för dina svar" in thanks.text and 'id="prem-form"' not in thanks.text
    home = phone.get("/p")
    assert "Tack för dina svar" in home.text and 'href="/p/prem"' not in home.text
    [row] = _responses(database)
    assert (row.episode_id, row.patient_id, row.unit_id) == (eid, pid, world.units["med"])
    assert row.answers == {"safe": 5, "who_to_call": 4, "again": 5}
    assert (row.channel, row.questionnaire, row.entered_by_id) == ("phone", "prem-1", None)
    assert row.comment == "Tryggt att ha er nära."
    assert _audit(database, "prem.answer") == 1
    # A second form (an old tab, the back button) is refused: the first answers stand.
    again = phone.post("/p/prem", data={"answers.safe": "1", "csrf_token": _csrf(form.text)})
    assert again.status_code == 409
    assert "Tack för dina svar" in again.text and 'id="prem-form"' not in again.text
    assert [r.answers for r in _responses(database)] == [{"safe": 5, "who_to_call": 4,
                                                         "again": 5}]
    # The home ward reads them on the episode's page and through the API.
    sara = as_user("sara")
    page = sara.get(f"/patients/{pid}/episodes/{eid}/summary")
    assert "Patientens upplevelse (PREM)" in page.text
    assert "Tryggt att ha er nära." in page.text and "Besvarad av patienten i Hemma" in page.text
    assert 'id="prem-form"' not in page.text
    body = sara.get(_url(pid, eid)).json()
    assert body["asked"] is True and body["response"]["answers"] == {
        "safe": 5, "who_to_call": 4, "again": 5}
    assert body["response"]["channel"] == "phone" and body["response"]["entered_by"] is None
    # And staff cannot type a paper one over it.
    r = sara.post(_url(pid, eid), json={"answers": {"safe": 2},
                                        "answered_on": local_today().isoformat()})
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "episode_id"


def test_a_form_with_mistakes_names_them_and_saves_nothing(app, world, database):
    pid, _eid = _discharged(world, database)
    phone = _phone(app, world, database, pid)
    token = _csrf(phone.get("/p/prem").text)
    r = phone.post("/p/prem", data={"comment": "Bara en kommentar", "csrf_token": token})
    assert r.status_code == 422 and "Svara på minst en fråga" in r.text
    assert "Bara en kommentar" in r.text  # what was typed stays
    r = phone.post("/p/prem", data={"answers.safe": "7", "answers.again": "x",
                                    "answers.mood": "3", "csrf_token": token})
    assert r.status_code == 422
    assert r.text.count("Välj en siffra från 1 till 5") == 4  # in the summary and beside each
    assert 'href="#q-safe"' in r.text and 'href="#q-again"' in r.text
    assert "Okänd fråga" in r.text
    r = phone.post("/p/prem", data={"answers.safe": "4", "comment": "x" * 2001,
                                    "csrf_token": token})
    assert r.status_code == 422 and "Högst 2000 tecken" in r.text
    assert _responses(database) == [] and _audit(database, "prem.answer") == 0


@pytest.mark.parametrize("how", ["death_expected", "death_unexpected", "returned",
                                 "not_admitted", "long_ago", "active_again"])
def test_who_is_not_asked(how, app, world, database, as_user):
    if how.startswith("death"):
        pid, eid = _discharged(world, database, end_reason=how)
    elif how in ("returned", "not_admitted"):
        pid, eid = _discharged(world, database, state=how, end_reason=None)
    elif how == "long_ago":
        pid, eid = _discharged(world, database, days_ago=31)
    else:  # discharged, and now in a new episode: the page is about that one
        pid, eid = _discharged(world, database)
        world.episode(pid, state="assessing")
    phone = _phone(app, world, database, pid)
    assert "Hur upplevde du vården i hemmet?" not in phone.get("/p").text
    page = phone.get("/p/prem")
    assert "Det finns inga frågor till dig just nu." in page.text
    assert 'id="prem-form"' not in page.text
    r = phone.post("/p/prem", data={"answers.safe": "5", "csrf_token": _csrf(page.text)})
    assert r.status_code == 409
    sara = as_user("sara")
    summary = sara.get(f"/patients/{pid}/episodes/{eid}/summary")
    if how in ("long_ago", "active_again"):
        # Still the home ward's to type in from paper: only the patient's page stops asking.
        assert 'id="prem-form"' in summary.text
        return
    assert "Patientens upplevelse" not in summary.text
    assert sara.get(_url(pid, eid)).json() == {"episode_id": str(eid), "asked": False,
                                               "questionnaire": "prem-1", "response": None}
    r = sara.post(_url(pid, eid), json={"answers": {"safe": 5},
                                        "answered_on": local_today().isoformat()})
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "episode_id"
    assert _responses(database) == []


def test_a_relative_is_never_asked_in_the_patients_name(app, world, database):
    pid, _eid = _discharged(world, database)
    with database.session() as s:
        rel = Relative(patient_id=pid, name="Lena Lindgren", relation="dotter",
                       shares=["messages", "visits", "values", "agreement"],
                       documented_by_unit_id=world.units["med"], created_at=utcnow())
        s.add(rel)
        s.flush()
        rid = rel.id
    relative = _phone(app, world, database, pid, relative_id=rid)
    home = relative.get("/p")
    assert home.status_code == 200 and "Hur upplevde du vården i hemmet?" not in home.text
    assert relative.get("/p/prem").status_code == 403
    token = _csrf(home.text)
    assert relative.post("/p/prem", data={"answers.safe": "5", "csrf_token": token}
                         ).status_code == 403
    # The action itself refuses a relative, whoever calls it.
    with database.session() as s, pytest.raises(Forbidden):
        service.answer(s, PatientSelf(pid, "", relative_id=rid), {"safe": 5})
    assert _responses(database) == []


def test_the_home_ward_types_in_a_paper_questionnaire(world, database, as_user):
    pid, eid = _discharged(world, database)
    sara = as_user("sara")
    page = sara.get(f"/patients/{pid}/episodes/{eid}/summary")
    assert 'id="prem-form"' in page.text and "Inte besvarad ännu" in page.text
    filled = local_today() - timedelta(days=1)
    r = sara.post(f"/patients/{pid}/episodes/{eid}/prem",
                  data={"answered_on": filled.isoformat(), "answers.safe": "4",
                        "answers.informed": "2", "comment": "Skrev på baksidan: <b>tack</b>"},
                  follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == (f"/patients/{pid}/episodes/{eid}/summary"
                                     "?done=prem_entered#prem")
    [row] = _responses(database)
    assert row.answers == {"safe": 4, "informed": 2} and row.channel == "paper"
    assert row.entered_by_id == world.staff["sara"]
    assert local_date(row.answered_at) == filled
    assert _audit(database, "prem.enter_paper") == 1
    page = sara.get(f"/patients/{pid}/episodes/{eid}/summary?done=prem_entered")
    assert "Patientens svar är sparade." in page.text
    assert "Från en pappersenkät ifylld" in page.text and "Sara Sköterska" in page.text
    assert "&lt;b&gt;tack&lt;/b&gt;" in page.text and "<b>tack</b>" not in page.text
    assert page.text.count("Inte besvarat") == 3  # the three questions left out
    standalone = sara.get(f"/patients/{pid}/episodes/{eid}/prem")
    assert standalone.status_code == 200 and "Stämmer ganska dåligt" in standalone.text
    body = sara.get(_url(pid, eid)).json()["response"]
    assert body["entered_by"] == "Sara Sköterska" and body["channel"] == "paper"


def test_paper_entry_names_every_mistake_and_writes_nothing(world, database, as_user):
    pid, eid = _discharged(world, database)
    with database.session() as s:
        admitted = local_date(s.get(Episode, eid).admitted_at)
    sara = as_user("sara")
    tomorrow = (local_today() + timedelta(days=1)).isoformat()
    cases = [
        ({}, {"answers": "Answer at least one question", "answered_on": "This field is required"}),
        ({"answers": {"safe": 6, "hope": 3}, "answered_on": tomorrow},
         {"answers.safe": "Choose a number from %(low)s to %(high)s",
          "answers.hope": "Unknown question", "answered_on": "The date cannot be in the future"}),
        ({"answers": {"safe": 5},
          "answered_on": (admitted - timedelta(days=1)).isoformat()},
         {"answered_on": "The date cannot be before the admission (%(day)s)"}),
        # Shapes the API documents are refused as it reads the body.
        ({"answers": {"safe": "5"}, "answered_on": "igår", "comment": "x" * 2001},
         {"answered_on": "Enter a date (YYYY-MM-DD)",
          "comment": "At most %(max_length)s characters"}),
        ({"answers": {"safe": "5", "again": True}, "comment": "Bra\x00"},
         {"answers.safe": "Choose a number from %(low)s to %(high)s",
          "answers.again": "Choose a number from %(low)s to %(high)s",
          "answered_on": "This field is required",
          "comment": "Contains characters that are not allowed"}),
        ({"answers": [5], "answered_on": local_today().isoformat()},
         {"answers": "Expected an object"}),
    ]
    for body, expected in cases:
        r = sara.post(_url(pid, eid), json=body, headers={"Accept-Language": "en"})
        assert r.status_code == 422, (body, r.text)
        got = {e["field"]: e["message"] for e in r.json()["errors"]}
        assert set(got) == set(expected), (body, got)
    # The page names them beside the fields, in Swedish, and keeps what was typed.
    r = sara.post(f"/patients/{pid}/episodes/{eid}/prem",
                  data={"answered_on": tomorrow, "answers.again": "9", "comment": "Kvar"})
    assert r.status_code == 422
    assert "Datumet kan inte vara i framtiden" in r.text and "Kvar" in r.text
    assert 'href="#paper-again"' in r.text and 'id="paper-again-error"' in r.text
    assert _responses(database) == [] and _audit(database, "prem.enter_paper") >= 1
    # The day of admission and today are both fine.
    r = sara.post(_url(pid, eid), json={"answers": {"again": 5},
                                        "answered_on": admitted.isoformat()})
    assert r.status_code == 201, r.text
    assert r.json()["response"]["answers"] == {"again": 5}


def test_another_organisation_without_consent_learns_nothing(app, world, database, as_user):
    pid, eid = _discharged(world, database)
    phone = _phone(app, world, database, pid)
    token = _csrf(phone.get("/p/prem").text)
    phone.post("/p/prem", data={**ANSWER, "csrf_token": token})
    kim = as_user("kim")  # Hemsjukvården (kommun), in the care team, no consent
    assert kim.get(f"/patients/{pid}").status_code == 200  # the patient, yes
    assert kim.get(_url(pid, eid)).status_code == 404
    assert kim.get(f"/patients/{pid}/episodes/{eid}/prem").status_code == 404
    assert kim.get(f"/patients/{pid}/episodes/{eid}/summary").status_code == 404
    assert kim.post(_url(pid, eid), json={"answers": {"safe": 1},
                                          "answered_on": local_today().isoformat()}
                    ).status_code == 404
    assert "Tryggt att ha er nära" not in kim.get(f"/patients/{pid}").text
    # With the patient's consent the municipality reads it (care team), never changes it.
    world.consent(pid, "kommun")
    world.consent(pid, "region")
    body = kim.get(_url(pid, eid)).json()
    assert body["response"]["comment"] == "Tryggt att ha er nära."
    # Outside the care team the patient does not exist at all.
    hugo_pid, hugo_eid = pid, eid
    world.relation(pid, unit="hc", ends_in=timedelta(minutes=-1))
    assert as_user("hugo").get(_url(hugo_pid, hugo_eid)).status_code == 404
    assert len(_responses(database)) == 1


def test_the_municipality_with_consent_may_not_enter_the_home_wards_record(world, database,
                                                                           as_user):
    pid, eid = _discharged(world, database)
    world.consent(pid, "kommun")
    world.consent(pid, "region")
    kim = as_user("kim")
    assert kim.get(_url(pid, eid)).json()["response"] is None
    page = kim.get(f"/patients/{pid}/episodes/{eid}/summary")
    assert page.status_code == 200 and 'id="prem-form"' not in page.text
    assert "Inte besvarad ännu." in page.text
    r = kim.post(_url(pid, eid), json={"answers": {"safe": 5},
                                       "answered_on": local_today().isoformat()})
    assert r.status_code == 403
    r = kim.post(f"/patients/{pid}/episodes/{eid}/prem",
                 data={"answers.safe": "5", "answered_on": local_today().isoformat()})
    assert r.status_code == 403
    assert _responses(database) == []


def test_an_episode_of_another_patient_names_nothing(world, database, as_user):
    pid, _eid = _discharged(world, database)
    other = world.patient(unit="med", name="Annan")
    other_eid = world.episode(other, state="discharged")
    sara = as_user("sara")
    assert sara.get(_url(pid, other_eid)).status_code == 404
    assert sara.post(_url(pid, other_eid), json={"answers": {"safe": 5},
                                                 "answered_on": local_today().isoformat()}
                     ).status_code == 404
    assert sara.get(_url(pid, uuid.uuid4())).status_code == 404
    assert _responses(database) == []


def test_two_answers_at_once_give_one_row(world, database):
    """The second of two submits waits for the first and is refused (SQLite: the write lock;
    PostgreSQL: the unique index), whichever moment it arrives."""
    pid, eid = _discharged(world, database)
    me = PatientSelf(pid, "")
    first = database.sessionmaker()
    service.answer(first, me, {"safe": 5})  # written, not yet committed
    outcome = {}

    def second():
        try:
            with database.session() as s:
                service.answer(s, me, {"safe": 1})
            outcome["second"] = "saved"
        except Conflict as exc:
            outcome["second"] = exc.message

    thread = threading.Thread(target=second)
    thread.start()
    first.commit()
    first.close()
    thread.join(60)
    assert outcome == {"second": "The questionnaire about this stay has already been answered"}
    assert [r.answers for r in _responses(database)] == [{"safe": 5}]


def test_the_unique_constraint_is_a_conflict_not_a_server_error(world, database):
    """Should the check before the insert miss a row (another process's), the database's
    refusal is a Conflict, and the transaction goes on without the row."""
    pid, eid = _discharged(world, database)
    with database.session() as s:
        service.answer(s, PatientSelf(pid, ""), {"safe": 5})
    with database.session() as s:
        duplicate = PremResponse(episode_id=eid, patient_id=pid, unit_id=world.units["med"],
                                 questionnaire="prem-1", answers={"safe": 1}, channel="paper",
                                 answered_at=utcnow())
        with pytest.raises(Conflict):
            service._insert(s, duplicate)
        assert s.scalar(select(func.count()).select_from(PremResponse)) == 1
