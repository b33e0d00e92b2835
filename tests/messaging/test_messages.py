"""Messages between the patient and the care team, and between staff, through the pages
and the JSON API, on a real database: the patient writes on /p, the home ward sees it waiting
with its age, reads and answers; the patient sees who read it and the answer. Bad input
saves nothing; text is always text; photos lose their EXIF; another organisation sees
nothing without consent; answers that do not come in time are escalated exactly once."""

from __future__ import annotations

import io
import re
import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select

from hemma.access.auth import create_patient_code
from hemma.access.service import subject_for
from hemma.jobs.worker import Worker
from hemma.kit.time import at_local, frozen_clock, local_today
from hemma.messaging import service
from hemma.models import Message, MessageThread, Notification, OutboxMessage, Patient, Staff

# A Wednesday to come (the care relationships the factories make started yesterday).
WEDNESDAY = local_today() + timedelta(days=1 + (2 - local_today().weekday() - 1) % 7)


def _phone(app, database, world, pid) -> TestClient:
    """The patient's own phone, logged in with a code from the home ward."""
    with database.session() as s:
        code, _row = create_patient_code(s, pid, world.staff["sara"])
    phone = TestClient(app, base_url="https://testserver")
    page = phone.get("/p/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = phone.post("/p/login", data={"code": code, "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return phone


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _patient_writes(phone, body: str, files=None, **extra):
    page = phone.get("/p/messages")
    return phone.post("/p/messages", data={"csrf_token": _csrf(page.text), "body": body,
                                           **extra}, files=files, follow_redirects=False)


def _home_ward_patient(world, **kw) -> uuid.UUID:
    """A patient of Medicinkliniken's home ward; Hemsjukvården in the care team too."""
    pid = world.patient(unit="med", **kw)
    world.relation(pid, unit="hsv")
    world.episode(pid, state="admitted")
    return pid


def _messages(database, pid=None) -> list[Message]:
    with database.session() as s:
        stmt = select(Message).order_by(Message.created_at)
        if pid is not None:
            stmt = stmt.where(Message.patient_id == pid)
        rows = list(s.scalars(stmt))
        s.expunge_all()
        return rows


def test_the_patient_writes_the_home_ward_reads_and_answers(app, world, database, as_user):
    pid = _home_ward_patient(world, name="Gunnel")
    with database.session() as s:
        patient = s.get(Patient, pid)
        patient.language, patient.interpreter_needed = "ar", True
    sent_at = at_local(WEDNESDAY, "10:00")
    with frozen_clock(sent_at) as advance:
        phone = _phone(app, database, world, pid)
        home = phone.get("/p")
        assert 'href="/p/messages"' in home.text
        r = _patient_writes(phone, "Det är rött runt PICC-linen. Ska jag vara orolig?")
        assert r.status_code == 303 and r.headers["location"].startswith("/p/messages")
        (message,) = _messages(database, pid)
        assert message.author_kind == "patient" and message.answered_at is None
        assert message.documented_by_unit_id == world.units["med"]
        assert message.due_at == at_local(WEDNESDAY, "12:00")  # two hours of daytime

        advance(timedelta(hours=1, minutes=10))
        sara = as_user("sara")
        inbox = sara.get("/messages")
        assert inbox.status_code == 200
        row = inbox.text.split('id="message-inbox"')[1]
        assert "Gunnel" in row and "1 h 10 min" in row
        # The menu counts what waits for the unit.
        assert re.search(r'href="/messages"[^>]*>[^<]*<span class="badge"[^>]*>1<', inbox.text)

        advance(timedelta(minutes=4))
        page = sara.get(f"/patients/{pid}/messages")
        assert page.status_code == 200 and "Det är rött runt PICC-linen" in page.text
        # The interpreter is needed, said where staff write to the patient.
        compose = page.text.split('id="to-patient-form"')[1].split("</form>")[0]
        assert 'class="interpreter-flag"' in compose and "arabiska" in compose.lower()
        (message,) = _messages(database, pid)
        assert message.read_at == sent_at + timedelta(minutes=74)
        assert message.read_by_unit_id == world.units["med"]
        assert message.read_by_staff_id == world.staff["sara"]

        advance(timedelta(minutes=6))
        r = sara.post(f"/patients/{pid}/messages", data={
            "body": "Vi ringer dig inom en kvart.", "to": "patient"}, follow_redirects=False)
        assert r.status_code == 303
        question, answer = _messages(database, pid)
        assert question.answered_at == sent_at + timedelta(minutes=80)
        assert answer.author_staff_id == world.staff["sara"] and answer.seen_at is None
        with database.session() as s:
            assert service.unanswered_count(s, world.units["med"]) == 0

        home = phone.get("/p")
        link = home.text.split('id="messages-link"')[1].split("</a>")[0]
        assert "1" in link  # one new answer
        mine = phone.get("/p/messages")
        assert "Vi ringer dig inom en kvart." in mine.text
        receipt = mine.text.split('class="read-receipt"')[1].split("</span>")[0]
        assert "Medicinkliniken" in receipt and "11:14" in receipt
        assert _messages(database, pid)[1].seen_at is not None
        link = phone.get("/p").text.split('id="messages-link"')[1].split("</a>")[0]
        assert not re.search(r"\d", link)


def test_an_empty_or_too_long_message_is_refused_and_nothing_is_saved(app, world, database,
                                                                      as_user, settings):
    pid = _home_ward_patient(world)
    phone = _phone(app, database, world, pid)
    sara = as_user("sara")
    settings.message_max_chars = 100
    for body in ("", "   \n  ", "x" * 101):
        r = _patient_writes(phone, body)
        assert r.status_code == 422 and 'id="body-error"' in r.text, body
        r = sara.post(f"/patients/{pid}/messages", data={"body": body, "to": "patient"})
        # The staff page has two message boxes: the error is the one to the patient's.
        assert r.status_code == 422 and 'id="patient-body-error"' in r.text
        r = sara.post(f"/api/v1/patients/{pid}/messages", json={"body": body, "to": "staff"})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body"
    assert _messages(database) == []
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(MessageThread)) == 0
    assert _patient_writes(phone, "x" * 100).status_code == 303


