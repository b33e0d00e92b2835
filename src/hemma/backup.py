"""`hemma backup` and `hemma restore`: one file that holds what an installation needs back.

A backup is a tar archive (mode 0600) of
- the database: PostgreSQL's custom-format dump (`pg_dump` of the server's own major version,
  from one exported snapshot, `--no-owner`), or SQLite's online backup API's copy (consistent
  while the app runs);
- the photos of messages the database refers to (`uploads/<key>`; `<data dir>/uploads`);
- the audit checkpoint file as it was just before the snapshot, plus one checkpoint written at
  the snapshot's own end: every line names rows the backup holds, and the last one its end;
- `manifest.json`, last: the format's version, the time, the schema's Alembic revision, the
  row count of every table in the snapshot, a fingerprint of the secret key (never the key:
  keep it apart from the backups), and the size and SHA-256 of every other member; and the
  SHA-256 of the manifest itself.

`restore` reads and checks the whole archive (every part against the manifest, the schema
revision against the code, the target's secret key) before it touches anything; it restores
into an empty database only (`--force` moves a SQLite file and the photos aside, and on
PostgreSQL drops what the role owns in the target database, saying so); never over an
existing checkpoint file; and checks the restored row counts against the manifest.

The password of a PostgreSQL server reaches pg_dump and pg_restore through PGPASSWORD in
their environment, never on a command line (`ps` shows those to every user)."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from hemma.access import audit
from hemma.config import Settings
from hemma.kit.time import utcnow
from hemma.migrations.runner import alembic_config

FORMAT = "hemma-backup"
VERSION = 1
MANIFEST = "manifest.json"
CHECKPOINTS = "audit-checkpoints.jsonl"
UPLOADS = "uploads/"
PARTS = {"postgresql": "database.pgdump", "sqlite": "database.sqlite3"}
_KEY = re.compile(r"^[0-9a-f]{1,64}$")  # a photo's stored name (messaging.photos)


class BackupError(Exception):
    """What went wrong, said so that an operator knows what to do."""


@dataclass
class Restored:
    manifest: dict
    rows: int
    photos: int
    checkpoints: Path
    upgrade_needed: bool
    moved_aside: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# --- What both directions need ----------------------------------------------------------


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_sha256(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _canonical(manifest: dict) -> bytes:
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def key_fingerprint(secret: str) -> str:
    """Says whether two installations share a secret key without revealing it."""
    return hmac.new(secret.encode(), b"hemma backup key fingerprint v1",
                    hashlib.sha256).hexdigest()[:16]


def _backend(url: str) -> str:
    name = make_url(url).get_backend_name()
    if name not in PARTS:
        raise BackupError(f"backups are made of PostgreSQL and SQLite databases, not {name}")
    return name


def _hemma_version() -> str:
    try:
        return version("hemma")
    except PackageNotFoundError:  # pragma: no cover - run from a checkout without install
        return "unknown"


def _count_rows(conn: Connection, tables: list[str]) -> dict[str, int]:
    quote = conn.dialect.identifier_preparer.quote
    return {t: conn.execute(text(f"SELECT count(*) FROM {quote(t)}")).scalar_one()
            for t in sorted(tables)}


def _tables(conn: Connection) -> list[str]:
    if conn.dialect.name == "postgresql":
        return list(conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")).scalars())
    return list(conn.execute(text(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"))
        .scalars())


def _revision(conn: Connection, tables: list[str]) -> str | None:
    if "alembic_version" not in tables:
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _photo_keys(conn: Connection, tables: list[str]) -> list[str]:
    if "messages" not in tables:
        return []
    return sorted(conn.execute(text(
        "SELECT photo_key FROM messages WHERE photo_key IS NOT NULL")).scalars())


# --- PostgreSQL's tools -----------------------------------------------------------------


def _pg_env(url: str) -> dict[str, str]:
    """libpq's environment for the URL's server: the password never goes on a command line."""
    u = make_url(url)
    env = dict(os.environ)
    for var, value in (("PGHOST", u.host), ("PGPORT", u.port), ("PGUSER", u.username),
                       ("PGPASSWORD", u.password), ("PGDATABASE", u.database)):
        if value is not None:
            env[var] = str(value)
    for param, var in (("host", "PGHOST"), ("port", "PGPORT"), ("sslmode", "PGSSLMODE"),
                       ("sslrootcert", "PGSSLROOTCERT"), ("sslcert", "PGSSLCERT"),
                       ("sslkey", "PGSSLKEY"), ("connect_timeout", "PGCONNECT_TIMEOUT")):
        value = u.query.get(param)
        if value is not None:
            env[var] = value if isinstance(value, str) else value[0]
    return env


def _major(text_: str) -> int | None:
    found = re.search(r"\(PostgreSQL\) (\d+)", text_) or re.match(r"(\d+)", text_)
    return int(found.group(1)) if found else None


def _tool(settings: Settings, name: str, server_major: int) -> tuple[Path, str]:
    """The server's own major version of pg_dump or pg_restore, and its version text."""
    candidates: list[Path] = []
    if settings.pg_bin_dir is not None:
        candidates.append(settings.pg_bin_dir / name)
    candidates.append(Path(f"/usr/lib/postgresql/{server_major}/bin/{name}"))
    found = shutil.which(name)
    if found:
        candidates.append(Path(found))
    seen = []
    for path in candidates:
        if not path.exists():
            continue
        try:
            said = subprocess.run([str(path), "--version"], capture_output=True, text=True,
                                  timeout=30, check=True).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            continue
        if _major(said) == server_major:
            return path, said
        seen.append(f"{path} ({said})")
    raise BackupError(
        f"{name} of PostgreSQL {server_major} is needed: the server is PostgreSQL "
        f"{server_major}, and {name} must be of the same major version"
        + (f"; found only {', '.join(seen)}" if seen else f"; no {name} was found")
        + f". Install it (Debian: apt-get install postgresql-client-{server_major}) or set "
          "HEMMA_PG_BIN_DIR to the directory that holds it.")


