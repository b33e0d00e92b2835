"""The demo data: a realistic Lycksele home ward, loaded twice without changing anything."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from hemma.access.audit import verify
from hemma.demo import FEATURED, load_demo
from hemma.models import Block, Consent, Episode, Patient, Staff, Unit


def _counts(database):
    with database.session() as s:
        return {m.__name__: s.scalar(select(func.count()).select_from(m))
                for m in (Patient, Staff, Unit, Episode, Consent, Block)}


def test_demo_is_idempotent_and_realistic(database, client):
    assert load_demo(database) is True
    first = _counts(database)
    assert load_demo(database) is False
    assert _counts(database) == first
    assert 18 <= first["Staff"] <= 30 and 25 <= first["Patient"] <= 40
    assert first["Block"] == 1
    with database.session() as s:
        states = Counter(s.scalars(select(Episode.state)))
        assert {"assessing", "admitted", "discharged", "returned", "not_admitted"} <= set(states)
        professions = set(s.scalars(select(Staff.profession)))
        assert {"physician", "nurse", "assistant_nurse", "physiotherapist",
                "occupational_therapist", "coordinator"} <= professions
        # Rural Västerbotten: every home within reach of Lycksele, none at the hospital door.
        for lat, lon in s.execute(select(Patient.latitude, Patient.longitude)):
            assert 63.9 < lat < 65.4 and 17.5 < lon < 19.5
        with_consent = s.scalar(select(func.count(func.distinct(Consent.patient_id))))
        assert 0 < with_consent < first["Patient"]
        assert verify(s).ok
    # Every featured demo login works with the printed password.
    for username, _role in FEATURED:
        page = client.get("/login")
        import re

        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        r = client.post("/login", data={"username": username, "password": "hemma-demo",
                                        "csrf_token": token}, follow_redirects=False)
        assert r.status_code == 303, username
        landing = client.get("/")
        assert landing.status_code == 200, username
