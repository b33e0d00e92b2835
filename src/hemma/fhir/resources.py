"""Hemma's records as FHIR R4 resources (pure: values in, values out), with the Swedish base
profiles' identifier systems, and OperationOutcome for every error."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

PERSONNUMMER = "http://electronichealth.se/identifier/personnummer"
SAMORDNINGSNUMMER = "http://electronichealth.se/identifier/samordningsnummer"
HSA_ID = "urn:oid:1.2.752.29.4.19"
LANGUAGE_SYSTEM = "urn:ietf:bcp:47"
INTERPRETER_REQUIRED = "http://hl7.org/fhir/StructureDefinition/patient-interpreterRequired"
SE_BASE_PATIENT = "http://hl7.se/fhir/ig/base/StructureDefinition/SEBasePatient"
FHIR_VERSION = "4.0.1"
PATIENT_IDENTIFIER_SYSTEMS = (PERSONNUMMER, SAMORDNINGSNUMMER)
# Hemma's languages that are not a language tag (LANGUAGES in hemma.models.patients).
NOT_A_TAG = {"other"}


def meta(version: str, last_updated: str | None, *profiles: str) -> dict:
    out: dict[str, Any] = {"versionId": version}
    if last_updated:
        out["lastUpdated"] = last_updated
    if profiles:
        out["profile"] = list(profiles)
    return out


def patient(p: Any, relatives: Iterable[Any] = (), *, version: str = "1",
            last_updated: str | None = None) -> dict:
    """A Patient (SEBasePatient): the personnummer or samordningsnummer, the name, birth date,
    how to reach them, their language and whether an interpreter is needed, and the relatives
    the team recorded as contacts."""
    system = SAMORDNINGSNUMMER if p.is_coordination_number else PERSONNUMMER
    resource: dict[str, Any] = {
        "resourceType": "Patient", "id": str(p.id),
        "meta": meta(version, last_updated, SE_BASE_PATIENT),
        "identifier": [{"use": "official", "system": system, "value": p.personnummer}],
        "active": True,
        "name": [{"use": "official", "family": p.family_name, "given": p.given_name.split(),
                  "text": f"{p.given_name} {p.family_name}"}],
        "birthDate": p.birth_date.isoformat(),
    }
    telecom = []
    if p.phone:
        telecom.append({"system": "phone", "value": p.phone, "use": "home"})
    if p.email:
        telecom.append({"system": "email", "value": p.email})
    if telecom:
        resource["telecom"] = telecom
    if p.street or p.postal_code or p.city:
        address: dict[str, Any] = {"use": "home", "type": "physical", "country": "SE"}
        if p.street:
            address["line"] = [p.street]
        if p.postal_code:
            address["postalCode"] = p.postal_code
        if p.city:
            address["city"] = p.city
        resource["address"] = [address]
    if p.language and p.language not in NOT_A_TAG:
        resource["communication"] = [{"language": {"coding": [
            {"system": LANGUAGE_SYSTEM, "code": p.language}]}, "preferred": True}]
    resource["extension"] = [{"url": INTERPRETER_REQUIRED,
                              "valueBoolean": bool(p.interpreter_needed)}]
    contacts = []
    for r in relatives:
        contact: dict[str, Any] = {"relationship": [{"text": r.relation}],
                                   "name": {"text": r.name}}
        if r.phone:
            contact["telecom"] = [{"system": "phone", "value": r.phone}]
        contacts.append(contact)
    if contacts:
        resource["contact"] = contacts
    return resource


def outcome(message: str, *, code: str = "invalid", severity: str = "error",
            expression: str | None = None) -> dict:
    """An OperationOutcome with one issue: what went wrong, in words, and where."""
    issue: dict[str, Any] = {"severity": severity, "code": code,
                             "details": {"text": message}, "diagnostics": message}
    if expression:
        issue["expression"] = [expression]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def bundle(kind: str, entries: list[dict], *, self_url: str, next_url: str | None = None,
           total: int | None = None, base: str = "") -> dict:
    """A searchset (or history) Bundle; each entry has its fullUrl, and `search.mode` says
    whether it matched or was included."""
    links = [{"relation": "self", "url": self_url}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    out: dict[str, Any] = {"resourceType": "Bundle", "type": kind, "link": links, "entry": [
        {"fullUrl": f"{base}{e['resource']['resourceType']}/{e['resource']['id']}",
         "resource": e["resource"], "search": {"mode": e.get("mode", "match")}}
        for e in entries]}
    if total is not None:
        out["total"] = total
    return out


# --- References between resources ------------------------------------------------------------
# Staff are Practitioners (their id), and each staff member's post in a unit a PractitionerRole
# (the same id). Organisations and their units are both Organizations (a unit's `partOf` is its
# organisation), told apart by their ids' prefix: `org-<id>` and `unit-<id>`.


def reference(kind: str, id_: object, display: str | None = None) -> dict:
    out: dict[str, Any] = {"reference": f"{kind}/{id_}"}
    if display:
        out["display"] = display
    return out


def practitioner_ref(staff_id: int, display: str | None = None) -> dict:
    return reference("Practitioner", staff_id, display)


def organization_ref(organisation_id: int, display: str | None = None) -> dict:
    return reference("Organization", f"org-{organisation_id}", display)


def unit_ref(unit_id: int, display: str | None = None) -> dict:
    return reference("Organization", f"unit-{unit_id}", display)


def patient_ref(patient_id: object, display: str | None = None) -> dict:
    return reference("Patient", patient_id, display)