def _run(args: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"{what} failed (exit {done.returncode}): "
                          f"{(done.stderr or done.stdout).strip()[-2000:]}")


# --- Backup -------------------------------------------------------------------------------


def backup(settings: Settings, out: Path, now: datetime | None = None) -> dict:
    """Write the backup archive to `out` (made at `out`.part and renamed when complete);
    returns its manifest."""
    url = settings.resolved_database_url()
    backend = _backend(url)
    now = now or utcnow()
    out = out.resolve()
    if out.exists():
        raise BackupError(f"{out} exists: a backup never overwrites a file")
    out.parent.mkdir(parents=True, exist_ok=True)
    live_checkpoints = settings.resolved_checkpoint_file()
    with tempfile.TemporaryDirectory(prefix=".hemma-backup-", dir=out.parent) as tmp:
        work = Path(tmp)
        # The checkpoints first: each line then names rows committed before the snapshot.
        checkpoints = work / CHECKPOINTS
        if live_checkpoints.exists():
            shutil.copyfile(live_checkpoints, checkpoints)
        else:
            checkpoints.touch()
        database = work / PARTS[backend]
        if backend == "sqlite":
            facts = _sqlite_snapshot(url, database, checkpoints, now)
        else:
            facts = _pg_snapshot(settings, url, database, checkpoints, now)
        manifest = {
            "format": FORMAT, "version": VERSION,
            "created_at": now.isoformat(), "hemma_version": _hemma_version(),
            "database": {"backend": backend, "part": PARTS[backend], **facts["database"]},
            "tables": facts["tables"],
            "audit_end": facts["audit_end"],
            "secret_key_fingerprint": key_fingerprint(settings.resolved_secret_key()),
            "parts": {},
        }
        fd = os.open(f"{out}.part", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        missing = []
        try:
            with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w",
                                                         format=tarfile.PAX_FORMAT) as tar:
                for path in (database, checkpoints):
                    digest, size = _file_sha256(path)
                    manifest["parts"][path.name] = {"sha256": digest, "bytes": size}
                    tar.add(path, arcname=path.name, recursive=False, filter=_plain)
                # The photos the snapshot refers to (written before their messages commit,
                # so each is on disk), each read once: hashed and added from memory.
                uploads = settings.data_dir / "uploads"
                for key in facts["photos"]:
                    try:
                        data = (uploads / key).read_bytes() if _KEY.match(key) else None
                    except FileNotFoundError:
                        data = None
                    if data is None:
                        missing.append(key)
                        continue
                    name = UPLOADS + key
                    manifest["parts"][name] = {"sha256": _sha256(data), "bytes": len(data)}
                    tar.addfile(_member(name, len(data), now), io.BytesIO(data))
                manifest["missing_photos"] = missing
                manifest["manifest_sha256"] = _sha256(_canonical(manifest))
                body = json.dumps(manifest, indent=2, ensure_ascii=False).encode()
                tar.addfile(_member(MANIFEST, len(body), now), io.BytesIO(body))
                raw.flush()
                os.fsync(raw.fileno())
        except BaseException:
            Path(f"{out}.part").unlink(missing_ok=True)
            raise
        os.replace(f"{out}.part", out)
    return manifest


