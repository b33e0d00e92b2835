"""`hemma backup` and `hemma restore` through the command line, on the test's backend: a
backup of a database with values, alerts, messages with photos, audit entries with a
checkpoint and log reviews restores into a new, empty database (on PostgreSQL a new
database, on SQLite a new file) and data dir; `hemma audit verify` then passes and every
table has the rows it had. A non-empty target, a damaged archive and a schema newer than the
code are refused before anything changes."""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from hemma import backup as backups
from hemma.access import audit
from hemma.access.service import subject_for
from hemma.cli import main as cli
from hemma.config import Settings, configure
from hemma.kit.time import utcnow
from hemma.messaging import service as messaging
from hemma.messaging.schemas import MessageCreate
from hemma.models import AuditEntry, Staff
from tests.conftest import BACKEND, TEST_SECRET


def _hemma(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """The `hemma` command with the environment given (and nothing of the test's settings)."""
    configure(None)
    try:
        result = CliRunner().invoke(cli, args, env={"HEMMA_SECRET_KEY": TEST_SECRET, **env})
    finally:
        configure(None)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def _env(db_url: str, data_dir: Path) -> dict[str, str]:
    return {"HEMMA_DATABASE_URL": db_url, "HEMMA_DATA_DIR": str(data_dir)}


def _photo() -> io.BytesIO:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 40, 40)).save(out, "JPEG")
    out.seek(0)
    return out


def _installation(world, database, as_user, settings) -> uuid.UUID:
    """Values (one raising an alert), messages with photos, page views in the log, a
    checkpoint, and log reviews after it."""
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    sara = as_user("sara")
    for i, pulse in enumerate((72, 135, 80)):
        r = sara.post(f"/api/v1/patients/{pid}/observations", json={
            "client_id": f"backup-{i}", "measured_at": utcnow().isoformat(), "pulse": pulse,
            "respiration_rate": 18, "spo2": 96, "temperature": 37.2, "systolic_bp": 120,
            "consciousness": "A", "on_oxygen": False})
        assert r.status_code in (200, 201), r.text
    sara.get(f"/patients/{pid}")
    with database.session() as s:
        me = subject_for(s, s.get(Staff, world.staff["sara"]))
        messaging.send(s, me, pid, MessageCreate(body="Hur känns det i dag?"), photo=_photo())
        messaging.send(s, me, pid, MessageCreate(body="Till teamet", to="staff"), photo=_photo())
    with database.session() as s:
        audit.write_checkpoint(s, settings.resolved_checkpoint_file())
        entries = s.scalars(text("SELECT id FROM audit_entries WHERE username = 'sara' "
                                 "ORDER BY id LIMIT 2")).all()
    rita = as_user("rita")
    r = rita.post("/api/v1/audit/reviews", json={"entry_ids": list(entries),
                                                 "outcome": "justified"})
    assert r.status_code == 201, r.text
    return pid


def _counts(url: str) -> dict[str, int]:
    if url.startswith("sqlite") and not Path(make_url(url).database).exists():
        return {}
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return backups._count_rows(conn, backups._tables(conn))
    finally:
        engine.dispose()


@pytest.fixture
def empty_db(templates, tmp_path):
    """A new database with nothing in it, not even a schema: what an IT department makes."""
    if BACKEND == "postgres":
        name = f"{templates.prefix}_restore_{uuid.uuid4().hex[:8]}"
        with templates.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = templates._pg_url(name)
        yield url
        templates.drop(url)
    else:
        yield f"sqlite:///{tmp_path / 'restored' / 'hemma.sqlite3'}"


