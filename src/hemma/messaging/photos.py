"""Photos sent with a message (a wound, a rash, a swollen leg), from the patient's phone or
a staff member's.

What arrives is never trusted by its name or its content type: it is read up to the size
limit (and refused beyond it, without reading on), decoded by Pillow, accepted only as JPEG,
PNG or WebP, and encoded again from its pixels, so nothing of the file but the picture is
kept — no EXIF (the phone's position, the camera, the time), no comments, no trailing data.
The photo is turned upright first (the EXIF orientation is the one tag that matters to the
picture). HEIC (iPhone's own format) needs a plugin Pillow does not have: it is refused with
a message saying how to send it instead.

Files live under `<data dir>/uploads`, outside the web root, each under a random name; they
are served only through the access check (`messaging.pages`). A file written by a
transaction that then rolls back is removed again."""

from __future__ import annotations

import io
import secrets
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import event
from sqlalchemy.orm import Session

from hemma.config import get_settings
from hemma.kit.errors import Invalid
from hemma.kit.text import N_

# Pillow's format name -> the content type we store and serve, and how we encode it again.
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
# A phone camera takes 12–50 megapixels; a larger picture is a decompression bomb.
MAX_PIXELS = 60_000_000
# Photos are kept at most this wide or high: enough to see a wound, small enough to send.
MAX_SIDE = 3000
CHUNK = 64 * 1024
_WRITTEN = "hemma.messaging.photos.written"


@dataclass(frozen=True)
class Photo:
    data: bytes  # re-encoded, without metadata
    content_type: str
    width: int
    height: int


def uploads_dir() -> Path:
    path = get_settings().data_dir / "uploads"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def read_limited(stream: BinaryIO, max_bytes: int) -> bytes:
    """The upload's bytes, read in chunks; refused as soon as it passes `max_bytes`."""
    out = bytearray()
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            return bytes(out)
        out.extend(chunk)
        if len(out) > max_bytes:
            raise Invalid(N_("The photo is too large: at most %(mb)s MB"), field="photo",
                          mb=_megabytes(max_bytes))


def _megabytes(n: int) -> str:
    value = n / 1_000_000
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def _is_heic(data: bytes) -> bool:
    """ISO base media files say what they are at byte 4: ftyp and a HEIF brand."""
    return data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"hevc", b"hevx", b"mif1",
                                                   b"msf1", b"heim", b"heis")


def validate(data: bytes) -> Photo:
    """Decode, check and encode again: a Photo, or Invalid naming the field `photo`."""
    if not data:
        raise Invalid(N_("The photo is empty"), field="photo")
    if _is_heic(data):
        raise Invalid(N_("HEIC photos cannot be received. Send the photo as JPEG (on an "
                         "iPhone: Settings, Camera, Formats, Most Compatible), or take a "
                         "screenshot of it and send that."), field="photo")
    not_image = Invalid(N_("The file is not a photo we can read. Send a JPEG, PNG or WebP "
                           "picture."), field="photo")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # Only the three decoders are tried: no other of Pillow's parsers sees the file.
            with Image.open(io.BytesIO(data), formats=list(FORMATS)) as probe:
                kind = probe.format
                if kind not in FORMATS:
                    raise not_image
                if probe.width * probe.height > MAX_PIXELS:
                    raise Invalid(N_("The picture has too many pixels"), field="photo")
                probe.verify()  # the file's structure, before decoding its pixels
            with Image.open(io.BytesIO(data), formats=list(FORMATS)) as img:
                img.load()
                picture = ImageOps.exif_transpose(img)
    except Invalid:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError,
            Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise not_image from exc
    picture.thumbnail((MAX_SIDE, MAX_SIDE))
    return Photo(_encode(picture, kind), FORMATS[kind], picture.width, picture.height)


def _encode(picture: Image.Image, kind: str) -> bytes:
    """The pixels alone: no EXIF, XMP, ICC profile or comment is passed on."""
    out = io.BytesIO()
    if kind == "JPEG":
        if picture.mode not in ("RGB", "L"):
            picture = picture.convert("RGB")
        picture.save(out, "JPEG", quality=88, optimize=True)
    elif kind == "PNG":
        if picture.mode not in ("RGB", "RGBA", "L", "LA", "P"):
            picture = picture.convert("RGBA")
        picture.save(out, "PNG", optimize=True)
    else:
        if picture.mode not in ("RGB", "RGBA"):
            picture = picture.convert("RGBA" if "A" in picture.getbands() else "RGB")
        picture.save(out, "WEBP", quality=85)
    return out.getvalue()


def store(session: Session, photo: Photo) -> str:
    """Write the photo under a new random name; the name. Removed again if the session's
    transaction rolls back."""
    key = secrets.token_hex(16)
    folder = uploads_dir()
    tmp = folder / f".{key}.part"
    tmp.write_bytes(photo.data)
    tmp.chmod(0o600)
    tmp.replace(folder / key)
    session.info.setdefault(_WRITTEN, []).append(folder / key)
    return key


def path_of(key: str) -> Path:
    if not key or not all(c in "0123456789abcdef" for c in key):
        raise ValueError("not a photo key")
    return uploads_dir() / key


@event.listens_for(Session, "after_commit")
def _kept(session: Session) -> None:
    session.info.pop(_WRITTEN, None)


@event.listens_for(Session, "after_rollback")
def _remove_unsaved(session: Session) -> None:
    for path in session.info.pop(_WRITTEN, []):
        path.unlink(missing_ok=True)
