"""Turning Pydantic validation errors into field-named, translatable messages, and the small
field types the schemas share."""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)

from hemma.kit.errors import FieldError, Invalid
from hemma.kit.text import N_

# Messages for Pydantic's error types, as msgids translated where they are shown.
_MESSAGES = {
    "missing": N_("This field is required"),
    "string_too_short": N_("At least %(min_length)s characters"),
    "string_too_long": N_("At most %(max_length)s characters"),
    "string_type": N_("Enter text"),
    "int_parsing": N_("Enter a whole number"),
    "int_type": N_("Enter a whole number"),
    "float_parsing": N_("Enter a number"),
    "float_type": N_("Enter a number"),
    "bool_parsing": N_("Choose yes or no"),
    "bool_type": N_("Choose yes or no"),
    "greater_than_equal": N_("Must be at least %(ge)s"),
    "less_than_equal": N_("Must be at most %(le)s"),
    "greater_than": N_("Must be more than %(gt)s"),
    "less_than": N_("Must be less than %(lt)s"),
    "literal_error": N_("Choose one of the options"),
    "enum": N_("Choose one of the options"),
    "uuid_parsing": N_("Not a valid identifier"),
    "uuid_type": N_("Not a valid identifier"),
    "datetime_parsing": N_("Enter a date and time"),
    "datetime_from_date_parsing": N_("Enter a date and time"),
    "datetime_type": N_("Enter a date and time"),
    "date_parsing": N_("Enter a date (YYYY-MM-DD)"),
    "date_from_datetime_parsing": N_("Enter a date (YYYY-MM-DD)"),
    "extra_forbidden": N_("Unknown field"),
    "json_invalid": N_("The request body is not valid JSON"),
    "model_attributes_type": N_("Expected an object"),
    "dict_type": N_("Expected an object"),
    "list_type": N_("Expected a list"),
    "timezone_aware": N_("Give the time with its UTC offset"),
    "finite_number": N_("Enter a number"),
    "int_from_float": N_("Enter a whole number"),
    "date_from_datetime_inexact": N_("Enter a date (YYYY-MM-DD)"),
    "date_type": N_("Enter a date (YYYY-MM-DD)"),
}


def _field_name(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "form", "header", "cookie")]
    return ".".join(parts) or "body"


def field_errors(errors: list[dict[str, Any]]) -> list[FieldError]:
    out = []
    for err in errors:
        kind = err.get("type", "")
        ctx = err.get("ctx") or {}
        if kind == "value_error":
            # Our own validators raise ValueError with a msgid.
            message = str(ctx.get("error", err.get("msg", "")))
            params: dict = {}
        elif kind == "string_too_short" and ctx.get("min_length") == 1:
            message = _MESSAGES["missing"]  # an empty required field
            params = {}
            out.append(FieldError(_field_name(tuple(err.get("loc", ()))), message, params))
            continue
        else:
            message = _MESSAGES.get(kind, N_("Invalid value"))
            params = {k: v for k, v in ctx.items() if isinstance(v, (int, float, str))}
        out.append(FieldError(_field_name(tuple(err.get("loc", ()))), message, params))
    return out