def test_a_backup_restores_into_an_empty_database_and_the_audit_log_verifies(
        settings, world, database, as_user, empty_db, tmp_path):
    pid = _installation(world, database, as_user, settings)
    before = _counts(settings.database_url)
    assert before["observations"] == 3 and before["alerts"] >= 1
    assert before["messages"] == 2 and before["audit_reviews"] == 2
    archive = tmp_path / "backups" / "nightly.tar"
    code, out = _hemma(["backup", "--out", str(archive)], _env(settings.database_url,
                                                                settings.data_dir))
    assert code == 0, out
    assert "2 photos" in out and archive.stat().st_mode & 0o777 == 0o600

    # What the archive says about itself.
    manifest, _parts = backups.read_archive(archive)
    assert manifest["tables"] == before
    assert manifest["database"]["alembic_revision"]
    assert manifest["secret_key_fingerprint"] == backups.key_fingerprint(TEST_SECRET)
    assert TEST_SECRET not in archive.read_bytes().decode("latin-1")
    assert sorted(manifest["parts"]) == sorted(
        [backups.PARTS[manifest["database"]["backend"]], "audit-checkpoints.jsonl"]
        + [f"uploads/{p.name}" for p in (settings.data_dir / "uploads").iterdir()])

    # The app goes on after the backup: none of it is in the backup.
    as_user("sara").get(f"/patients/{pid}")

    data_dir = tmp_path / "restored"
    code, out = _hemma(["restore", str(archive)], _env(empty_db, data_dir))
    assert code == 0, out
    assert f"{sum(before.values())} rows" in out and "2 photos" in out
    assert "hemma db upgrade" not in out  # the same schema as the code's
    assert _counts(empty_db) == before
    restored = sorted(p.name for p in (data_dir / "uploads").iterdir())
    assert restored == sorted(p.name for p in (settings.data_dir / "uploads").iterdir())
    for name in restored:
        assert (data_dir / "uploads" / name).read_bytes() == \
            (settings.data_dir / "uploads" / name).read_bytes()

    code, out = _hemma(["audit", "verify"], _env(empty_db, data_dir))
    assert code == 0, out
    assert "audit log intact" in out
    assert f"{before['audit_entries']} entries and 2 reviews" in out
    # The installation's checkpoint, and the backup's own at its end: the whole restored
    # log was held to it.
    assert "against 2 checkpoint(s)" in out


def test_a_backup_made_while_the_app_writes_holds_one_moment(settings, world, database,
                                                           as_user, tmp_path, monkeypatch):
    """The counts, the dump and the checkpoint are of one snapshot: the manifest's counts
    are the restored ones even though the log grew while the backup was made."""
    _installation(world, database, as_user, settings)
    sara = as_user("sara")
    real = backups._revision

    def write_meanwhile(conn, tables):
        sara.get("/home-ward")  # commits new audit entries after the snapshot was taken
        return real(conn, tables)

    monkeypatch.setattr(backups, "_revision", write_meanwhile)
    archive = tmp_path / "b.tar"
    manifest = backups.backup(settings, archive)
    monkeypatch.undo()
    now = _counts(settings.database_url)
    assert now["audit_entries"] > manifest["tables"]["audit_entries"]
    ends = manifest["audit_end"]["chains"].values()
    assert sum(seq for seq, _hash in ends) == \
        manifest["tables"]["audit_entries"] + manifest["tables"]["audit_reviews"]


def _tamper(archive: Path, out: Path, change) -> Path:
    """A copy of the archive with `change(name, data) -> data` applied to each member."""
    with tarfile.open(archive) as src, tarfile.open(out, "w") as dst:
        for member in src:
            data = change(member.name, src.extractfile(member).read())
            member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
    return out


def _manifest_edit(edit):
    def change(name, data):
        if name != "manifest.json":
            return data
        manifest = json.loads(data)
        edit(manifest)
        return json.dumps(manifest).encode()
    return change


