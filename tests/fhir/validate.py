"""Every resource Hemma returns is checked twice: by fhir.resources (pydantic models, with the
datatypes' patterns: ids, codes, instants) and by fhirclient's models, which are generated
from FHIR R4 (4.0.1) itself and refuse any element R4 does not have. fhir.resources' models
for pydantic 2 are R4B and R5 (its R4 models need pydantic 1, which the app cannot share a
process with); R4B differs from R4 in none of the elements Hemma sends, and fhirclient holds
the R4 line."""

from __future__ import annotations

import importlib

from fastapi.testclient import TestClient
from fhirclient.models import fhirelementfactory

from hemma.access.auth import create_api_token
from hemma.models import Staff


def assert_r4(resource: dict) -> None:
    kind = resource["resourceType"]
    module = importlib.import_module(f"fhir.resources.R4B.{kind.lower()}")
    getattr(module, kind).model_validate(resource)
    # strict: an unknown element or a wrong type raises FHIRValidationError.
    fhirelementfactory.FHIRElementFactory.instantiate(kind, resource)


def fhir_client(app, database, world, who: str) -> TestClient:
    """A FHIR client acting as `who` with a bearer token of theirs."""
    with database.session() as s:
        token = create_api_token(s, s.get(Staff, world.staff[who]), "fhir-test")
    c = TestClient(app, base_url="https://testserver")
    c.headers["Authorization"] = f"Bearer {token}"
    return c
