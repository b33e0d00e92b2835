"""Retention of messages and their photos (hemma.jobs.retention decides whose record may
go). A patient's messages older than the cutoff go, each with its photo; a thread goes with
its last message. The photo files are removed only after the transaction that deleted their
rows commits (a file without a row is harmless and swept later, a row without its file would
not be), by `remove_files`; `sweep_orphans` removes files no message refers to, left by a
process that died between a commit and the removal or before a message it wrote for
committed."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, func, select
from sqlalchemy.orm import Session

from hemma.db import any_of
from hemma.messaging import photos
from hemma.models import Message, MessageThread
from hemma.monitoring.retention import Purged


def _expired(db: Session, patient_ids: list[uuid.UUID], cutoff: datetime):
    return [any_of(db, Message.patient_id, patient_ids), Message.created_at < cutoff]


def count(db: Session, patient_ids: list[uuid.UUID], cutoff: datetime) -> Purged:
    rows = db.execute(select(Message.patient_id, func.count(), func.count(Message.photo_key))
                      .where(*_expired(db, patient_ids, cutoff))
                      .group_by(Message.patient_id)).all()
    return Purged(rows=sum(n for _p, n, _k in rows), patients={p for p, _n, _k in rows},
                  photos=sum(k for _p, _n, k in rows))


def purge(db: Session, patient_ids: list[uuid.UUID], cutoff: datetime, limit: int) -> Purged:
    """Delete at most `limit` expired messages of these patients, and the threads left
    empty, in the caller's transaction; the photo keys to remove after commit."""
    chosen = db.execute(select(Message.id, Message.patient_id, Message.photo_key).where(
        *_expired(db, patient_ids, cutoff)).limit(limit)).all()
    if not chosen:
        return Purged()
    deleted = db.execute(delete(Message).where(any_of(db, Message.id, [m for m, _p, _k in chosen]))
                         .execution_options(synchronize_session=False)).rowcount
    db.execute(delete(MessageThread).where(
        any_of(db, MessageThread.patient_id, patient_ids),
        ~exists().where(Message.thread_id == MessageThread.id))
        .execution_options(synchronize_session=False))
    keys = [k for _m, _p, k in chosen if k]
    return Purged(rows=deleted, patients={p for _m, p, _k in chosen}, photos=len(keys),
                  files=keys)


def remove_files(keys: list[str]) -> int:
    removed = 0
    for key in keys:
        try:
            photos.path_of(key).unlink()
            removed += 1
        except (FileNotFoundError, ValueError):
            pass
    return removed


def sweep_orphans(db: Session, older_than: timedelta = timedelta(days=1)) -> int:
    """Remove photo files (and unfinished writes) that no message refers to and that are
    older than `older_than`: a request still writing its message is never that old."""
    folder = photos.uploads_dir()
    limit = time.time() - older_than.total_seconds()
    old = [p for p in folder.iterdir() if p.is_file() and p.stat().st_mtime < limit]
    removed = 0
    for start in range(0, len(old), 500):
        chunk = old[start:start + 500]
        keys = [p.name for p in chunk if not p.name.startswith(".")]
        known = set(db.scalars(select(Message.photo_key).where(
            any_of(db, Message.photo_key, keys)))) if keys else set()
        for path in chunk:
            if path.name not in known:
                path.unlink(missing_ok=True)
                removed += 1
    return removed