MARKUP = ['<script>alert("patient")</script>', '<img src=x onerror="alert(1)">']


def test_message_text_is_always_shown_as_text(app, world, database, as_user):
    pid = _home_ward_patient(world)
    world.consent(pid, "kommun")
    world.consent(pid, "region")
    phone = _phone(app, database, world, pid)
    sara, kim = as_user("sara"), as_user("kim")
    assert _patient_writes(phone, MARKUP[0] + MARKUP[1]).status_code == 303
    assert sara.post(f"/patients/{pid}/messages", data={
        "body": MARKUP[1], "to": "patient"}).status_code == 200
    assert kim.post(f"/api/v1/patients/{pid}/messages", json={
        "body": MARKUP[0], "to": "staff"}).status_code == 201
    for page in (sara.get(f"/patients/{pid}/messages").text, phone.get("/p/messages").text,
                 kim.get(f"/patients/{pid}/messages").text):
        for markup in MARKUP:
            assert markup not in page
        assert "&lt;script&gt;" in page or "&lt;img" in page
    # The API gives the text as it was written (JSON is data, not markup).
    bodies = [m["body"] for t in sara.get(f"/api/v1/patients/{pid}/messages").json()["threads"]
              for m in t["messages"]]
    assert MARKUP[0] in bodies and MARKUP[0] + MARKUP[1] in bodies


def _jpeg_with_gps() -> bytes:
    img = Image.new("RGB", (64, 48), (200, 40, 40))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0112] = 6  # Orientation: rotate 90° to show
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (64.0, 35.0, 42.0)
    gps[3], gps[4] = "E", (18.0, 40.0, 12.0)
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif)
    data = out.getvalue()
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825)  # it is there to begin with
    return data


