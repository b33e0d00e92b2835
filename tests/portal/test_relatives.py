"""Relatives on the patient's page: the patient chooses what each relative may see; staff
hand the relative a code of their own only with that permission; the relative sees and
reaches exactly the parts allowed (every route of the patient's page walked, for every
choice the patient can make), writes messages in their own name, and loses access at once
when the patient takes it back or the relative is removed."""

from __future__ import annotations

import itertools
import re
import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hemma.kit.time import local_today, utcnow
from hemma.models import (
    Agreement,
    AuditEntry,
    Message,
    Observation,
    PatientAccessCode,
    Relative,
    Visit,
    WebSession,
)
from hemma.patients.relatives import SHARES
from hemma.web.deps import ANY_SHARE, PatientOwnPage, access_declarations, api_routes
from tests.monitoring.test_patient_page import _code_for, _patient_login

TEMPERATURE = 38.7  # shown as "38,7": the marker of the patient's values


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _patient_at_home(app, world, database, as_user):
    """A home-ward patient with a value she sent, a visit today, an agreement, an answer
    from the team, and a daughter recorded by the home ward."""
    pid = world.patient(unit="med", name="Gunnel", family="Lindgren")
    eid = world.episode(pid, state="admitted")
    world.relation(pid, unit="hsv")
    now = utcnow()
    with database.session() as s:
        s.add(Observation(patient_id=pid, measured_at=now - timedelta(hours=1), received_at=now,
                          temperature=TEMPERATURE, performer="patient", source="patient_page",
                          client_id=f"r-{uuid.uuid4()}", documented_by_unit_id=world.units["med"]))
        s.add(Visit(patient_id=pid, unit_id=world.units["hsv"], day=local_today(),
                    kind="wound_care", earliest=now + timedelta(hours=2),
                    latest=now + timedelta(hours=3), duration_minutes=30, created_at=now,
                    status="planned"))
        s.add(Agreement(episode_id=eid, patient_id=pid, version=1,
                        content={"if_worse": [], "planned_days": 5, "end_criteria": "Feberfri"},
                        documented_by_unit_id=world.units["med"], created_at=now,
                        created_by_id=world.staff["sara"]))
    sara = as_user("sara")
    r = sara.post(f"/api/v1/patients/{pid}/relatives",
                  json={"name": "Lena Lindgren", "relation": "dotter", "phone": "070-1234567"})
    assert r.status_code == 201, r.text
    rid = uuid.UUID(r.json()["id"])
    assert r.json()["shares"] == []
    r = sara.post(f"/api/v1/patients/{pid}/messages",
                  json={"body": "Svar från avdelningen", "to": "patient"})
    assert r.status_code == 201, r.text
    return pid, rid, sara


def _patient_chooses(phone: TestClient, rid, shares) -> None:
    page = phone.get("/p/relatives")
    assert page.status_code == 200 and "Lena Lindgren" in page.text
    r = phone.post(f"/p/relatives/{rid}", data={"csrf_token": _csrf(page.text),
                                                "shares": list(shares)},
                   follow_redirects=False)
    assert r.status_code == 303, r.text


def _relative_code(sara: TestClient, pid, rid) -> str:
    page = sara.get(f"/patients/{pid}/edit")
    r = sara.post(f"/patients/{pid}/relatives/{rid}/access-codes",
                  data={"csrf_token": _csrf(page.text)})
    assert r.status_code == 200, r.text
    return re.search(r'id="patient-code">([\d ]+)<', r.text).group(1)


def _relative_login(app, code: str) -> TestClient:
    return _patient_login(app, code)


def _own_page_routes(app):
    """Every route of the patient's page, with the part of it a relative needs (None: the
    patient's alone)."""
    for route in api_routes(app):
        decls = [d for d in access_declarations(route) if isinstance(d, PatientOwnPage)]
        if decls:
            for method in route.methods - {"HEAD"}:
                yield method, route.path, decls[0].relative