def parse(model: type[BaseModel], data: dict) -> Any:
    """Validate form or JSON data, raising Invalid with one message per field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise Invalid(errors=field_errors(exc.errors())) from None


class Schema(BaseModel):
    # Infinity and NaN are not measurements, limits or amounts: refused like any bad number.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)


class _TooLong:
    """Stands for an integer with more digits than Python converts (4,300), to find its field."""


def _long_int(digits: str) -> Any:
    return _TooLong() if len(digits.lstrip("-")) > 4300 else int(digits)


def _paths_to(value: Any, kind: type, path: tuple = ()) -> list[tuple]:
    if isinstance(value, kind):
        return [path]
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return []
    return [p for key, item in items for p in _paths_to(item, kind, (*path, key))]


def load_json(body: bytes | str, field: str = "body") -> Any:
    """A request body (or a form's JSON `field`) as JSON, or Invalid naming what is wrong
    with it: text that is not UTF-8, nesting deeper than the parser goes, or a number too
    long to read (named by the field it was in). Nothing here is a server error."""
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            raise Invalid(N_("The request body is not valid UTF-8 text"), field=field) from None
    text = body.removeprefix("\ufeff")
    try:
        return json.loads(text)
    except RecursionError:
        raise Invalid(N_("The JSON is nested too deeply"), field=field) from None
    except json.JSONDecodeError:
        raise Invalid(_MESSAGES["json_invalid"], field=field) from None
    except ValueError:  # an integer longer than int() reads; parse again to find it
        pass
    data = json.loads(text, parse_int=_long_int)
    too_long = N_("The number is too long")
    raise Invalid(errors=[FieldError(_field_name((field, *path)), too_long)
                          for path in _paths_to(data, _TooLong)])


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def has_control_characters(value: str) -> bool:
    """Control characters are never typed on purpose, and PostgreSQL refuses NUL in text."""
    return _CONTROL.search(value) is not None


def _clean_text(value: str) -> str:
    if has_control_characters(value):
        raise ValueError("Contains characters that are not allowed")
    return unicodedata.normalize("NFC", value)


def _phone(value: str) -> str:
    if not re.fullmatch(r"\+?[0-9 ()\-]{5,20}", value):
        raise ValueError("Enter a phone number with digits, e.g. 0950-123 45")
    return value


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _email(value: str) -> str:
    if has_control_characters(value) or not _EMAIL.fullmatch(value):
        raise ValueError("Enter an e-mail address, e.g. namn@example.se")
    return value


def _postal_code(value: str) -> str:
    digits = value.replace(" ", "")
    if not re.fullmatch(r"\d{5}", digits):
        raise ValueError("Enter a postal code with five digits")
    return f"{digits[:3]} {digits[3:]}"


def _clock(value: str) -> str:
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
        raise ValueError("Enter a time as HH:MM, e.g. 08:00")
    return value


Text = Annotated[str, AfterValidator(_clean_text)]
# A Swedish wall-clock time of day, "08:00".
Clock = Annotated[str, AfterValidator(_clock)]
Phone = Annotated[str, AfterValidator(_phone)]
PostalCode = Annotated[str, AfterValidator(_postal_code)]
# An e-mail address as people type it: one @, a dot in the domain, no spaces.
Email = Annotated[str, Field(max_length=200, json_schema_extra={"format": "email"}),
                  AfterValidator(_email)]


def blank_to_none(data: dict) -> dict:
    """HTML forms send empty strings for empty fields; treat them as not given."""
    return {k: (None if isinstance(v, str) and not v.strip() else v) for k, v in data.items()}


# Ids of our own rows are 32-bit integers in the database: a larger number can name nothing,
# and PostgreSQL would refuse to compare with it (a server error instead of "not found").
DB_INT_MAX = 2_147_483_647
DbId = Annotated[int, Field(ge=1, le=DB_INT_MAX)]
# The few tables that count beyond that (audit entries, alert events) have 64-bit ids.
DB_BIGINT_MAX = 2**63 - 1
BigDbId = Annotated[int, Field(ge=1, le=DB_BIGINT_MAX)]

# Days anyone plans care for, or looks back at: a date outside these years is a typo (or a
# probe), and would overflow the time arithmetic around it.
FIRST_YEAR, LAST_YEAR = 1900, 2199


def _plausible_day(value: date) -> date:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(N_("Enter a date between the years 1900 and 2199"))
    return value


Day = Annotated[date, AfterValidator(_plausible_day)]


def _plausible_moment(value: datetime) -> datetime:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(N_("Enter a time between the years 1900 and 2199"))
    return value


# A point in time with its UTC offset (as measured, sent by a device), in the same years:
# converting year 1 or 9999 to UTC would overflow.
Moment = Annotated[AwareDatetime, AfterValidator(_plausible_moment)]


def _decimal_comma(value: Any) -> Any:
    """Swedish users write 38,9: a comma is the decimal sign, as good as a point."""
    if isinstance(value, str):
        text = value.strip().replace("\u2212", "-")
        if re.fullmatch(r"[+-]?\d+,\d*", text):
            return text.replace(",", ".")
        return text
    return value


# A number typed by a person, in Swedish or English notation (39,1 or 39.1).
LocalFloat = Annotated[float, BeforeValidator(_decimal_comma)]


def local_float(ge: float, le: float):
    """A LocalFloat within [ge, le]. (Bounds given inside the type, before the comma is read,
    so that the API's JSON schema states them as minimum and maximum.)"""
    return Annotated[float, Field(ge=ge, le=le), BeforeValidator(_decimal_comma)]
