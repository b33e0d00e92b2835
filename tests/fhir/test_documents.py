"""The documents Hemma hands over, through FHIR: the agreement and the signed discharge
summary as DocumentReferences, each with its PDF as a Binary (the page's own document), read
through the same access check as the pages: a unit without the patient's consent, or without
a care relation, gets nothing."""

from __future__ import annotations

import base64
import hashlib

from sqlalchemy import select

from hemma.kit.time import utcnow
from hemma.models import Consent
from hemma.models.careplans import Agreement
from tests.fhir.validate import assert_r4, fhir_client
from tests.summaries.test_summaries import _discharged, _url


def test_the_agreement_and_the_summary_with_their_pdfs(app, world, database, as_user):
    pid, eid = _discharged(world, database)
    with database.session() as s:
        s.add(Agreement(episode_id=eid, patient_id=pid, version=1,
                        content={"if_worse": [], "planned_days": 5, "end_criteria": "Feberfri"},
                        documented_by_unit_id=world.units["med"], created_at=utcnow(),
                        created_by_id=world.staff["sara"], confirmed_at=utcnow(),
                        confirmed_how="paper"))
    lisa = as_user("lisa")
    lisa.post(_url(pid, eid), json={})
    lisa.put(_url(pid, eid), json={"text": "Behandlad för pyelonefrit i hemmet.",
                                   "next_steps": "Hälsocentralen ringer dig inom en vecka."})
    assert lisa.post(_url(pid, eid) + "/sign",
                     json={"receivers": [world.units["hc"]]}).status_code == 200
    sara = fhir_client(app, database, world, "sara")
    r = sara.get("/fhir/DocumentReference", params={"patient": pid})
    assert r.status_code == 200
    assert_r4(r.json())
    docs = {e["resource"]["id"]: e["resource"] for e in r.json()["entry"]}
    assert set(docs) == {f"summary-{eid}", f"agreement-{eid}"}
    summary = docs[f"summary-{eid}"]
    assert summary["docStatus"] == "final" and summary["type"]["coding"][0]["code"] == "18842-5"
    assert summary["authenticator"]["reference"] == f"Practitioner/{world.staff['lisa']}"
    assert docs[f"agreement-{eid}"]["docStatus"] == "final"
    for doc in docs.values():
        one = sara.get(f"/fhir/DocumentReference/{doc['id']}")
        assert one.status_code == 200
        assert one.json()["meta"]["versionId"] == doc["meta"]["versionId"]
        attachment = doc["content"][0]["attachment"]
        # The PDF's address is absolute (R4's url), on the server that was asked.
        assert attachment["url"] == f"https://testserver/fhir/Binary/{doc['id']}"
        pdf = sara.get(attachment["url"], headers={"Accept": "application/pdf"})
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        assert pdf.headers["content-type"] == "application/pdf"
        as_resource = sara.get(attachment["url"])
        assert_r4(as_resource.json())
        data = base64.b64decode(as_resource.json()["data"])
        assert data.startswith(b"%PDF")
        assert len(data) > 1000 and hashlib.sha1(data).digest()  # a real document
    # Without consent the municipality has no document of the region's; nor a unit with no
    # care relation.
    with database.session() as s:
        for c in s.scalars(select(Consent).where(Consent.patient_id == pid)):
            c.withdrawn_at = utcnow()
    kim = fhir_client(app, database, world, "kim")
    assert kim.get("/fhir/DocumentReference", params={"patient": pid}).json()["total"] == 0
    for path in (f"DocumentReference/summary-{eid}", f"Binary/agreement-{eid}",
                 f"Binary/summary-{eid}", "Binary/summary-x", "DocumentReference/other-1"):
        assert kim.get(f"/fhir/{path}").status_code == 404, path