def test_the_patient_lets_a_relative_in_and_takes_it_back(app, world, database, as_user):
    pid, rid, sara = _patient_at_home(app, world, database, as_user)
    phone = _patient_login(app, _code_for(sara, pid))
    # Without the patient's permission there is no code to give.
    page = sara.get(f"/patients/{pid}/edit")
    r = sara.post(f"/patients/{pid}/relatives/{rid}/access-codes",
                  data={"csrf_token": _csrf(page.text)})
    assert r.status_code == 409
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(PatientAccessCode).where(
            PatientAccessCode.relative_id == rid)) == 0

    _patient_chooses(phone, rid, ["messages", "visits"])
    assert "Sparat" in phone.get(f"/p/relatives?saved={rid}").text
    code = _relative_code(sara, pid, rid)
    lena = _relative_login(app, code)
    home = lena.get("/p")
    assert home.status_code == 200
    assert "Hej Lena Lindgren" in home.text and "Gunnel Lindgren" in home.text
    assert 'id="h-today"' in home.text and 'href="/p/messages"' in home.text
    assert "38,7" not in home.text and 'href="/p/agreement"' not in home.text
    assert 'action="/p/observations"' not in home.text and 'action="/p/worse"' not in home.text
    assert 'href="/p/relatives"' not in home.text
    # She writes in her own name; the team sees who wrote, and the patient sees it too.
    page = lena.get("/p/messages")
    assert "Svar från avdelningen" in page.text
    r = lena.post("/p/messages", data={"csrf_token": _csrf(page.text),
                                       "body": "Mamma sover dåligt"}, follow_redirects=False)
    assert r.status_code == 303
    with database.session() as s:
        m = s.scalar(select(Message).where(Message.body == "Mamma sover dåligt"))
        assert (m.author_kind, m.relative_id, m.due_at is not None) == ("relative", rid, True)
        # Reading the thread did not mark the team's answer seen by the patient.
        answer = s.scalar(select(Message).where(Message.body == "Svar från avdelningen"))
        assert answer.seen_at is None
    assert "Lena Lindgren (dotter)" in sara.get(f"/patients/{pid}/messages").text
    mine = phone.get("/p/messages").text
    assert "Lena Lindgren" in mine and "Mamma sover dåligt" in mine
    # She cannot widen her own view, confirm the agreement or send values as the patient.
    page = lena.get("/p")
    token = _csrf(page.text)
    assert lena.post(f"/p/relatives/{rid}", data={"csrf_token": token,
                                                  "shares": list(SHARES)}).status_code == 403
    assert lena.post("/p/observations", data={"csrf_token": token, "client_id": "x-1",
                                              "pulse": "70"}).status_code == 403
    assert lena.get("/p/agreement").status_code == 403
    with database.session() as s:
        assert s.get(Relative, rid).shares == ["messages", "visits"]
        assert s.scalar(select(func.count()).select_from(Observation).where(
            Observation.patient_id == pid)) == 1
        denied = s.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.patient_id == pid, AuditEntry.action == "relative.denied"))
        assert denied >= 3
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.patient_id == pid, AuditEntry.action == "relative.self",
            AuditEntry.basis == "relative")) >= 1

    # The patient adds her values: shown at once, no new code needed.
    _patient_chooses(phone, rid, ["messages", "visits", "values"])
    assert "38,7" in lena.get("/p").text
    # She takes everything back: the relative is logged out and the code is dead.
    _patient_chooses(phone, rid, [])
    r = lena.get("/p", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/p/login"
    again = TestClient(app, base_url="https://testserver")
    page = again.get("/p/login")
    r = again.post("/p/login", data={"code": code, "csrf_token": _csrf(page.text)},
                   follow_redirects=False)
    assert r.status_code == 401
    # The patient's own session was never touched.
    assert phone.get("/p").status_code == 200
    with database.session() as s:
        rel = s.get(Relative, rid)
        assert rel.shares == [] and rel.shares_changed_by == "patient"


CHOICES = [frozenset(c) for n in range(len(SHARES) + 1)
           for c in itertools.combinations(SHARES, n) if c]


def test_a_relative_reaches_exactly_what_the_patient_chose(app, world, database, as_user):
    """Every route of the patient's page, for every choice the patient can make: a relative
    reaches a route only if it needs a part the patient allowed; and the home page shows no
    part that was not."""
    pid, rid, sara = _patient_at_home(app, world, database, as_user)
    routes = list(_own_page_routes(app))
    assert len(routes) >= 10
    failures = []
    for shares in CHOICES:
        with database.session() as s:
            s.get(Relative, rid).shares = sorted(shares)
        lena = _relative_login(app, _relative_code(sara, pid, rid))
        token = _csrf(lena.get("/p").text)
        for method, path, needs in routes:
            if path == "/p/logout":
                continue
            url = path.replace("{relative_id}", str(rid)).replace(
                "{message_id}", str(uuid.uuid4()))
            if url == "/p/today":
                url += "?once=true"
            r = lena.request(method, url, data={"csrf_token": token} if method == "POST"
                             else None, follow_redirects=False)
            allowed = needs == ANY_SHARE or (needs is not None and needs in shares)
            ok = (r.status_code not in (401, 403) and r.status_code != 303
                  or url.startswith("/p/messages") and method == "POST"
                  and r.status_code == 303) if allowed else r.status_code == 403
            if not ok:
                failures.append(f"{sorted(shares)} {method} {url}: {r.status_code}")
        home = lena.get("/p").text
        shown = {"values": "38,7" in home, "visits": 'id="h-today"' in home,
                 "messages": 'href="/p/messages"' in home,
                 "agreement": 'href="/p/agreement"' in home}
        for share, is_shown in shown.items():
            if is_shown != (share in shares):
                failures.append(f"{sorted(shares)}: home shows {share}: {is_shown}")
        for never in ('action="/p/observations"', 'action="/p/worse"', 'href="/p/relatives"'):
            if never in home:
                failures.append(f"{sorted(shares)}: home has {never}")
    assert not failures, "\n".join(failures)


def test_codes_follow_the_rules_and_each_closes_only_its_own_door(app, world, database,
                                                                   as_user):
    pid, rid, sara = _patient_at_home(app, world, database, as_user)
    # Staff record what the patient said, under their own name; a made-up part is refused
    # by name and changes nothing.
    r = sara.put(f"/api/v1/patients/{pid}/relatives/{rid}/shares",
                 json={"shares": ["messages", "journal"]})
    assert r.status_code == 422 and "shares" in r.text
    r = sara.put(f"/api/v1/patients/{pid}/relatives/{rid}/shares",
                 json={"shares": ["values", "messages"]})
    assert r.status_code == 200 and r.json()["shares"] == ["messages", "values"]
    with database.session() as s:
        assert s.get(Relative, rid).shares_changed_by.startswith("sara")
    # Another organisation without the patient's consent hands out no code (a unit that may
    # not read the episode cannot open it to anyone).
    kim = as_user("kim")
    page = kim.get(f"/patients/{pid}")
    if page.status_code == 200:
        r = kim.post(f"/patients/{pid}/relatives/{rid}/access-codes",
                     data={"csrf_token": _csrf(page.text)})
        assert r.status_code in (403, 404)
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(PatientAccessCode).where(
            PatientAccessCode.relative_id == rid)) == 0

    phone = _patient_login(app, _code_for(sara, pid))
    # Another patient cannot choose for this patient's relative (as if it did not exist).
    other = world.patient(unit="med", name="Annan")
    world.episode(other, state="admitted")
    stranger = _patient_login(app, _code_for(sara, other))
    page = stranger.get("/p/relatives")
    assert "Lena Lindgren" not in page.text
    r = stranger.post(f"/p/relatives/{rid}", data={"csrf_token": _csrf(page.text),
                                                   "shares": ["agreement"]})
    assert r.status_code == 404
    with database.session() as s:
        assert s.get(Relative, rid).shares == ["messages", "values"]
    lena = _relative_login(app, _relative_code(sara, pid, rid))
    with database.session() as s:
        patient_code = s.scalar(select(PatientAccessCode).where(
            PatientAccessCode.patient_id == pid, PatientAccessCode.relative_id.is_(None)))
        relative_code = s.scalar(select(PatientAccessCode).where(
            PatientAccessCode.relative_id == rid))
        patient_code_id, relative_code_id = patient_code.id, relative_code.id
    page = sara.get(f"/patients/{pid}")
    token = _csrf(page.text)
    # Revoking the patient's code (a lost phone) leaves the relative logged in, and back.
    sara.post(f"/patients/{pid}/access-codes/{patient_code_id}/revoke",
              data={"csrf_token": token})
    assert phone.get("/p", follow_redirects=False).status_code == 303
    assert lena.get("/p").status_code == 200
    phone = _patient_login(app, _code_for(sara, pid))
    sara.post(f"/patients/{pid}/access-codes/{relative_code_id}/revoke",
              data={"csrf_token": token})
    assert lena.get("/p", follow_redirects=False).status_code == 303
    assert phone.get("/p").status_code == 200
    # Removing the relative ends their access; what they wrote keeps their name.
    lena = _relative_login(app, _relative_code(sara, pid, rid))
    page = lena.get("/p/messages")
    lena.post("/p/messages", data={"csrf_token": _csrf(page.text), "body": "Från Lena"})
    page = sara.get(f"/patients/{pid}/edit")
    r = sara.post(f"/patients/{pid}/relatives/{rid}/remove",
                  data={"csrf_token": _csrf(page.text)}, follow_redirects=False)
    assert r.status_code == 303
    assert lena.get("/p", follow_redirects=False).status_code == 303
    assert "Lena Lindgren (dotter)" in sara.get(f"/patients/{pid}/messages").text
    assert "Lena Lindgren" not in sara.get(f"/patients/{pid}/edit").text
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(WebSession).where(
            WebSession.relative_id == rid, WebSession.ended_at.is_(None))) == 0


@pytest.mark.parametrize("share", ["messages", "values"])
def test_a_notice_of_an_answer_goes_to_a_relative_only_with_the_messages_permission(
        share, app, world, database, as_user):
    from hemma.models import OutboxMessage

    pid, rid, sara = _patient_at_home(app, world, database, as_user)
    with database.session() as s:
        s.get(Relative, rid).shares = [share]
        before = s.scalar(select(func.count()).select_from(OutboxMessage))
    r = sara.post(f"/api/v1/patients/{pid}/messages", json={"body": "Nytt svar",
                                                            "to": "patient"})
    assert r.status_code == 201
    with database.session() as s:
        rows = list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)
                              .offset(before)))
        to_relative = [m for m in rows if m.payload.get("relative_id") == str(rid)]
        assert len(to_relative) == (1 if share == "messages" else 0)
