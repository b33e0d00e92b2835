"""Errors the services raise; the web layer turns them into pages and JSON.

Messages are English msgids, translated when shown; `field` names the input that was wrong."""

from __future__ import annotations

from dataclasses import dataclass, field

from hemma.kit.text import N_


@dataclass
class FieldError:
    field: str
    message: str
    params: dict = field(default_factory=dict)


class HemmaError(Exception):
    status_code = 400

    def __init__(self, message: str, *, field: str | None = None, **params):
        super().__init__(message)
        self.message = message
        self.field = field
        self.params = params

    @property
    def errors(self) -> list[FieldError]:
        return [FieldError(self.field or "", self.message, self.params)]


class NotFound(HemmaError):
    """Unknown, or not yours to know about: the two must look the same (Patientdatalagen)."""

    status_code = 404

    def __init__(self, message: str = N_("Not found"), **kw):
        super().__init__(message, **kw)


class Forbidden(HemmaError):
    """For actions that are not about one patient (admin, log review)."""

    status_code = 403

    def __init__(self, message: str = N_("You do not have permission for this"), **kw):
        super().__init__(message, **kw)


class Unauthenticated(HemmaError):
    status_code = 401

    def __init__(self, message: str = N_("Please log in"), **kw):
        super().__init__(message, **kw)


class Conflict(HemmaError):
    status_code = 409


class PreconditionFailed(Conflict):
    """The version the client sent (If-Match) is not the current one: it changed since the
    client read it."""

    status_code = 412

    def __init__(self, message: str, **kw):
        super().__init__(message, field="If-Match", **kw)


class Unsupported(HemmaError):
    """A request body of a media type Hemma does not read (XML where JSON is taken)."""

    status_code = 415


class TooLarge(HemmaError):
    status_code = 413


class Unavailable(HemmaError):
    """The request could not be carried out just now (the database, a queue): try again."""

    status_code = 503


class Invalid(HemmaError):
    """One or more inputs are wrong; nothing was changed."""

    status_code = 422

    def __init__(self, message: str = "", *, field: str | None = None, errors=None, **params):
        super().__init__(message or N_("Invalid input"), field=field, **params)
        self._errors = list(errors) if errors else None

    @property
    def errors(self) -> list[FieldError]:
        if self._errors is not None:
            return self._errors
        return super().errors
