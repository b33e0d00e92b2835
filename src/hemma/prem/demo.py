"""The demo's answers about the stay (PREM): the patient discharged yesterday filled in the
paper questionnaire, and the home ward's nurse typed it in through the named action (so the
discharge summary's page shows it); most of the earlier discharged patients answered on
their phone or on paper then (written as they were, for the follow-up figures), and two did
not answer at all, as some never do."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from hemma.access.service import subject_for
from hemma.db import Database
from hemma.kit.time import local_date
from hemma.models import Episode, EpisodeState, Patient, PremResponse, Staff
from hemma.prem import questionnaire, service
from hemma.prem.schemas import PremPaper

# family name: (channel, answers, comment). Those not named did not answer.
ANSWERS = {
    "Hällström": ("phone", {"safe": 5, "who_to_call": 5, "listened": 4, "informed": 4,
                            "again": 5}, "Tryggt att veta att ni fanns där dygnet runt."),
    "Nordin": ("paper", {"safe": 4, "who_to_call": 3, "listened": 4, "informed": 3},
               "Lite rörigt med telefonnumren första dagen."),
    "Vikström": ("phone", {"safe": 5, "who_to_call": 4, "listened": 5, "informed": 5,
                           "again": 5}, None),
    "Olofsson": ("phone", {"safe": 3, "who_to_call": 5, "listened": 4, "informed": 2,
                           "again": 4}, "Jag hade velat veta mer om mina mediciner."),
}
RECENT = ({"safe": 5, "who_to_call": 5, "listened": 5, "informed": 4, "again": 5},
          "Skönt att slippa ligga på sjukhus. Personalen var underbar.")


def demo_prem(database: Database, recently_discharged: str) -> None:
    with database.session() as s:
        nurse = s.scalar(select(Staff).where(Staff.username == "sara.nilsson"))
        rows = s.execute(select(Episode, Patient).join(Patient, Patient.id == Episode.patient_id)
                         .where(Episode.state == EpisodeState.DISCHARGED)
                         .order_by(Episode.ended_at)).all()
        for episode, patient in rows:
            if not service.asks_about(episode) or service.response_of(s, episode.id):
                continue
            if patient.family_name == recently_discharged:
                answers, comment = RECENT
                service.enter_paper(s, subject_for(s, nurse), patient.id, episode.id, PremPaper(
                    answers=answers, comment=comment, answered_on=local_date(episode.ended_at)))
                continue
            if patient.family_name not in ANSWERS:
                continue
            channel, answers, comment = ANSWERS[patient.family_name]
            # Long after these stays, their care relationships have ended: written as they
            # were answered then, not through today's access check.
            s.add(PremResponse(
                episode_id=episode.id, patient_id=patient.id,
                unit_id=episode.responsible_unit_id, questionnaire=questionnaire.VERSION,
                answers=answers, comment=comment, channel=channel,
                answered_at=episode.ended_at + timedelta(hours=5 if channel == "phone" else 30),
                entered_by_id=nurse.id if channel == "paper" else None))
