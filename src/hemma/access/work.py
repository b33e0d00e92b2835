"""Short units of work an action opens for itself, when it must not hold a transaction open
while it thinks.

Nearly every action runs in its request's transaction (`web.deps.get_db`). The visit planner
cannot: its search takes seconds (plus the routing service's answer), and a transaction
open that long holds the unit's row lock — on SQLite the whole database's write lock. Such an
action takes a `Work` instead of a session: it reads in one short unit of work, thinks with
none open, and writes in another. Each unit is a unit of work like a request's: its audit
entries are written right before it commits, as the same user (`actor`), and an access
refused inside it is logged even though the unit rolls back. Services still never commit:
`Work` does, around the service's code."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from hemma.access import audit
from hemma.db import Database


@dataclass
class Work:
    database: Database
    actor: audit.Actor
    # Accesses already made by the request before the action began (the route's access check):
    # logged with the first unit of work, so that its specific entry (episode.admit) replaces
    # the route's generic one, one entry per patient, as within one request.
    carried: list = field(default_factory=list)
    # Ends whatever transaction the request's own session has open (on SQLite it would hold
    # the write lock this unit waits for): called before each unit begins.
    release: Callable[[], None] | None = None

    @contextmanager
    def __call__(self) -> Iterator[Session]:
        """One unit of work: commit with its audit entries, or roll back (keeping the record
        of refused accesses, and of the accesses carried in)."""
        if self.release is not None:
            self.release()
        session = self.database.sessionmaker()
        trail = audit.trail(session)
        trail.actor = self.actor
        carried, self.carried = self.carried, []
        for p in carried:
            trail.record(p.patient_id, p.action, basis=p.basis, emergency=p.emergency,
                         outcome=p.outcome, generic=p.generic,
                         detail="; ".join(p.details) or None)
        try:
            yield session
            session.commit()  # with its audit entries
        except BaseException:
            session.rollback()
            kept = carried + trail.denied_only().entries
            if kept:
                with self() as own:
                    audit.trail(own).entries = kept
            raise
        finally:
            session.close()
