"""The patient's e-mail address (where notices of new messages go): typed on the forms and sent
through the API, validated with an error that names the field, nothing saved when wrong."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from hemma.models import Patient, Relative

GOOD = {"given_name": "Anna", "family_name": "Andersson", "language": "sv",
        "digital_ability": "independent", "street": "Storgatan 1", "postal_code": "921 31",
        "city": "Lycksele"}
BAD = ["anna", "anna@", "@example.se", "anna@example", "anna @example.se", "anna@exa mple.se",
       "a@b@example.se", "anna\x00@example.se", "a" * 190 + "@example.se"]
ENGLISH = {"Accept-Language": "en"}


def _email(database, pid):
    with database.session() as s:
        return s.get(Patient, pid).email


def _errors(r) -> dict:
    return {e["field"]: e["message"] for e in r.json()["errors"]}


def test_the_api_reads_and_writes_the_email(world, database, as_user):
    pid = world.patient(unit="med")
    sara = as_user("sara")
    assert sara.get(f"/api/v1/patients/{pid}").json()["email"] is None
    r = sara.put(f"/api/v1/patients/{pid}", json={**GOOD, "email": "anna.a@example.se"})
    assert r.status_code == 200, r.text
    assert r.json()["email"] == "anna.a@example.se"
    assert _email(database, pid) == "anna.a@example.se"
    # Replacing the contact details without it removes it (PUT replaces, like the phone).
    assert sara.put(f"/api/v1/patients/{pid}", json=GOOD).json()["email"] is None


@pytest.mark.parametrize("email", BAD)
def test_a_bad_email_is_refused_naming_the_field(email, world, database, as_user):
    pid = world.patient(unit="med")
    with database.session() as s:
        s.get(Patient, pid).email = "before@example.se"
    sara = as_user("sara")
    r = sara.put(f"/api/v1/patients/{pid}", json={**GOOD, "email": email}, headers=ENGLISH)
    assert r.status_code == 422
    message = ("At most 200 characters" if len(email) > 200 else
               "Enter an e-mail address, e.g. namn@example.se")
    assert _errors(r) == {"email": message}
    page = sara.post(f"/patients/{pid}/edit", data={**GOOD, "email": email})
    assert page.status_code == 422
    assert 'id="email-error"' in page.text
    assert _email(database, pid) == "before@example.se"  # nothing saved


def test_the_edit_form_saves_it_and_the_overview_shows_it(world, database, as_user):
    pid = world.patient(unit="med")
    sara = as_user("sara")
    page = sara.get(f"/patients/{pid}/edit").text
    assert re.search(r'<input id="email" name="email" type="email"', page)
    # The relative's fields beside it have ids of their own (one id, one element).
    ids = Counter(re.findall(r'\bid="([^"]+)"', page))
    assert [i for i, n in ids.items() if n > 1] == []
    r = sara.post(f"/patients/{pid}/edit", data={**GOOD, "email": " anna.a@example.se "},
                  follow_redirects=False)
    assert r.status_code == 303
    assert _email(database, pid) == "anna.a@example.se"
    assert "anna.a@example.se" in sara.get(f"/patients/{pid}").text
    assert 'value="anna.a@example.se"' in sara.get(f"/patients/{pid}/edit").text


def test_registering_takes_the_email_too(world, database, as_user):
    from datetime import date

    from hemma.patients.personnummer import make

    sara = as_user("sara")
    r = sara.post("/api/v1/patients", json={**GOOD, "personnummer": make(date(1941, 2, 3), 7),
                                            "email": "ny@example.se"})
    assert r.status_code == 201, r.text
    assert r.json()["email"] == "ny@example.se"
    r = sara.post("/api/v1/patients", json={**GOOD, "personnummer": make(date(1941, 2, 4), 7),
                                            "email": "ny@"}, headers=ENGLISH)
    assert r.status_code == 422 and set(_errors(r)) == {"email"}


def test_a_relatives_bad_email_is_named_the_same_way(world, database, as_user):
    pid = world.patient(unit="med")
    sara = as_user("sara")
    r = sara.post(f"/api/v1/patients/{pid}/relatives", headers=ENGLISH,
                  json={"name": "Bo", "relation": "son", "email": "bo@"})
    assert r.status_code == 422
    assert _errors(r) == {"email": "Enter an e-mail address, e.g. namn@example.se"}
    page = sara.post(f"/patients/{pid}/relatives",
                     data={"name": "Bo", "relation": "son", "email": "bo@"})
    assert page.status_code == 422 and 'id="relative-email-error"' in page.text
    with database.session() as s:
        assert s.query(Relative).count() == 0


def test_the_api_schema_documents_the_email(client):
    schemas = client.get("/api/openapi.json").json()["components"]["schemas"]
    for name in ("PatientCreate", "PatientUpdate", "RelativeCreate"):
        (email,) = [s for s in schemas[name]["properties"]["email"]["anyOf"]
                    if s.get("type") == "string"]
        assert email["format"] == "email" and email["maxLength"] == 200, name
    assert "email" in schemas["PatientRead"]["properties"]
