"""SMART scopes (pure): what a system client's token allows, as the v2 scopes write it
(`system/Observation.c`, `system/*.rs`, `user/Patient.rs`) and the v1 forms mapped to them
(`.read` = rs, `.write` = cud, `.*` = cruds).

Scopes only narrow: a token's scopes say which FHIR interactions on which types the client
may ask for at all; whether the account it acts as may see a patient is still `can()`'s.
A client acts as its own system account, so `user/` and `system/` mean the same here;
`patient/` scopes need a launch context Backend Services do not have and are refused, as are
v2's search-parameter narrowings (`?category=…`), which Hemma does not enforce."""

from __future__ import annotations

import re
from dataclasses import dataclass

# The order v2 writes permissions in: create, read, update, delete, search.
ORDER = "cruds"
V1 = {"read": "rs", "write": "cud", "*": "cruds"}
CONTEXTS = ("system", "user")
_SCOPE = re.compile(r"^(system|user)/(\*|[A-Z][A-Za-z]{1,63})\.([a-z*]{1,5})$")
MAX_SCOPES = 50


class ScopeError(ValueError):
    """A scope string that is not one Hemma grants; the message names it."""


@dataclass(frozen=True, order=True)
class Scope:
    context: str
    type: str  # a FHIR resource type, or "*"
    permissions: str  # a subset of "cruds", in that order

    def __str__(self) -> str:
        return f"{self.context}/{self.type}.{self.permissions}"

    def allows(self, resource_type: str, interaction: str) -> bool:
        return self.type in ("*", resource_type) and interaction in self.permissions


def _permissions(text: str, scope: str) -> str:
    if text in V1:
        return V1[text]
    # v2: each letter at most once, in the order c r u d s.
    if not text or any(ch not in ORDER for ch in text) or text != "".join(
            ch for ch in ORDER if ch in text):
        raise ScopeError(f"invalid permissions in scope {scope!r} (use c, r, u, d, s in "
                         "that order, or read, write, *)")
    return text


def parse_one(scope: str) -> Scope:
    m = _SCOPE.match(scope)
    if m is None:
        raise ScopeError(f"unsupported scope {scope[:80]!r} (Hemma grants system/ or user/ "
                         "scopes such as system/Observation.c)")
    return Scope(m.group(1), m.group(2), _permissions(m.group(3), scope))


def parse(text: str) -> tuple[Scope, ...]:
    """A space-separated scope string; raises ScopeError naming the first bad one."""
    items = text.split()
    if len(items) > MAX_SCOPES:
        raise ScopeError(f"too many scopes: at most {MAX_SCOPES}")
    return tuple(dict.fromkeys(parse_one(s) for s in items))


def render(scopes: tuple[Scope, ...]) -> str:
    return " ".join(str(s) for s in scopes)


def grant(requested: tuple[Scope, ...], registered: tuple[Scope, ...]) -> tuple[Scope, ...]:
    """What the client gets: each requested scope narrowed to what its registration allows
    (`system/*.rs` asked of a client registered for `system/Observation.crs` is
    `system/Observation.rs`). Never anything the registration does not hold."""
    out: dict[Scope, None] = {}
    for want in requested:
        for may in registered:
            if may.type == "*":
                kind = want.type
            elif want.type in ("*", may.type):
                kind = may.type
            else:
                continue
            perms = "".join(ch for ch in ORDER if ch in want.permissions
                            and ch in may.permissions)
            if perms:
                out[Scope(want.context, kind, perms)] = None
    return tuple(out)


def allows(scopes: tuple[Scope, ...], resource_type: str, interaction: str) -> bool:
    """Do the token's scopes let it ask for `interaction` (r, s, c, u) on the type?"""
    return any(s.allows(resource_type, interaction) for s in scopes)