def _plain(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o600
    return info


def _member(name: str, size: int, now: datetime) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o600, int(now.timestamp())
    return info


def _snapshot_facts(conn: Connection, checkpoints: Path, now: datetime) -> dict:
    """Tables, row counts, revision, photos and the audit chains' end, all as of the snapshot
    `conn` reads; and a checkpoint of that end appended to the backup's checkpoint copy."""
    tables = _tables(conn)
    revision = _revision(conn, tables)
    if revision is None:
        raise BackupError("the database has no schema revision (alembic_version): is it "
                          "Hemma's? Run `hemma db upgrade` on a new installation first")
    end = None
    if "audit_head" in tables:
        session = Session(bind=conn)
        try:
            end = audit.write_checkpoint(session, checkpoints, now).body()
        finally:
            session.close()
    return {"tables": _count_rows(conn, tables), "photos": _photo_keys(conn, tables),
            "audit_end": end, "database": {"alembic_revision": revision}}


def _sqlite_snapshot(url: str, out: Path, checkpoints: Path, now: datetime) -> dict:
    source_path = make_url(url).database
    if not source_path or not Path(source_path).exists():
        raise BackupError(f"there is no database at {source_path}")
    source = sqlite3.connect(source_path, timeout=30)
    target = sqlite3.connect(out)
    try:
        # One step: the whole copy under one read transaction, while others go on writing.
        source.backup(target)
        # A file of its own, without a write-ahead log beside it (the app turns WAL on again).
        target.execute("PRAGMA journal_mode=DELETE")
    finally:
        target.close()
        source.close()
    engine = create_engine(f"sqlite:///{out}", poolclass=NullPool)
    try:
        with engine.connect() as conn:
            facts = _snapshot_facts(conn, checkpoints, now)
            facts["database"]["sqlite_version"] = sqlite3.sqlite_version
            return facts
    finally:
        engine.dispose()


def _pg_snapshot(settings: Settings, url: str, out: Path, checkpoints: Path,
                 now: datetime) -> dict:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
            with conn.begin():
                conn.execute(text("SET TRANSACTION READ ONLY"))
                server = conn.execute(text("SHOW server_version")).scalar_one()
                major = _major(server)
                tool, said = _tool(settings, "pg_dump", major)
                # pg_dump reads this same snapshot: the dump, the counts and the checkpoint
                # are of one moment, whatever the app writes meanwhile.
                snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
                facts = _snapshot_facts(conn, checkpoints, now)
                _run([str(tool), "--format=custom", "--no-owner", "--no-password",
                      f"--snapshot={snapshot}", f"--file={out}"], _pg_env(url), "pg_dump")
        facts["database"].update(server_version=server, pg_dump=said)
        return facts
    finally:
        engine.dispose()


# --- Restore ------------------------------------------------------------------------------


def read_archive(path: Path) -> tuple[dict, dict[str, tuple[str, int]]]:
    """The manifest and the SHA-256 and size of every other member, read through once;
    BackupError for anything that is not a whole, undamaged backup."""
    if not path.is_file():
        raise BackupError(f"no backup at {path}")
    found: dict[str, tuple[str, int]] = {}
    manifest_bytes = None
    try:
        with tarfile.open(path, mode="r:") as tar:
            for member in tar:
                name = member.name
                if not member.isfile() or name.startswith("/") or ".." in name.split("/"):
                    raise BackupError(f"the archive holds {name!r}, which no backup holds")
                if name in found or (name == MANIFEST and manifest_bytes is not None):
                    raise BackupError(f"the archive holds {name!r} twice")
                f = tar.extractfile(member)
                if name == MANIFEST:
                    manifest_bytes = f.read()
                    continue
                digest, size = hashlib.sha256(), 0
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
                    size += len(chunk)
                found[name] = (digest.hexdigest(), size)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BackupError(f"{path} is not a readable backup archive: {exc}") from None
    if manifest_bytes is None:
        raise BackupError(f"{path} has no {MANIFEST}: not a Hemma backup, or cut short")
    try:
        manifest = json.loads(manifest_bytes)
    except ValueError:
        raise BackupError(f"the backup's {MANIFEST} is damaged (not JSON)") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{path} is not a Hemma backup")
    if not isinstance(manifest.get("version"), int) or manifest["version"] > VERSION:
        raise BackupError(f"the backup's format version {manifest.get('version')} is newer "
                          f"than this Hemma reads ({VERSION}): restore it with the Hemma "
                          "that made it, or a newer one")
    if manifest.get("manifest_sha256") != _sha256(_canonical(manifest)):
        raise BackupError(f"the backup's {MANIFEST} is damaged: its checksum does not match")
    parts = manifest.get("parts") or {}
    for name, expected in sorted(parts.items()):
        if name not in found:
            raise BackupError(f"the backup lacks {name}, which its manifest lists")
        digest, size = found[name]
        if (digest, size) != (expected.get("sha256"), expected.get("bytes")):
            raise BackupError(f"{name} in the backup is damaged: its SHA-256 or size does not "
                              "match the manifest")
    extra = sorted(set(found) - set(parts))
    if extra:
        raise BackupError(f"the backup holds {extra[0]}, which its manifest does not list")
    return manifest, found


def _schema_position(revision: str) -> tuple[bool, str]:
    """(known, head): whether this code knows the revision, and its newest."""
    script = ScriptDirectory.from_config(alembic_config())
    head = script.get_current_head()
    try:
        known = script.get_revision(revision) is not None
    except Exception:  # alembic's errors for an unknown or malformed revision
        known = False
    return known, head


def restore(settings: Settings, path: Path, *, force: bool = False,
            new_secret: bool = False) -> Restored:
    """Restore the backup at `path` into the configured database, data dir and checkpoint
    file. Everything is checked first; BackupError says why nothing was done."""
    path = path.resolve()
    manifest, _found = read_archive(path)
    url = settings.resolved_database_url()
    backend = _backend(url)
    if manifest["database"]["backend"] != backend:
        raise BackupError(f"this is a backup of a {manifest['database']['backend']} database, "
                          f"and HEMMA_DATABASE_URL points at {backend}: restore it into the "
                          "same kind of database")
    revision = manifest["database"]["alembic_revision"]
    known, head = _schema_position(revision)
    if not known:
        raise BackupError(f"the backup's schema (revision {revision}) is newer than this "
                          f"Hemma's (revision {head}): restore it with the Hemma version that "
                          f"made it ({manifest.get('hemma_version')}) or a newer one")
    _check_secret(settings, manifest, new_secret)
    notes: list[str] = []
    moved: list[str] = []
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    uploads = settings.data_dir / "uploads"
    photo_parts = sorted(n for n in manifest["parts"] if n.startswith(UPLOADS))
    if uploads.exists() and any(uploads.iterdir()) and not force:
        raise BackupError(f"{uploads} is not empty: restore into an installation without "
                          "photos, or give --force to move them aside first")
    if backend == "sqlite":
        target = _sqlite_target(url)
        _sqlite_check_empty(target, force)
    else:
        tool, server_objects = _pg_prepare(settings, url, manifest, force)
    # Everything is checked: from here on, things change.
    if backend == "postgresql" and force and server_objects:
        _pg_drop_owned(url)
        notes.append("what the role owned in the database before was dropped (--force)")
    if uploads.exists() and any(uploads.iterdir()):
        aside = uploads.with_name(f"uploads.before-restore-{stamp}")
        uploads.rename(aside)
        moved.append(str(aside))
    if backend == "sqlite":
        moved += _sqlite_restore(path, manifest, target, stamp)
    else:
        _pg_restore(path, manifest, url, tool)
        notes.append("privileges (GRANT/REVOKE) are not restored: give the roles theirs "
                     "again as your installation does")
    photos = _restore_photos(path, photo_parts, uploads)
    checkpoints, note = _restore_checkpoints(path, settings.resolved_checkpoint_file(),
                                             manifest, stamp)
    if note:
        notes.append(note)
    rows = _check_counts(url, manifest)
    return Restored(manifest=manifest, rows=rows, photos=photos, checkpoints=checkpoints,
                    upgrade_needed=revision != head, moved_aside=moved, notes=notes)


def _check_secret(settings: Settings, manifest: dict, new_secret: bool) -> None:
    key_file = settings.data_dir / "secret_key"
    if settings.secret_key:
        secret = settings.secret_key
    elif key_file.exists():
        secret = key_file.read_text().strip()
    else:
        secret = None
    if secret is not None and key_fingerprint(secret) == manifest["secret_key_fingerprint"]:
        return
    if new_secret:
        return
    said = ("this installation has no secret key yet" if secret is None
            else "this installation's secret key is not the one the backup was made with")
    raise BackupError(
        f"{said}. The audit log's hash chains and checkpoints, and patients' login codes, are "
        "keyed by it: put the original key in place first (HEMMA_SECRET_KEY, or the file "
        f"{key_file}); the backup does not carry it. To restore without it, knowing that "
        "`hemma audit verify` will then fail, give --new-secret.")


def _sqlite_target(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("restore needs a database file (HEMMA_DATABASE_URL)")
    return Path(database).resolve()


def _sqlite_has_tables(path: Path) -> bool:
    if not path.exists() or path.stat().st_size == 0:
        return False
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                            ).fetchone()[0] > 0
    except sqlite3.DatabaseError:
        return True  # not a database we can read: nothing to write over either
    finally:
        conn.close()


def _sqlite_check_empty(target: Path, force: bool) -> None:
    if _sqlite_has_tables(target) and not force:
        raise BackupError(f"{target} already holds a database: restore into a new file (set "
                          "HEMMA_DATABASE_URL), or give --force to move it aside first")


def _sqlite_restore(path: Path, manifest: dict, target: Path, stamp: str) -> list[str]:
    moved = []
    if _sqlite_has_tables(target):  # only with --force (checked before)
        for suffix in ("", "-wal", "-shm"):
            existing = Path(f"{target}{suffix}")
            if existing.exists():
                aside = Path(f"{target}.before-restore-{stamp}{suffix}")
                existing.rename(aside)
                if suffix == "":
                    moved.append(str(aside))
    for suffix in ("-wal", "-shm"):  # an empty database's: never to be replayed onto ours
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(f"{target}.restoring")
    with tarfile.open(path, mode="r:") as tar:
        source = tar.extractfile(manifest["database"]["part"])
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            shutil.copyfileobj(source, f, 1 << 20)
            f.flush()
            os.fsync(f.fileno())
    conn = sqlite3.connect(partial)
    try:
        if conn.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            raise BackupError("the backup's SQLite database does not pass its own check")
    finally:
        conn.close()
    os.replace(partial, target)
    return moved


def _pg_server(conn: Connection) -> tuple[str, int]:
    server = conn.execute(text("SHOW server_version")).scalar_one()
    return server, _major(server)


def _pg_objects(conn: Connection) -> int:
    """Relations, functions and types outside the system schemas: what makes a database
    not empty."""
    return conn.execute(text("""
        SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
                  AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%')
             + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                WHERE n.nspname NOT IN ('pg_catalog', 'information_schema'))
    """)).scalar_one()


def _pg_prepare(settings: Settings, url: str, manifest: dict, force: bool) -> tuple[Path, int]:
    """pg_restore of the server's version, and how many objects the database holds."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            server, major = _pg_server(conn)
            objects = _pg_objects(conn)
    except BackupError:
        raise
    except Exception as exc:
        raise BackupError(f"cannot reach the target database: {exc}") from None
    finally:
        engine.dispose()
    dumped = _major(manifest["database"].get("pg_dump", "")) or 0
    if dumped > major:
        raise BackupError(f"the backup was made by pg_dump {dumped}, and the target server is "
                          f"PostgreSQL {server}: restore into PostgreSQL {dumped} or newer")
    tool, _said = _tool(settings, "pg_restore", major)
    if objects and not force:
        name = make_url(url).database
        raise BackupError(f"the database {name} is not empty ({objects} tables, indexes, "
                          "sequences or functions): restore into a new, empty database "
                          "(createdb), or give --force to drop what the role owns in it first")
    return tool, objects


def _pg_drop_owned(url: str) -> None:
    engine = create_engine(url, poolclass=NullPool)
    try:
        try:
            with engine.begin() as conn:
                conn.execute(text("DROP OWNED BY CURRENT_USER CASCADE"))
        except Exception as exc:
            raise BackupError(f"could not empty the database ({exc}): restore into a new, "
                              "empty database instead") from None
        with engine.connect() as conn:
            left = _pg_objects(conn)
    finally:
        engine.dispose()
    if left:
        raise BackupError(f"{left} objects owned by other roles are still in the database: "
                          "restore into a new, empty database instead")


def _pg_restore(path: Path, manifest: dict, url: str, tool: Path) -> None:
    with tempfile.TemporaryDirectory(prefix=".hemma-restore-") as tmp:
        dump = Path(tmp) / manifest["database"]["part"]
        with tarfile.open(path, mode="r:") as tar:
            source = tar.extractfile(manifest["database"]["part"])
            with dump.open("wb") as f:
                shutil.copyfileobj(source, f, 1 << 20)
        env = _pg_env(url)
        # One transaction: all of it, or nothing.
        _run([str(tool), "--no-owner", "--no-acl", "--exit-on-error", "--single-transaction",
              "--no-password", f"--dbname={env['PGDATABASE']}", str(dump)], env, "pg_restore")


def _restore_photos(path: Path, names: list[str], uploads: Path) -> int:
    if not names:
        return 0
    uploads.mkdir(parents=True, exist_ok=True, mode=0o700)
    wanted = set(names)
    count = 0
    with tarfile.open(path, mode="r:") as tar:
        for member in tar:
            if member.name not in wanted:
                continue
            key = member.name[len(UPLOADS):]
            if not _KEY.match(key):
                raise BackupError(f"{member.name}: not a photo's name")
            tmp = uploads / f".{key}.part"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                shutil.copyfileobj(tar.extractfile(member), f)
            tmp.replace(uploads / key)
            count += 1
    return count


def _restore_checkpoints(path: Path, live: Path, manifest: dict,
                         stamp: str) -> tuple[Path, str | None]:
    """The backup's checkpoints become the installation's file, unless one is there: that
    is evidence of its own and never overwritten; the backup's then go beside it."""
    with tarfile.open(path, mode="r:") as tar:
        data = tar.extractfile(CHECKPOINTS).read()
    note = None
    target = live
    if live.exists() and live.stat().st_size > 0:
        if live.read_bytes() == data:
            return live, None
        target = live.with_name(f"{live.stem}.from-backup-{stamp}{live.suffix}")
        note = (f"the checkpoint file {live} was there already and is kept as it is; the "
                f"backup's checkpoints are in {target}. If {live} records the log beyond "
                f"the backup's end (made {manifest['created_at']}), `hemma audit verify` says "
                f"so, and it is true: what was written after the backup is lost. "
                f"`hemma audit verify --checkpoints {target}` checks the restored log "
                "against the backup's own")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return target, note


def _check_counts(url: str, manifest: dict) -> int:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            counts = _count_rows(conn, _tables(conn))
    finally:
        engine.dispose()
    expected = manifest["tables"]
    wrong = [f"{t}: {counts.get(t)} rows, the backup had {n}" for t, n in expected.items()
             if counts.get(t) != n]
    wrong += [f"{t}: not in the backup" for t in counts if t not in expected]
    if wrong:
        raise BackupError("restored, but the tables do not match the backup: "
                          + "; ".join(wrong[:10]))
    return sum(counts.values())
