"""All ORM tables, imported here so that Alembic and the app see one metadata."""

from hemma.models.access import Block, Consent, EmergencyAccess
from hemma.models.audit import AuditEntry, AuditHead, AuditReview
from hemma.models.auth import ApiToken, LoginAttempt, WebSession
from hemma.models.base import Base
from hemma.models.directory import (
    Organisation,
    OrganisationKind,
    Profession,
    Staff,
    Unit,
    UnitKind,
)
from hemma.models.episodes import (
    ACTIVE_STATES,
    CareRelation,
    Episode,
    EpisodeState,
    Pathway,
)
from hemma.models.jobs import Notification, OutboxMessage
from hemma.models.monitoring import (
    Alert,
    AlertEvent,
    DutyShift,
    MonitoringPlan,
    Observation,
    PatientAccessCode,
    RoundNote,
)
from hemma.models.patients import DigitalAbility, Patient, Relative
from hemma.models.planning import (
    REPORTED_STATES,
    CareKind,
    CareRequest,
    RequestStatus,
    StaffShift,
    Visit,
    VisitAssignment,
    VisitPlan,
    VisitStatus,
)

__all__ = [
    "CareKind",
    "CareRequest",
    "RequestStatus",
    "StaffShift",
    "Visit",
    "VisitAssignment",
    "VisitPlan",
    "VisitStatus",
    "REPORTED_STATES",
    "ACTIVE_STATES",
    "Alert",
    "AlertEvent",
    "DutyShift",
    "MonitoringPlan",
    "Notification",
    "Observation",
    "OutboxMessage",
    "PatientAccessCode",
    "RoundNote",
    "ApiToken",
    "AuditEntry",
    "AuditHead",
    "AuditReview",
    "Base",
    "Block",
    "CareRelation",
    "Consent",
    "DigitalAbility",
    "EmergencyAccess",
    "Episode",
    "EpisodeState",
    "LoginAttempt",
    "Organisation",
    "OrganisationKind",
    "Pathway",
    "Patient",
    "Profession",
    "Relative",
    "Staff",
    "Unit",
    "UnitKind",
    "WebSession",
]
