"""A home gateway, simulated (`hemma simulate-devices`): for each patient, every interval, one
transaction Bundle of the vital signs a home kit measures (breathing, SpO2, temperature, heart
rate, blood pressure), LOINC-coded with the vital-signs profile's units, as a real gateway
would post it to Hemma's FHIR API. Values wander around each patient's own baseline; now and
then (`alarming`, a share of the rounds) one is a red NEWS2 parameter, which raises an alert in
the unit's inbox. Every entry carries its identifier and `ifNoneExist`, so a Bundle resent
after a lost answer changes nothing.

Only the HTTP client is here; the values and the Bundle are pure (`reading`, `bundle`)."""

from __future__ import annotations

import random
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from hemma.fhir import resources, vitals

SYSTEM = "urn:hemma:device-simulator"
PERSONNUMMER = re.compile(r"^\d{12}$")
FHIR_JSON = "application/fhir+json"

# (field, LOINC, UCUM unit, its display, baseline range, walk step, alarming value range).
# An alarming value is a red (3-point) NEWS2 parameter on its own, so it alerts whatever the
# patient's pathway rules say.
VITALS = (
    ("respiration_rate", "9279-1", "/min", "breaths/minute", (13, 18), 1.0, (25, 29)),
    ("spo2", "59408-5", "%", "%", (94, 98), 0.6, (84, 91)),
    ("temperature", "8310-5", "Cel", "C", (36.4, 37.3), 0.1, (39.2, 39.8)),
    ("pulse", "8867-4", "/min", "beats/minute", (58, 86), 3.0, (131, 140)),
)
SYSTOLIC = ((110, 150), 4.0, (80, 90))


@dataclass
class Patient:
    """A patient at home with a gateway: their FHIR id and their own baseline."""

    id: str
    baseline: dict[str, float] = field(default_factory=dict)


def with_baseline(patient_id: str, rng: random.Random) -> Patient:
    baseline = {f: rng.uniform(*low_high) for f, _c, _u, _d, low_high, _s, _a in VITALS}
    baseline["systolic_bp"] = rng.uniform(*SYSTOLIC[0])
    return Patient(patient_id, baseline)


def reading(patient: Patient, rng: random.Random, *, alarming: bool) -> dict[str, float]:
    """One measurement round: each value near the patient's baseline; if `alarming`, one
    of them is red."""
    values: dict[str, float] = {}
    for name, _code, _unit, _display, _base, step, _alarm in VITALS:
        values[name] = patient.baseline[name] + rng.gauss(0, step)
    values["systolic_bp"] = patient.baseline["systolic_bp"] + rng.gauss(0, SYSTOLIC[1])
    if alarming:
        name = rng.choice([v[0] for v in VITALS] + ["systolic_bp"])
        low, high = SYSTOLIC[2] if name == "systolic_bp" else next(
            v[6] for v in VITALS if v[0] == name)
        values[name] = rng.uniform(low, high)
    out = {"respiration_rate": round(values["respiration_rate"]),
           "spo2": min(100, round(values["spo2"])),
           "temperature": round(values["temperature"], 1),
           "pulse": round(values["pulse"]), "systolic_bp": round(values["systolic_bp"])}
    out["diastolic_bp"] = max(40, out["systolic_bp"] - rng.randint(35, 50))
    return out


def _identifier(patient_id: str, at: datetime, slug: str) -> str:
    # Unique per patient, measurement and value, and the same when the Bundle is resent.
    return f"sim.{patient_id.replace('-', '')[:16]}.{int(at.timestamp())}.{slug}"


def _quantity(value: float, unit: str, display: str) -> dict:
    return {"value": value, "unit": display, "system": vitals.UCUM, "code": unit}