def test_restore_refuses_before_touching_anything(settings, world, database, as_user,
                                                   empty_db, tmp_path):
    _installation(world, database, as_user, settings)
    archive = tmp_path / "b.tar"
    env = _env(settings.database_url, settings.data_dir)
    assert _hemma(["backup", "--out", str(archive)], env)[0] == 0
    target = _env(empty_db, tmp_path / "restored")

    def refused(path: Path, *expect: str, extra=()) -> None:
        code, out = _hemma(["restore", str(path), *extra], target)
        assert code == 1, out
        for words in expect:
            assert words in out, out
        # Nothing was written: the target is as empty as before.
        assert _counts(empty_db) == {}
        assert not (tmp_path / "restored" / "uploads").exists()

    # A photo changed on the way: its checksum no longer matches.
    def flip(name, data):
        return data[:-1] + bytes([data[-1] ^ 1]) if name.startswith("uploads/") else data
    refused(_tamper(archive, tmp_path / "photo.tar", flip), "is damaged")
    # The database part changed.
    db_part = backups.PARTS["postgresql" if BACKEND == "postgres" else "sqlite"]
    refused(_tamper(archive, tmp_path / "db.tar",
                    lambda n, d: d + b"\0" if n == db_part else d), db_part, "is damaged")
    # A manifest edited without its checksum: the row counts, say.
    refused(_tamper(archive, tmp_path / "manifest.tar",
                    _manifest_edit(lambda m: m["tables"].update(patients=99))),
            "manifest.json is damaged")
    # Cut short: the manifest, written last, is missing.
    whole = archive.read_bytes()
    (tmp_path / "short.tar").write_bytes(whole[:len(whole) // 2])
    refused(tmp_path / "short.tar", "restore")

    # A schema newer than this code knows (the manifest's checksum made right again).
    def newer(m):
        m["database"]["alembic_revision"] = "from_the_future_1"
        m["manifest_sha256"] = backups._sha256(backups._canonical(m))
    refused(_tamper(archive, tmp_path / "newer.tar", _manifest_edit(newer)),
            "newer than this Hemma's")

    # Another installation's secret key.
    configure(None)
    code, out = _hemma(["restore", str(archive)], {**target, "HEMMA_SECRET_KEY": "x" * 40})
    assert code == 1 and "secret key is not the one" in out
    assert _counts(empty_db) == {}


def test_restore_refuses_a_database_that_is_not_empty_unless_forced(
        settings, world, database, as_user, templates, tmp_path):
    _installation(world, database, as_user, settings)
    archive = tmp_path / "b.tar"
    env = _env(settings.database_url, settings.data_dir)
    assert _hemma(["backup", "--out", str(archive)], env)[0] == 0
    before = _counts(settings.database_url)
    # A migrated database (as `hemma db upgrade` leaves it) is not empty: it has tables and
    # the builtin rows; the backup brings its own schema.
    other = templates.new()
    try:
        data_dir = tmp_path / "other"
        code, out = _hemma(["restore", str(archive)], _env(other, data_dir))
        assert code == 1 and ("not empty" in out or "already holds" in out), out
        assert _counts(other)["observations"] == 0
        code, out = _hemma(["restore", "--force", str(archive)], _env(other, data_dir))
        assert code == 0, out
        assert _counts(other) == before
        if BACKEND != "postgres":
            assert "moved aside" in out
            aside = Path(out.split("moved aside: ")[1].split()[0])
            assert aside.exists()
        else:
            assert "dropped" in out
        # The installation's own checkpoint file is never overwritten.
        live = data_dir / "audit-checkpoints.jsonl"
        assert live.exists()
        code, out = _hemma(["audit", "verify"], _env(other, data_dir))
        assert code == 0, out
        # The photos of an installation are not written over either.
        code, out = _hemma(["restore", "--force", str(archive)], _env(other, data_dir))
        assert code == 0, out
        assert "uploads.before-restore-" in out and "is kept as it is" not in out
    finally:
        templates.drop(other)


def test_restoring_an_older_schema_says_to_upgrade(settings, world, database, as_user,
                                                   empty_db, tmp_path, monkeypatch):
    _installation(world, database, as_user, settings)
    archive = tmp_path / "b.tar"
    assert _hemma(["backup", "--out", str(archive)],
                  _env(settings.database_url, settings.data_dir))[0] == 0
    manifest, _ = backups.read_archive(archive)
    # As if this code were one migration ahead of the backup's schema.
    monkeypatch.setattr(backups, "_schema_position", lambda revision: (True, "newer_head"))
    code, out = _hemma(["restore", str(archive)], _env(empty_db, tmp_path / "restored"))
    assert code == 0, out
    assert "run `hemma db upgrade`" in out
    assert manifest["database"]["alembic_revision"] in out


def test_the_password_reaches_pg_dump_through_its_environment_not_its_arguments():
    env = backups._pg_env("postgresql+psycopg://hemma:s3cret@db.example.se:5433/hemma"
                          "?sslmode=verify-full")
    assert (env["PGPASSWORD"], env["PGUSER"], env["PGHOST"], env["PGPORT"],
            env["PGDATABASE"], env["PGSSLMODE"]) == (
        "s3cret", "hemma", "db.example.se", "5433", "hemma", "verify-full")


def test_a_pg_dump_of_another_major_version_is_named_with_what_to_install(tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    tool = fake / "pg_dump"
    tool.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\n")
    tool.chmod(0o755)
    with pytest.raises(backups.BackupError) as refused:
        backups._tool(Settings(pg_bin_dir=fake), "pg_dump", 99)
    assert "PostgreSQL 99" in str(refused.value)
    assert "postgresql-client-99" in str(refused.value) and "9.6.24" in str(refused.value)


def test_audit_entries_are_in_the_backup_up_to_its_checkpoint(settings, world, database,
                                                              as_user, tmp_path):
    _installation(world, database, as_user, settings)
    archive = tmp_path / "b.tar"
    manifest = backups.backup(settings, archive)
    with tarfile.open(archive) as tar:
        lines = tar.extractfile("audit-checkpoints.jsonl").read().decode().splitlines()
    assert len(lines) == 2  # the installation's, and the backup's at its end
    assert json.loads(lines[-1])["chains"] == manifest["audit_end"]["chains"]
    with database.session() as s:
        assert s.query(AuditEntry).count() >= manifest["tables"]["audit_entries"]
