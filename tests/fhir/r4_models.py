"""FHIR R4's own models, in a process of their own: run by tests/fhir/validate.py as
`python -S tests/fhir/r4_models.py` with PYTHONPATH at .venv/fhir-r4 (fhir.resources 6.1 on
pydantic 1; `-S` keeps the venv's pydantic 2 out). One resource as JSON a line in, one answer
a line out: {"ok": true} or {"error": "<what pydantic says>"}. Standard library and the
models only: nothing of Hemma's or of the tests' is imported here."""

import json
import sys

import fhir.resources
from fhir.resources import get_fhir_model_class

# The models must be R4 (4.0.1): a later fhir.resources defaults to R4B or R5.
assert fhir.resources.__fhir_version__ == "4.0.1", fhir.resources.__fhir_version__


def check(resource: dict) -> dict:
    try:
        get_fhir_model_class(resource["resourceType"]).parse_obj(resource)
    except Exception as error:  # noqa: BLE001 - every refusal is the answer, whatever its type
        return {"error": f"{type(error).__name__}: {error}"}
    return {"ok": True}


for line in sys.stdin:
    print(json.dumps(check(json.loads(line))), flush=True)
