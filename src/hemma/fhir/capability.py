"""The resource types Hemma serves through FHIR, each registered by the module that serves it,
and the CapabilityStatement made from them: it says what is there, and nothing that is not.
The search parameters registered are also the only ones a search takes (`parameters`)."""

from __future__ import annotations

from dataclasses import dataclass

from hemma.fhir import resources

FHIR_JSON = "application/fhir+json"


@dataclass(frozen=True)
class Kind:
    type: str
    # FHIR's TypeRestfulInteraction codes: read, vread, search-type, create, update.
    interactions: tuple[str, ...]
    search: tuple[tuple[str, str], ...] = ()  # (name, FHIR search parameter type)
    profile: str | None = None
    includes: tuple[str, ...] = ()
    conditional_create: bool = False
    documentation: str | None = None

    def parameters(self) -> set[str]:
        """The names a search of this type takes (besides `_count`, `_format`, `_cursor`)."""
        names = {n for n, _ in self.search}
        if self.includes:
            names.add("_include")
        return names


KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    assert kind.type not in KINDS, kind.type
    KINDS[kind.type] = kind
    return kind


def security(base: str) -> dict:
    """How a client authenticates: SMART Backend Services (its token endpoint in the
    oauth-uris extension), or a Hemma user's own API token; either way every access goes
    through the same check as the pages."""
    return {
        "extension": [{
            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
            "extension": [{"url": "token", "valueUri": base + "auth/token"}]}],
        "service": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
            "code": "SMART-on-FHIR"}]}],
        "description": "SMART Backend Services: client_credentials with a private_key_jwt "
                       "assertion (RS384 or ES384) at the token endpoint, SMART v2 system/ "
                       "scopes that narrow what the client's system account may do; or a "
                       "bearer API token of a Hemma account. Every read and search goes "
                       "through the same access check as Hemma's pages.",
    }


def statement(base: str) -> dict:
    """What the server supports, as registered: JSON only, each type with its interactions
    and search parameters, and transactions (a gateway's batch of Observations)."""
    rest_resources = []
    for kind in sorted(KINDS.values(), key=lambda k: k.type):
        entry: dict = {"type": kind.type,
                       "interaction": [{"code": c} for c in kind.interactions]}
        if kind.profile:
            entry["profile"] = kind.profile
        if "update" in kind.interactions:
            entry["versioning"] = "versioned-update"
            entry["updateCreate"] = False
        else:
            entry["versioning"] = "versioned"
        if kind.conditional_create:
            entry["conditionalCreate"] = True
        if kind.includes:
            entry["searchInclude"] = list(kind.includes)
        if kind.search:
            entry["searchParam"] = [{"name": n, "type": t} for n, t in kind.search]
        if kind.documentation:
            entry["documentation"] = kind.documentation
        rest_resources.append(entry)
    return {
        "resourceType": "CapabilityStatement", "id": "hemma", "status": "active",
        "date": "2026-12-04", "kind": "instance", "fhirVersion": resources.FHIR_VERSION,
        "format": [FHIR_JSON, "json"], "publisher": "Hemma",
        "software": {"name": "Hemma"},
        "implementation": {"description": "Hemma: hospital-level care at home", "url": base},
        "rest": [{
            "mode": "server",
            "interaction": [{"code": "transaction"}],
            "security": security(base),
            "resource": rest_resources}],
    }