def _uploads(settings) -> list:
    folder = settings.data_dir / "uploads"
    return sorted(p for p in folder.iterdir()) if folder.exists() else []


def test_a_photo_loses_its_exif_and_gps_and_is_served_only_through_the_access_check(
        app, world, database, as_user, settings):
    pid = _home_ward_patient(world)
    phone = _phone(app, database, world, pid)
    r = _patient_writes(phone, "Så här ser det ut.",
                        files={"photo": ("IMG_4711.jpg", _jpeg_with_gps(), "image/jpeg")})
    assert r.status_code == 303, r.text
    (message,) = _messages(database, pid)
    (stored,) = _uploads(settings)
    assert stored.name == message.photo_key and "IMG_4711" not in stored.name
    assert len(message.photo_key) == 32 and message.photo_type == "image/jpeg"
    assert settings.data_dir / "uploads" == stored.parent  # outside the web root
    kept = Image.open(stored)
    assert kept.format == "JPEG" and not kept.getexif() and not kept.getexif().get_ifd(0x8825)
    assert b"PhoneMaker" not in stored.read_bytes() and b"Exif" not in stored.read_bytes()
    assert kept.size == (48, 64)  # turned upright before the orientation tag was dropped

    sara = as_user("sara")
    url = f"/patients/{pid}/messages/{message.id}/photo"
    assert f'src="{url}"' in sara.get(f"/patients/{pid}/messages").text
    got = sara.get(url)
    assert got.status_code == 200 and got.content == stored.read_bytes()
    assert got.headers["content-type"] == "image/jpeg"
    assert got.headers["cache-control"] == "private, no-store"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert phone.get(f"/p/messages/{message.id}/photo").content == stored.read_bytes()
    # Hemsjukvården, in the care team without the patient's consent, and the hälsocentral,
    # not in it at all, get what an unknown photo gets.
    unknown = sara.get(f"/patients/{pid}/messages/{uuid.uuid4()}/photo")
    assert unknown.status_code == 404
    for who in ("kim", "hugo"):
        r = as_user(who).get(url)
        assert r.status_code == 404 and r.content != stored.read_bytes()


