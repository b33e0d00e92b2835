"""The second factor of a password login: a six-digit code from the user's authenticator
app (TOTP, RFC 6238, computed by pyotp).

HSLF-FS 2016:40 asks for strong authentication to patient records; a password alone is not.
Where passwords are allowed in production (`HEMMA_TOTP_REQUIRED`), a password login starts
no session until the code is typed (`auth.login` and `auth.complete_step`); a user without an
app yet sets one up right there, confirmed by its first code. A login through the region's
identity provider asks for no code: SITHS eID is strong authentication already.

The secret is kept encrypted with a key derived from the installation's secret key (Fernet:
AES with an HMAC), and once confirmed it is never shown again: a lost phone means the
administrator resets it and the user sets up a new one. A code is good once: the time step
of the newest code accepted is stored, and a conditional update refuses the same step again
(or an older one), in every app process.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import delete, or_, update
from sqlalchemy.orm import Session

from hemma.access import audit
from hemma.access.policy import Action, Subject
from hemma.access.service import require
from hemma.config import get_settings
from hemma.kit.errors import Conflict, Invalid
from hemma.kit.time import utcnow
from hemma.models import Staff, TotpCredential

DIGITS = 6
STEP_SECONDS = 30
# A code from the step before or after this one is accepted too: a phone's clock a little
# off, or a code typed as it changed. Each is still good only once.
WINDOW = 1


def _fernet() -> Fernet:
    secret = get_settings().resolved_secret_key().encode()
    key = hmac.new(secret, b"hemma totp secret v1", hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def _encrypt(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def _decrypt(token: str) -> str | None:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        # Encrypted under another secret key (HEMMA_SECRET_KEY changed): no code can match;
        # the administrator resets it and the user sets up the app again.
        return None


def is_enrolled(session: Session, staff_id: int) -> bool:
    row = session.get(TotpCredential, staff_id)
    return row is not None and row.confirmed_at is not None


@dataclass(frozen=True)
class Enrolment:
    """What the user needs to set up their app: a QR code to scan, or the secret to type."""

    secret: str
    uri: str
    qr_data_uri: str

    @property
    def grouped(self) -> str:
        """The secret in groups of four, as it is easiest to type."""
        return " ".join(self.secret[i:i + 4] for i in range(0, len(self.secret), 4))


def enrolment(session: Session, staff: Staff) -> Enrolment:
    """The secret of the user's enrolment not yet confirmed (made now if there is none),
    shown until the app's first code confirms it. Refused once confirmed: never shown again."""
    row = session.get(TotpCredential, staff.id)
    if row is not None and row.confirmed_at is not None:
        raise Conflict("Your authenticator app is already set up. If you have lost it, ask "
                       "your unit's administrator to reset it.")
    secret = _decrypt(row.secret_encrypted) if row is not None else None
    if secret is None:
        secret = pyotp.random_base32()
        if row is None:
            row = TotpCredential(staff_id=staff.id, created_at=utcnow(),
                                 secret_encrypted=_encrypt(secret))
            session.add(row)
        else:
            row.secret_encrypted, row.created_at = _encrypt(secret), utcnow()
        session.flush()
    uri = pyotp.TOTP(secret).provisioning_uri(name=staff.username,
                                              issuer_name=get_settings().totp_issuer)
    # An inline SVG image (the page's CSP allows data: images): no service outside Hemma
    # ever sees the secret.
    qr = segno.make(uri, error="m").svg_data_uri(scale=5, border=2)
    return Enrolment(secret, uri, qr)


def _normalised(code: str | None) -> str | None:
    digits = re.sub(r"[\s-]", "", code or "")
    return digits if re.fullmatch(rf"\d{{{DIGITS}}}", digits) else None


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = totp.timecode(now)
    for offset in sorted(range(-WINDOW, WINDOW + 1), key=abs):
        if hmac.compare_digest(totp.generate_otp(current + offset), code):
            return current + offset
    return None


def accept_code(session: Session, staff_id: int, code: str | None, *,
                confirming: bool = False) -> bool:
    """Is `code` right for the user's app, and not used before? Accepting it uses it up.
    `confirming`: the enrolment's first code, which also confirms the app."""
    typed = _normalised(code)
    row = session.get(TotpCredential, staff_id)
    if typed is None or row is None or (row.confirmed_at is None) != confirming:
        return False
    secret = _decrypt(row.secret_encrypted)
    if secret is None:
        return False
    now = utcnow()
    step = _matching_step(secret, typed, now)
    if step is None:
        return False
    values = {"last_step": step}
    if confirming:
        values["confirmed_at"] = now
    # The conditional update is the check that the code is new: two requests with the same
    # code, in any two processes, cannot both pass it.
    done = session.execute(
        update(TotpCredential)
        .where(TotpCredential.staff_id == staff_id,
               or_(TotpCredential.last_step.is_(None), TotpCredential.last_step < step),
               TotpCredential.confirmed_at.is_(None) if confirming
               else TotpCredential.confirmed_at.is_not(None))
        .values(**values).execution_options(synchronize_session=False)).rowcount
    if done:
        session.expire(row)
    return bool(done)


def confirm_enrolment(session: Session, subject: Subject, code: str | None) -> None:
    """The signed-in user confirms their new app with its first code (their own page)."""
    require(session, subject, Action.SIGNED_IN)
    if is_enrolled(session, subject.staff_id):
        raise Conflict("Your authenticator app is already set up. If you have lost it, ask "
                       "your unit's administrator to reset it.")
    if not accept_code(session, subject.staff_id, code, confirming=True):
        raise Invalid("The code did not match. Type the six digits the app shows now.",
                      field="code")
    audit.record(session, None, "auth.totp.enrol", basis="role")


def remove(session: Session, staff_id: int) -> bool:
    """Forget the user's app (an administrator's reset): the next password login sets up a
    new one when codes are required. True if there was one."""
    return bool(session.execute(delete(TotpCredential).where(
        TotpCredential.staff_id == staff_id)).rowcount)

