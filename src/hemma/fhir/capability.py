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
            "security": {"description": "A bearer token of a Hemma user or system account; "
                                        "every read goes through the same access check as "
                                        "Hemma's pages."},
            "resource": rest_resources}],
    }
