"""A demo patient discharged home this morning, for the browser tests of the questions about
the stay (the discharge itself is the episodes' tests' business: done here in the database)."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from hemma.access.auth import create_patient_code
from hemma.db import Database
from hemma.kit.time import utcnow
from hemma.models import Episode, Patient, Staff


def discharged_this_morning(database: Database, family: str = "Holmgren"
                            ) -> tuple[uuid.UUID, uuid.UUID, str]:
    """An admitted demo patient discharged now (treatment completed), with a login code for
    her phone made before: (patient id, episode id, code)."""
    with database.session() as s:
        patient = s.scalar(select(Patient).where(Patient.family_name == family))
        episode = s.scalar(select(Episode).where(Episode.patient_id == patient.id,
                                                 Episode.state == "admitted"))
        sara_id = s.scalar(select(Staff.id).where(Staff.username == "sara.nilsson"))
        code, _row = create_patient_code(s, patient.id, sara_id)
        episode.state, episode.ended_at, episode.end_reason = "discharged", utcnow(), "completed"
        episode.ended_by_id, episode.bed_number = sara_id, None
        return patient.id, episode.id, code