def test_a_file_that_is_not_a_photo_is_refused_whatever_its_name(app, world, database,
                                                                 as_user, settings):
    pid = _home_ward_patient(world)
    phone = _phone(app, database, world, pid)
    sara = as_user("sara")
    settings.message_photo_max_bytes = 40_000
    noisy = io.BytesIO()
    Image.effect_noise((200, 200), 90).convert("RGB").save(noisy, "PNG")
    assert len(noisy.getvalue()) > 40_000
    gif = io.BytesIO()
    Image.new("RGB", (8, 8)).save(gif, "GIF")
    cases = [
        ("wound.jpg", b"#!/bin/sh\necho this is not a picture\n" * 20, "image/jpeg", "photo"),
        ("wound.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 200, "image/png", "photo"),  # broken
        ("wound.gif", gif.getvalue(), "image/gif", "photo"),  # a picture, not one we take
        ("IMG_1.HEIC", b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + b"\0" * 100, "image/heic",
         "HEIC"),
        ("big.png", noisy.getvalue(), "image/png", "MB"),
    ]
    for name, data, ctype, expect in cases:
        r = _patient_writes(phone, "Titta", files={"photo": (name, data, ctype)})
        assert r.status_code == 422 and 'id="photo-error"' in r.text, name
        assert expect in r.text.split('id="photo-error"')[1].split("</span>")[0] or \
            expect == "photo", name
        r = sara.post(f"/patients/{pid}/messages", data={"body": "Titta", "to": "staff"},
                      files={"photo": (name, data, ctype)})
        assert r.status_code == 422 and 'id="staff-photo-error"' in r.text, name
    assert _messages(database) == [] and _uploads(settings) == []
    # A photo with no text is a message; an empty file input is no photo.
    png = io.BytesIO()
    Image.new("RGB", (20, 20), (1, 2, 3)).save(png, "PNG")
    assert _patient_writes(phone, "", files={"photo": ("a.png", png.getvalue(),
                                                        "image/png")}).status_code == 303
    r = _patient_writes(phone, "", files={"photo": ("", b"", "application/octet-stream")})
    assert r.status_code == 422 and 'id="body-error"' in r.text
    assert len(_messages(database)) == 1 and len(_uploads(settings)) == 1


def test_another_organisation_sees_nothing_of_the_content_without_consent(app, world,
                                                                         database, as_user):
    pid = _home_ward_patient(world)
    phone = _phone(app, database, world, pid)
    sara, kim = as_user("sara"), as_user("kim")
    _patient_writes(phone, "Hemligt om såret")
    sara.post(f"/patients/{pid}/messages", data={"body": "Regionens anteckning", "to": "staff"})
    kim.post(f"/patients/{pid}/messages", data={"body": "Kommunens anteckning", "to": "staff"})
    page = kim.get(f"/patients/{pid}/messages")
    assert page.status_code == 200
    assert "Hemligt om såret" not in page.text and "Regionens anteckning" not in page.text
    assert "Kommunens anteckning" in page.text
    hidden = re.findall(r'class="hidden-info">([^<]*)<', page.text)
    assert len(hidden) == 2 and all(h.strip().startswith("1 ") for h in hidden)
    api = kim.get(f"/api/v1/patients/{pid}/messages").json()
    assert api["hidden_messages"] == 1
    assert [m["body"] for t in api["threads"] for m in t["messages"]] == ["Kommunens anteckning"]
    assert [t["hidden_messages"] for t in api["threads"]] == [1]
    threads = {t.kind: t.id for t in _threads(database, pid)}
    assert kim.get(f"/api/v1/patients/{pid}/messages/{threads['patient']}").status_code == 404
    assert "Hemligt" not in kim.get("/messages").text
    assert [r["kind"] for r in kim.get("/api/v1/messages").json()] == ["staff"]
    with database.session() as s:
        kim_subject = subject_for(s, s.get(Staff, world.staff["kim"]))
        assert service.unanswered(s, kim_subject, [world.units["med"]]) == []
    # With the patient's consent, everything shows.
    world.consent(pid, "kommun")
    world.consent(pid, "region")
    page = kim.get(f"/patients/{pid}/messages")
    for text in ("Hemligt om såret", "Regionens anteckning", "Kommunens anteckning"):
        assert text in page.text
    assert 'class="hidden-info"' not in page.text
    assert kim.get(f"/api/v1/patients/{pid}/messages/{threads['patient']}").status_code == 200
    # Another organisation may read the home ward's thread, not answer in it or mark it read.
    r = kim.post(f"/api/v1/patients/{pid}/messages/{threads['patient']}/read")
    assert r.status_code == 403
    # (Sara's page, after she wrote, showed the thread to the unit it is addressed to.)
    assert _messages(database, pid)[0].read_by_staff_id == world.staff["sara"]


def _threads(database, pid) -> list[MessageThread]:
    with database.session() as s:
        rows = list(s.scalars(select(MessageThread).where(MessageThread.patient_id == pid)))
        s.expunge_all()
        return rows


def test_a_unit_outside_the_care_team_and_another_patient_get_nothing(app, world, database,
                                                                     as_user):
    pid = _home_ward_patient(world)
    other = _home_ward_patient(world, name="Annan")
    phone = _phone(app, database, world, pid)
    other_phone = _phone(app, database, world, other)
    png = io.BytesIO()
    Image.new("RGB", (20, 20), (9, 9, 9)).save(png, "PNG")
    _patient_writes(phone, "Min bild", files={"photo": ("a.png", png.getvalue(), "image/png")})
    sara = as_user("sara")
    sara.post(f"/patients/{pid}/messages", data={"body": "Personalens bild", "to": "staff"},
              files={"photo": ("b.png", png.getvalue(), "image/png")})
    mine, staff_note = _messages(database, pid)
    hugo = as_user("hugo")
    (thread,) = [t for t in _threads(database, pid) if t.kind == "patient"]
    for method, url in (
            ("GET", f"/patients/{pid}/messages"), ("GET", f"/api/v1/patients/{pid}/messages"),
            ("GET", f"/api/v1/patients/{pid}/messages/{thread.id}"),
            ("GET", f"/patients/{pid}/messages/{mine.id}/photo"),
            ("POST", f"/api/v1/patients/{pid}/messages/{thread.id}/read")):
        assert hugo.request(method, url).status_code == 404, url
    r = hugo.post(f"/api/v1/patients/{pid}/messages", json={"body": "Hej", "to": "staff"})
    assert r.status_code == 404
    assert hugo.get("/api/v1/messages").json() == []
    # The other patient reaches neither the photo nor the thread; the patient never sees the
    # staff's thread or its photos.
    assert other_phone.get(f"/p/messages/{mine.id}/photo").status_code == 404
    assert "Min bild" not in other_phone.get("/p/messages").text
    assert phone.get(f"/p/messages/{staff_note.id}/photo").status_code == 404
    assert "Personalens bild" not in phone.get("/p/messages").text
    # A message id of another patient names nothing under this one.
    assert sara.get(f"/patients/{other}/messages/{mine.id}/photo").status_code == 404
    # A patient cannot write to a unit outside their care team.
    r = _patient_writes(phone, "Hej", unit_id=str(world.units["hc"]))
    assert r.status_code == 422 and 'id="unit_id-error"' in r.text


def test_the_json_api_lists_reads_writes_and_marks_read(app, world, database, as_user):
    pid = _home_ward_patient(world)
    phone = _phone(app, database, world, pid)
    _patient_writes(phone, "Fråga om dosen")
    sara = as_user("sara")
    (row,) = sara.get("/api/v1/messages").json()
    assert row["kind"] == "patient" and row["unanswered"] == 1 and row["own_unit"]
    thread = sara.get(f"/api/v1/patients/{pid}/messages/{row['thread_id']}").json()
    assert thread["messages"][0]["read_at"] is None  # reading through the API marks nothing
    r = sara.post(f"/api/v1/patients/{pid}/messages/{row['thread_id']}/read")
    assert r.status_code == 200 and r.json()["messages"][0]["read_by_unit"] == "Medicinkliniken"
    r = sara.post(f"/api/v1/patients/{pid}/messages", json={"body": "Ta den som vanligt."})
    assert r.status_code == 201 and r.json()["author_kind"] == "staff"
    (row,) = sara.get("/api/v1/messages").json()
    assert row["unanswered"] == 0
    r = sara.post(f"/api/v1/patients/{pid}/messages", json={"body": "Till kommunen",
                                                            "to": "staff"})
    assert r.status_code == 201
    assert {t["kind"] for t in sara.get(f"/api/v1/patients/{pid}/messages").json()[
        "threads"]} == {"patient", "staff"}
    assert sara.post(f"/api/v1/patients/{pid}/messages",
                     json={"body": "x", "to": "nobody"}).status_code == 422
    # The staff thread has nothing to mark read.
    staff = next(t for t in _threads(database, pid) if t.kind == "staff")
    assert sara.post(f"/api/v1/patients/{pid}/messages/{staff.id}/read").status_code == 404
    # An assistant nurse writes too; an emergency access reads, never writes.
    assert as_user("olle").post(f"/api/v1/patients/{pid}/messages",
                                json={"body": "Besöket klart", "to": "staff"}).status_code == 201
    stranger = world.patient(unit=None)
    world.emergency(stranger, "lisa")
    lisa = as_user("lisa")
    assert lisa.get(f"/api/v1/patients/{stranger}/messages").status_code == 200
    assert lisa.post(f"/api/v1/patients/{stranger}/messages",
                     json={"body": "Hej", "to": "staff"}).status_code == 404


def test_an_unanswered_message_escalates_exactly_once_to_the_unit_on_duty(app, world,
                                                                         database):
    pid = _home_ward_patient(world)
    worker = Worker(database)
    start = at_local(WEDNESDAY, "16:00")
    with frozen_clock(start):
        phone = _phone(app, database, world, pid)
        _patient_writes(phone, "Ingen har svarat")
    (message,) = _messages(database, pid)
    # One hour today (16–17), one tomorrow from 08: due 09:00.
    assert message.due_at == at_local(WEDNESDAY + timedelta(days=1), "09:00")
    assert worker.tick(at_local(WEDNESDAY + timedelta(days=1), "08:59")).messages_escalated == 0
    later = at_local(WEDNESDAY + timedelta(days=1), "09:01")
    report = worker.tick(later)
    assert report.messages_escalated == 1 and report.delivered >= 1
    for _ in range(3):
        assert worker.tick(later + timedelta(minutes=5)).messages_escalated == 0
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.topic == service.ESCALATED)) == 1
        notified = list(s.scalars(select(Notification).where(
            Notification.kind == service.ESCALATED)))
        # Nobody is rostered: the unit's nurses.
        assert {n.staff_id for n in notified} == {world.staff["sara"]}
        assert {n.patient_id for n in notified} == {pid}
        assert s.get(Message, message.id).escalated_at == later
        sara = subject_for(s, s.get(Staff, world.staff["sara"]))
        (waiting,) = service.unanswered(s, sara, [world.units["med"]], later)
        assert waiting.patient_id == pid and waiting.escalated and waiting.overdue
        assert waiting.age == later - start and waiting.unit_name == "Medicinkliniken"


