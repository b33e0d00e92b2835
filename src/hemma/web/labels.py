"""Display names of the codes stored in the database, marked for translation."""

from __future__ import annotations

from hemma.kit.text import N_
from hemma.web.i18n import gettext

PROFESSIONS = {
    "physician": N_("Physician"),
    "nurse": N_("Nurse"),
    "assistant_nurse": N_("Assistant nurse"),
    "physiotherapist": N_("Physiotherapist"),
    "occupational_therapist": N_("Occupational therapist"),
    "coordinator": N_("Coordinator"),
    "administrative": N_("Administrative"),
}
ORGANISATION_KINDS = {"region": N_("Region"), "kommun": N_("Municipality")}
UNIT_KINDS = {
    "hospital_clinic": N_("Hospital clinic"),
    "primary_care": N_("Primary care centre"),
    "mobile_team": N_("Mobile team"),
    "home_health": N_("Municipal home health care"),
    "rehab": N_("Rehabilitation"),
    "home_help": N_("Home help"),
    "other": N_("Other"),
}
EPISODE_STATES = {
    "assessing": N_("Assessing"),
    "admitted": N_("Admitted"),
    "discharged": N_("Discharged"),
    "returned": N_("Returned to hospital"),
    "not_admitted": N_("Not admitted"),
}
DIGITAL_ABILITY = {
    "independent": N_("Reports on their own"),
    "with_support": N_("Needs support with digital tools"),
    "none": N_("Does not use digital tools"),
}
CONSENT_METHODS = {"oral": N_("Oral"), "written": N_("Written")}
CONSENT_GIVERS = {"patient": N_("The patient"), "representative": N_("Legal representative")}
BASES = {
    "unit": N_("Unit's patient"),
    "personal": N_("Named in care team"),
    "emergency": N_("Emergency access"),
    "role": N_("Role"),
    "none": N_("No access"),
}
OUTCOMES = {"allowed": N_("Allowed"), "denied": N_("Denied")}
REVIEW_OUTCOMES = {
    "justified": N_("Justified"),
    "follow_up": N_("Needs follow-up"),
    "incident": N_("Incident reported"),
}
FLAGS = {
    "emergency": N_("Emergency access"),
    "outside_unit": N_("Not the unit's patient"),
    "same_surname": N_("Same surname"),
    "night": N_("Night-time"),
    "denied": N_("Refused attempt"),
}
LANGUAGE_NAMES = {
    "sv": N_("Swedish"),
    "en": N_("English"),
    "fi": N_("Finnish"),
    "se": N_("Northern Sami"),
    "ar": N_("Arabic"),
    "so": N_("Somali"),
    "ti": N_("Tigrinya"),
    "fa": N_("Persian"),
    "pl": N_("Polish"),
    "other": N_("Other"),
}


def label(table: dict[str, str], code: str | None) -> str:
    if code is None:
        return ""
    return gettext(table[code]) if code in table else code

FLASH = {
    "registered": N_("The patient has been registered."),
    "existing": N_("The patient was already in Hemma. Your unit has been added to the care team."),
    "saved": N_("Saved."),
    "assessing": N_("The assessment has started."),
    "admitted": N_("The patient has been admitted to the home ward."),
    "discharged": N_("The patient has been discharged."),
    "returned": N_("The return to hospital has been registered."),
    "not_admitted": N_("The assessment has been closed without admission."),
    "team": N_("The care team has been updated."),
    "consent": N_("The consent has been recorded."),
    "consent_withdrawn": N_("The consent has been withdrawn."),
    "block": N_("The block has been recorded."),
    "block_lifted": N_("The block has been lifted."),
    "emergency": N_("Emergency access is open. It is logged and will be reviewed."),
    "reviewed": N_("The review has been recorded."),
    "logged_out": N_("You have been logged out."),
    "timeout": N_("You were logged out after a period of inactivity."),
}