def _observation(patient_id: str, at: datetime, slug: str, code: str, display: str,
                 device: str, **value) -> dict:
    identifier = _identifier(patient_id, at, slug)
    resource = {
        "resourceType": "Observation", "status": "final",
        "identifier": [{"system": SYSTEM, "value": identifier}],
        "category": [{"coding": [{"system": vitals.CATEGORY_SYSTEM, "code": "vital-signs",
                                  "display": "Vital Signs"}]}],
        "code": {"coding": [{"system": vitals.LOINC, "code": code, "display": display}]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": at.isoformat(timespec="seconds"),
        "device": {"display": device}, **value}
    return {"resource": resource,
            "request": {"method": "POST", "url": "Observation",
                        "ifNoneExist": f"identifier={SYSTEM}|{identifier}"}}


def bundle(patient_id: str, values: dict[str, float], at: datetime) -> dict:
    """The gateway's transaction Bundle of one measurement round."""
    device = f"hemma-sim-{patient_id[:8]}"
    entries = []
    for name, code, unit, display, _base, _step, _alarm in VITALS:
        entries.append(_observation(
            patient_id, at, name, code, vitals.BY_CODE[code].display, device,
            valueQuantity=_quantity(values[name], unit, display)))
    entries.append(_observation(
        patient_id, at, "bp", vitals.BP_PANEL.code, vitals.BP_PANEL.display, device,
        component=[
            {"code": {"coding": [{"system": vitals.LOINC, "code": part.code,
                                  "display": part.display}]},
             "valueQuantity": _quantity(values[part.field], "mm[Hg]", "mmHg")}
            for part in (vitals.SYSTOLIC, vitals.DIASTOLIC)]))
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


class SimulatorError(RuntimeError):
    pass


@dataclass
class Sent:
    patient: str
    created: int = 0
    resent: int = 0
    refused: str | None = None  # Hemma's words, when the Bundle was refused


class Gateway:
    """Talks to Hemma's FHIR API with a bearer token."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None):
        self.base = base_url.rstrip("/")
        self.http = httpx.Client(
            timeout=timeout, transport=transport,
            headers={"Authorization": f"Bearer {token}", "Accept": FHIR_JSON})

    def close(self) -> None:
        self.http.close()

    def _get(self, path: str, params: dict) -> dict:
        r = self.http.get(f"{self.base}/{path}", params=params)
        if r.status_code != 200:
            raise SimulatorError(f"GET {path}: {r.status_code} {_words(r)}")
        return r.json()

    def patients(self, wanted: Iterable[str]) -> list[str]:
        """Patient ids, each given as its id or its personnummer (looked up by identifier)."""
        out = []
        for given in wanted:
            if PERSONNUMMER.match(given):
                found = self._get("Patient", {
                    "identifier": f"{resources.PERSONNUMMER}|{given}"}).get("entry") or []
                if not found:
                    raise SimulatorError(f"no patient {given} that this account may read")
                out.append(found[0]["resource"]["id"])
            else:
                try:
                    out.append(str(uuid.UUID(given)))
                except ValueError:
                    raise SimulatorError(f"not a patient id or personnummer: {given}") from None
        return out

    def all_patients(self) -> list[str]:
        """Every patient the account may read (its unit's): those it may not record values
        for are refused by Hemma one by one, and skipped."""
        found = self._get("Patient", {"_count": "1000"})
        return [e["resource"]["id"] for e in found.get("entry") or []]

    def send(self, patient_id: str, body: dict, retries: int = 2) -> Sent:
        """Post one Bundle; a lost answer or a busy server is retried with the same Bundle
        (harmless: each entry is a conditional create)."""
        for attempt in range(retries + 1):
            try:
                r = self.http.post(self.base, json=body,
                                   headers={"Content-Type": FHIR_JSON})
            except httpx.TransportError:
                if attempt == retries:
                    raise
                time.sleep(1 + attempt)
                continue
            if r.status_code in (502, 503, 504) and attempt < retries:
                time.sleep(1 + attempt)
                continue
            break
        if r.status_code != 200:
            return Sent(patient_id, refused=f"{r.status_code} {_words(r)}")
        statuses = [e["response"]["status"] for e in r.json().get("entry") or []]
        return Sent(patient_id, created=sum(s.startswith("201") for s in statuses),
                    resent=sum(s.startswith("200") for s in statuses))


def _words(r: httpx.Response) -> str:
    try:
        body = r.json()
    except ValueError:
        return r.text[:200]
    if body.get("resourceType") == "OperationOutcome":
        return "; ".join(" ".join(filter(None, [i.get("diagnostics"),
                                               ",".join(i.get("expression") or [])]))
                         for i in body.get("issue") or [])
    return r.text[:200]


def run(gateway: Gateway, patient_ids: list[str], *, rounds: int | None, interval: float,
        alarming: float, seed: int | None = None, echo: Callable[[str], None] = print,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep) -> list[Sent]:
    """`rounds` measurement rounds (None: until stopped), `interval` seconds apart; in each,
    every patient's gateway posts its Bundle, alarming in a share `alarming` of them."""
    rng = random.Random(seed)
    patients = [with_baseline(pid, rng) for pid in patient_ids]
    sent: list[Sent] = []
    n = 0
    while rounds is None or n < rounds:
        started = time.monotonic()
        at = clock().replace(microsecond=0)
        for patient in patients:
            alarm = rng.random() < alarming
            result = gateway.send(patient.id, bundle(patient.id, reading(
                patient, rng, alarming=alarm), at))
            sent.append(result)
            if result.refused:
                echo(f"{at:%H:%M:%S} {patient.id}: refused: {result.refused}")
            else:
                echo(f"{at:%H:%M:%S} {patient.id}: {result.created} new, {result.resent} "
                     f"already recorded{' (alarming)' if alarm else ''}")
        n += 1
        if rounds is None or n < rounds:
            sleep(max(0.0, interval - (time.monotonic() - started)))
    return sent