def test_an_answer_in_time_is_never_escalated_and_a_second_worker_changes_nothing(
        app, world, database, as_user):
    pid = _home_ward_patient(world)
    at = at_local(WEDNESDAY, "10:00")
    with frozen_clock(at):
        phone = _phone(app, database, world, pid)
        _patient_writes(phone, "Första")
        as_user("sara").post(f"/patients/{pid}/messages", data={"body": "Svar", "to": "patient"})
    with frozen_clock(at + timedelta(minutes=1)):
        assert _patient_writes(phone, "Andra").status_code == 303
    late = at + timedelta(hours=5)
    # Two workers sweep the same moment, one after the other: one escalation between them.
    with database.session() as a:
        assert service.escalate_due(a, late) == 1
    with database.session() as b:
        assert service.escalate_due(b, late) == 0
    first, _answer, second = _messages(database, pid)
    assert first.escalated_at is None and second.escalated_at == late


@pytest.mark.parametrize("who", ["pia", "olle"])
def test_everyone_who_cares_for_the_patient_may_write_between_staff(who, world, database,
                                                                   as_user):
    pid = _home_ward_patient(world)
    world.relation(pid, unit="hsv")
    client = as_user(who)
    r = client.post(f"/patients/{pid}/messages", data={"body": "Klart för i dag",
                                                       "to": "staff"}, follow_redirects=False)
    assert r.status_code == 303
    (note,) = _messages(database, pid)
    assert note.author_staff_id == world.staff[who]


def test_a_phone_sized_photo_passes_the_general_body_limit(app, world, database, settings):
    """Requests are limited to HEMMA_MAX_BODY_BYTES (1 MB); the message forms take a photo of
    the size the photo setting allows."""
    pid = _home_ward_patient(world)
    phone = _phone(app, database, world, pid)
    big = io.BytesIO()
    Image.effect_noise((1100, 1100), 60).convert("RGB").save(big, "PNG")
    assert settings.max_body_bytes < len(big.getvalue()) < settings.message_photo_max_bytes
    r = _patient_writes(phone, "Stor bild", files={"photo": ("big.png", big.getvalue(),
                                                             "image/png")})
    assert r.status_code == 303, r.text[:500]
    (message,) = _messages(database, pid)
    assert message.photo_type == "image/png" and len(_uploads(settings)) == 1
    # Other forms keep the general limit.
    r = phone.post("/p/observations", data={"note": "x" * (settings.max_body_bytes + 10)})
    assert r.status_code == 413
