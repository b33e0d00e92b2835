"""Display names of the codes stored in the database, marked for translation."""

from __future__ import annotations

import re

from hemma.i18n import gettext
from hemma.kit.text import N_

PROFESSIONS = {
    "physician": N_("Physician"),
    "nurse": N_("Nurse"),
    "assistant_nurse": N_("Assistant nurse"),
    "physiotherapist": N_("Physiotherapist"),
    "occupational_therapist": N_("Occupational therapist"),
    "coordinator": N_("Coordinator"),
    "administrative": N_("Administrative"),
    "system": N_("System account"),
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
# Why a patient went back to hospital during the episode (Episode.end_reason of a return).
RETURN_REASONS = {
    "deterioration": N_("The condition got worse"),
    "new_problem": N_("A new medical problem"),
    "fall_injury": N_("A fall or an injury"),
    "treatment_not_possible": N_("The treatment could not be given at home"),
    "patient_wish": N_("The patient's or the relatives' wish"),
    "other": N_("Another reason"),
}
# How an admitted episode ended at discharge (Episode.end_reason of a discharge).
DISCHARGE_OUTCOMES = {
    "completed": N_("Treatment completed"),
    "death_expected": N_("Died at home, expected (palliative)"),
    "death_unexpected": N_("Died at home, unexpected"),
    "other": N_("Another outcome"),
}
DEATH_OUTCOMES = ("death_expected", "death_unexpected")
# Why a visit was not done, as staff choose it when they report it (Visit.not_done_code).
NOT_DONE_CODES = {
    "patient_declined": N_("The patient declined"),
    "patient_not_home": N_("The patient was not at home"),
    "patient_in_hospital": N_("The patient is in hospital"),
    "no_staff": N_("No staff could go"),
    "travel": N_("Roads or travel"),
    "other": N_("Another reason"),
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
    "self": N_("The patient's own page"),
    "relative": N_("A relative, with the patient's permission"),
    "none": N_("No access"),
}
# What the patient lets a relative see on the patient's page (hemma.patients.relatives).
RELATIVE_SHARES = {
    "messages": N_("Messages with the care team (read and write)"),
    "visits": N_("Who comes today, and when"),
    "agreement": N_("The agreement on care at home"),
    "values": N_("Values (temperature, pulse, blood pressure …)"),
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
    "joined_existing": N_("Joined an existing patient's care team"),
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


def options(table: dict[str, str]) -> list[tuple[str, str]]:
    """A table's codes and display names, for a select."""
    return [(code, gettext(text)) for code, text in table.items()]

PARAMETERS = {
    "respiration_rate": N_("Respiration rate"),
    "spo2": N_("SpO2"),
    "on_oxygen": N_("Oxygen"),
    "temperature": N_("Temperature"),
    "systolic_bp": N_("Systolic blood pressure"),
    "diastolic_bp": N_("Diastolic blood pressure"),
    "pulse": N_("Pulse"),
    "consciousness": N_("Consciousness"),
    "weight": N_("Weight"),
    "blood_glucose": N_("Blood glucose"),
    "pain": N_("Pain"),
    "news2": N_("NEWS2"),
}
# What the error summary at the top of a form calls a field ("Temperatur: Ange ett tal"), so
# that a nurse who typed ten values sees at once which one is wrong.
FIELD_LABELS = {
    **PARAMETERS,
    "measured_at": N_("Measured at"),
    "note": N_("Note"),
    "notes": N_("Notes"),
    "personnummer": N_("Personnummer or samordningsnummer"),
    "given_name": N_("Given name"),
    "family_name": N_("Family name"),
    "street": N_("Street address"),
    "postal_code": N_("Postal code"),
    "city": N_("City"),
    "phone": N_("Phone"),
    "sharing": N_("Sharing between organisations"),
    "sharing_reason": N_("Why no consent is needed"),
    "join_reason": N_("Why your unit joins the care team"),
    "join_note": N_("Describe the reason"),
    "to_unit_id": N_("To unit"),
    "times": N_("Times of day"),
    "first_date": N_("First day"),
    "last_date": N_("Last day"),
    "duration_minutes": N_("Minutes"),
    "earliest": N_("Earliest start"),
    "latest": N_("Latest start"),
    "responsible_physician_id": N_("Responsible physician"),
    "coordinator_id": N_("Coordinator (fast vårdkontakt)"),
    "kind": N_("What"),
    "day": N_("Day"),
    "patient_id": N_("Patient"),
    "status": N_("Status"),
    "reason": N_("Reason"),
    "answered_on": N_("The day the patient filled it in"),
    "comment": N_("Comment"),
}
UNITS = {"respiration_rate": "/min", "spo2": "%", "temperature": "°C", "systolic_bp": "mmHg",
         "diastolic_bp": "mmHg", "pulse": "/min", "weight": "kg", "blood_glucose": "mmol/l",
         "pain": "/10"}
# NEWS2's clinical risk bands (RCP), said as risk: an alert's priority is another scale
# (how soon to respond), and "NEWS2 5 (medium)" beside "High" read as a contradiction.
NEWS2_BANDS = {
    "low": N_("low risk"),
    "low-medium": N_("low-medium risk"),
    "medium": N_("medium risk"),
    "high": N_("high risk"),
}
# An alert's severity, shown as what it is: the priority of the response.
PRIORITY_LABELS = {
    "low": N_("Priority: low"),
    "medium": N_("Priority: medium"),
    "high": N_("Priority: high"),
    "critical": N_("Priority: critical"),
}
ALERT_KINDS = {
    "vitals": N_("Values"),
    "worse": N_("Feels worse"),
    "missed": N_("Missed measurement"),
}
ALERT_STATUS = {
    "open": N_("Open"),
    "acknowledged": N_("Acknowledged"),
    "resolved": N_("Resolved"),
}
CONSCIOUSNESS = {
    "A": N_("Alert"),
    "C": N_("New confusion"),
    "V": N_("Responds to voice"),
    "P": N_("Responds to pain"),
    "U": N_("Unresponsive"),
}
DECISIONS = {
    "continue": N_("Continue as planned"),
    "adjust": N_("Adjust thresholds or plan"),
    "visit": N_("Book a visit"),
    "return": N_("Return to hospital"),
    "discharge": N_("Discharge"),
}
CARE_KINDS = {
    "iv_antibiotic": N_("IV antibiotics"),
    "blood_sample": N_("Blood sample"),
    "wound_care": N_("Wound care"),
    "vital_signs": N_("Vital signs"),
    "assessment": N_("Assessment"),
    "other": N_("Other"),
}
REQUEST_STATUS = {
    "requested": N_("Awaiting answer"),
    "accepted": N_("Accepted"),
    "declined": N_("Declined"),
    "cancelled": N_("Cancelled"),
}
JOIN_REASONS = {
    "care_request": N_("A care request was received"),
    "visit_booked": N_("A visit is booked"),
    "referral": N_("A referral or a new contact"),
    "other": N_("Another reason (describe it)"),
}
VISIT_STATUS = {
    "planned": N_("Planned"),
    "started": N_("Started"),
    "done": N_("Done"),
    "not_done": N_("Not done"),
    "cancelled": N_("Cancelled"),
}
# Why a visit did not happen, when the system says so (staff type their own reasons).
VISIT_REASONS = {
    "episode_discharged": N_("Discharged from care at home"),
    "episode_returned": N_("Readmitted to hospital"),
    "treatment_stopped": N_("The treatment was stopped"),
    "activity_stopped": N_("Stopped in the shared plan"),
}
SYNC = {"simultaneous": N_("Together"), "sequential": N_("One after the other")}
UNPLANNED_REASONS = {
    "skills": N_("Nobody on duty has the skills"),
    "window": N_("Cannot be reached in time"),
    "capacity": N_("Does not fit in the day"),
    "address": N_("The address has no map position"),
}
PLAN_REASONS = {
    "planned": N_("Planned"),
    "urgent visit": N_("Urgent visit added"),
    "moved": N_("Visit moved by hand"),
}
CHANGE_KINDS = {
    "added": N_("New"),
    "moved": N_("Other staff member"),
    "retimed": N_("New time"),
    "unplanned": N_("No longer planned"),
    "planned": N_("Now planned"),
}
START_PLACES = {"office": N_("The office"), "home": N_("Home")}
# A patient's map position: how near the house it is, and where it came from (hemma.geo).
POSITION_PRECISIONS = {
    "door": N_("Measured at the door"),
    "address": N_("The house"),
    "street": N_("The street, not the house"),
    "locality": N_("Approximate: the centre of the village or town"),
    "postal_code": N_("Approximate: the centre of the postal code's locality"),
    "unknown": N_("Precision not known"),
}
POSITION_SOURCES = {
    "geocoder": N_("Found by the address search service"),
    "postal_codes": N_("From Hemma's table of postal codes (GeoNames)"),
    "device": N_("Measured with a staff member's phone"),
    "system": N_("Given by another system"),
}
TRAVEL_PROFILES = {"car": N_("Car"), "car-town": N_("Car, in town"), "walk": N_("On foot")}
PERFORMERS = {"patient": N_("The patient"), "staff": N_("Staff"), "device": N_("Device")}

# The homecoming call's answer to each question (a note says the rest).
HOMECOMING_ANSWERS = {"yes": N_("Yes"), "no": N_("No")}
# How a treatment given at home is given.
DOSE_ROUTES = {
    "iv": N_("Intravenous"),
    "infusion": N_("Intravenous infusion"),
    "sc": N_("Subcutaneous"),
    "im": N_("Intramuscular"),
    "po": N_("By mouth"),
}
CHECKLIST_CATEGORIES = {
    "supplies": N_("Supplies"),
    "medicines": N_("Medicines and pumps"),
    "aids": N_("Aids"),
    "devices": N_("Devices"),
    "key": N_("Key or key box"),
}
IF_WORSE_ACTIONS = {
    "call_team": N_("Call the home ward"),
    "feeling_worse": N_("Press \"I feel worse\""),
    "call_112": N_("Call 112"),
}
PART_STATUS = {"met": N_("Met"), "not_met": N_("Not met"), "not_assessed": N_("Not assessed")}
ASSESSMENT_PARTS = {
    "medical_stability": N_("Medical stability"),
    "adl": N_("ADL and function"),
    "mobility": N_("Mobility and physiotherapy"),
    "home": N_("Home situation"),
    "medication": N_("Medication handling"),
    "diagnosis": N_("Diagnosis suitability"),
}
ASSESSMENT_DECISIONS = {"admit": N_("Admit to the home ward"),
                        "not_admit": N_("Do not admit")}
INFORMATION_HOW = {"oral": N_("Orally"), "written": N_("In writing"),
                   "both": N_("Orally and in writing")}
ACTIVITY_KINDS = {"visit": N_("Visits"), "once": N_("Once"), "ongoing": N_("Ongoing support")}
ACTIVITY_STATUS = {
    "planned": N_("Planned"),
    "requested": N_("Requested, awaiting answer"),
    "ongoing": N_("Ongoing"),
    "done": N_("Done"),
    "declined": N_("Declined"),
    "stopped": N_("Stopped"),
}
INFORMATION_GIVEN = {
    "home_care": N_("What care at home means"),
    "measuring": N_("How to measure and send values"),
    "whom_to_call": N_("Whom to call, day and night"),
    "written_material": N_("Written information"),
}
CONFIRMED_HOW = {"patient_page": N_("by the patient in Hemma"),
                 "paper": N_("on paper, recorded by staff")}
# The parts of the agreement with the patient, as its headings name them.
AGREEMENT_PARTS = {
    "patient_tasks": N_("What you and your relatives do"),
    "measure_times": N_("When you measure"),
    "team_tasks": N_("What the care team does"),
    "if_worse": N_("If you get worse"),
    "phones": N_("Phone numbers"),
    "planned_days": N_("How long, and until what"),
    "end_criteria": N_("When the care at home ends"),
}
AGREEMENT_PHONES = {"day": N_("Daytime"), "night": N_("Evening and night")}

FLASH = {
    "registered": N_("The patient has been registered."),
    "existing": N_("The patient was already in Hemma. Your unit has been added to the care team; "
                   "the reason is logged."),
    "already": N_("The patient was already in Hemma, and your unit is already in the care team. "
                  "Nothing new was registered."),
    "saved": N_("Saved."),
    "position": N_("The map position has been updated."),
    "assessing": N_("The assessment has started."),
    "admitted": N_("The patient has been admitted to the home ward."),
    "activity_requested": N_("The activity is in the plan, and a care request for its visits "
                             "has gone to the unit. It shows as requested until they answer."),
    "activity_task": N_("The activity is in the plan, and a task has gone to the unit."),
    "summary_signed": N_("The summary is signed and sent."),
    "acknowledged": N_("Acknowledged. Your unit takes over."),
    "decided_admit": N_("The decision to admit is signed. The home ward can now admit the patient."),
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
    "alert_acknowledged": N_("The alert is acknowledged: it no longer escalates."),
    "alert_snoozed": N_("The alert is snoozed. It comes back when the time is up."),
    "alert_resolved": N_("The alert is resolved."),
    "logged_out": N_("You have been logged out."),
    "login_step_expired": N_("The login took too long. Log in again."),
    "totp_enrolled": N_("Your authenticator app is set up. Password logins now ask for its "
                        "code."),
    "totp_reset": N_("The authenticator app was reset. The user sets up a new one at the next "
                     "password login."),
    "login_settings": N_("Saved. It holds at once for every new login."),
    "timeout": N_("You were logged out after a period of inactivity."),
    "planned": N_("The day has been planned."),
    "urgent": N_("The urgent visit has been planned. Those affected see their new route."),
    "moved": N_("The visit has been moved and locked; the rest of the day was re-planned."),
    "locked": N_("Saved."),
    "shift": N_("The shift has been saved. Plan the day again to use it."),
    "shift_removed": N_("The shift has been removed. Plan the day again."),
    "visit_started": N_("The visit is started."),
    "visit_done": N_("The visit is done."),
    "visit_not_done": N_("The visit is reported as not done."),
    "request_sent": N_("The care request has been sent."),
    "request_accepted": N_("The care request has been accepted; its visits are created."),
    "request_declined": N_("The care request has been declined."),
    "values": N_("The values have been saved."),
    "round": N_("The round decision has been saved."),
    "round_booked": N_("The decision is recorded and the visit booked; the note says what."),
    "prem_entered": N_("The patient's answers have been saved."),
}

AUDIT_ACTIONS = {
    "patient.read": N_("Read the record"),
    "patient.edit": N_("Opened for editing"),
    "patient.update": N_("Changed contact details"),
    "patient.position": N_("Corrected the map position"),
    "patient.register": N_("Registered the patient"),
    "patient.register_existing": N_("Joined the care team of an existing patient"),
    "patient.search": N_("Found in a search"),
    "relative.add": N_("Added a relative"),
    "relative.remove": N_("Removed a relative"),
    "homeward.list": N_("Shown on the home-ward list"),
    "episode.manage": N_("Opened the episode"),
    "episode.assess": N_("Started an assessment"),
    "episode.admit": N_("Admitted to the home ward"),
    "episode.discharge": N_("Discharged"),
    "episode.return": N_("Returned to hospital"),
    "episode.not_admitted": N_("Closed the assessment"),
    "careteam.manage": N_("Opened the care team"),
    "careteam.add": N_("Added to the care team"),
    "careteam.end": N_("Ended a care relationship"),
    "consent.manage": N_("Opened consents"),
    "consent.record": N_("Recorded consent"),
    "consent.withdraw": N_("Withdrew consent"),
    "consent.not_needed": N_("Another organisation joined without consent (reason given)"),
    "block.manage": N_("Opened blocks"),
    "block.add": N_("Recorded a block"),
    "block.lift": N_("Lifted a block"),
    "emergency.open": N_("Opened emergency access"),
    "log.review": N_("Shown in the log review"),
    "log.extract": N_("Log extract"),
    "log.fhir": N_("Shown in the access log through FHIR"),
    "log.review.record": N_("Recorded a log review"),
    "audit.archive": N_("Archived old months of the access log"),
    "auth.login": N_("Logged in"),
    "auth.logout": N_("Logged out"),
    "auth.totp.enrol": N_("Set up an authenticator app for password logins"),
    "admin.staff.totp_reset": N_("Reset a user's authenticator app"),
    "admin.password_login": N_("Allowed or turned off password logins"),
    "admin.unit.create": N_("Created a unit"),
    "admin.unit.update": N_("Changed a unit"),
    "admin.staff.create": N_("Created a staff account"),
    "admin.staff.update": N_("Changed a staff account"),
    "demo.load": N_("Loaded demo data"),
    "retention.purge": N_("Purged data past its retention period"),
    "followup.trace": N_("Listed the episodes behind a follow-up figure"),
    "followup.research_export": N_("Research extract (pseudonymised)"),
    "carerequest.manage": N_("Opened care requests"),
    "carerequest.create": N_("Sent a care request"),
    "carerequest.accept": N_("Accepted a care request"),
    "carerequest.decline": N_("Declined a care request"),
    "visitplan.manage": N_("Planned visits"),
    "visitplan.plan": N_("Planned the day"),
    "visitplan.move": N_("Moved a visit by hand"),
    "visitplan.lock": N_("Locked a visit to a staff member"),
    "visitplan.unlock": N_("Unlocked a visit"),
    "visit.add_urgent": N_("Added an urgent visit"),
    "visit.book": N_("Booked a visit"),
    "visit.record": N_("Opened a visit"),
    "visit.started": N_("Started a visit"),
    "visit.done": N_("Reported a visit done"),
    "visit.not_done": N_("Reported a visit not done"),
    "visitplan.read": N_("Shown in the day plan"),
    "visitplan.list": N_("Shown in the patient list for urgent visits"),
    "observation.record": N_("Recorded values"),
    "plan.manage": N_("Opened the monitoring plan"),
    "plan.update": N_("Changed the monitoring plan"),
    "patientcode.manage": N_("Opened the patient's login codes"),
    "patientcode.create": N_("Made a login code for the patient"),
    "patientcode.revoke": N_("Revoked the patient's login code"),
    "alert.handle": N_("Opened an alert"),
    "alert.acknowledge": N_("Acknowledged an alert"),
    "alert.snooze": N_("Snoozed an alert"),
    "alert.resolve": N_("Resolved an alert"),
    "alert.inbox": N_("Shown in the alert inbox"),
    "alert.live": N_("Shown live in the alert inbox"),
    "round.decide": N_("Remote round"),
    "round.worklist": N_("Shown on the round worklist"),
    "assessment.save": N_("Saved an assessment"),
    "assessment.decide": N_("Decided on admission"),
    "careplan.goals": N_("Changed the goals of the shared plan"),
    "careplan.activity.add": N_("Added an activity to the shared plan"),
    "careplan.activity.status": N_("Changed an activity of the shared plan"),
    "sip.start": N_("Recorded the need of the municipality (SIP)"),
    "sip.update": N_("Recorded a SIP step"),
    "checklist.create": N_("Made the logistics checklist"),
    "checklist.add": N_("Added a checklist item"),
    "checklist.done": N_("Ticked a checklist item done"),
    "checklist.remove": N_("Removed a checklist item"),
    "checklist.read": N_("Opened a checklist item"),
    "homecoming.answer": N_("Saved answers of the homecoming call"),
    "homecoming.done": N_("Made the homecoming call"),
    "homecoming.read": N_("Opened the homecoming call"),
    "treatment.order": N_("Ordered a treatment given at home"),
    "treatment.stop": N_("Stopped a treatment given at home"),
    "treatment.dose": N_("Recorded a dose given at home"),
    "treatment.read": N_("Opened a treatment order"),
    "summary.draft": N_("Drafted a discharge summary"),
    "summary.update": N_("Edited a discharge summary"),
    "summary.sign": N_("Signed and sent a discharge summary"),
    "summary.acknowledge": N_("Acknowledged a discharge summary"),
    "summary.print": N_("Printed a discharge summary"),
    "pathway.save": N_("Saved a pathway version"),
    "pathway.retire": N_("Retired a pathway"),
    "patient.login": N_("The patient logged in"),
    "patient.relatives": N_("The patient opened what their relatives may see"),
    "patient.relative_shares": N_("The patient chose what a relative may see"),
    "relative.login": N_("A relative logged in on the patient's page"),
    "relative.self": N_("A relative opened the patient's page"),
    "relative.denied": N_("A relative was refused a part of the patient's page"),
    "relative.shares": N_("Recorded what the patient lets a relative see"),
    "relative.messages": N_("A relative read the patient's messages"),
    "relative.message": N_("A relative wrote a message"),
    "relative.message_photo": N_("A relative opened a photo of the patient's messages"),
    "relative.agreement": N_("A relative read the agreement"),
    "relativecode.create": N_("Made a login code for a relative"),
    "patient.self": N_("The patient opened their own page"),
    "patient.observation": N_("The patient reported values"),
    "patient.worse": N_("The patient reported feeling worse"),
    "agreement.save": N_("Saved a version of the agreement with the patient"),
    "agreement.confirm_paper": N_("Recorded the patient's confirmation of the agreement on paper"),
    "agreement.print": N_("Printed the agreement with the patient"),
    "patient.agreement": N_("The patient read the agreement"),
    "patient.agreement_confirm": N_("The patient confirmed the agreement"),
    "patient.prem": N_("The patient opened the questions about the stay"),
    "prem.answer": N_("The patient answered the questions about the stay (PREM)"),
    "prem.enter_paper": N_("Entered the patient's paper questionnaire about the stay (PREM)"),
}


def audit_action(code: str) -> str:
    """A readable name for a logged action; combined actions are joined with '+'."""
    return ", ".join(label(AUDIT_ACTIONS, part) for part in code.split("+"))


LOGIN_METHODS = {
    "password": N_("with a password"),
    "password+totp": N_("with a password and a code from an authenticator app"),
    "oidc": N_("with SITHS through the region's login service"),
    # Why a login was refused (the entry's outcome says refused).
    "throttled": N_("too many failed attempts"),
    "password_off": N_("password logins are turned off"),
    "totp": N_("wrong or used code from the authenticator app"),
    "oidc:not_configured": N_("SITHS: login with SITHS is not set up"),
    "oidc:unavailable": N_("SITHS: the login service did not answer"),
    "oidc:state_unknown": N_("SITHS: unknown login (state)"),
    "oidc:state_used": N_("SITHS: the login was already used (state)"),
    "oidc:state_expired": N_("SITHS: the login took too long"),
    "oidc:other_browser": N_("SITHS: came back to another browser than it started in"),
    "oidc:cancelled": N_("SITHS: cancelled at the login service"),
    "oidc:expired": N_("SITHS: the ID token had expired"),
    "oidc:issuer": N_("SITHS: the ID token came from another issuer"),
    "oidc:audience": N_("SITHS: the ID token was meant for another client"),
    "oidc:signature": N_("SITHS: the ID token's signature did not hold"),
    "oidc:nonce": N_("SITHS: the ID token belonged to another login (nonce)"),
    "oidc:iat": N_("SITHS: the ID token's time of issue was wrong"),
    "oidc:subject": N_("SITHS: the ID token named nobody"),
    "oidc:algorithm": N_("SITHS: the ID token was signed in a way not accepted"),
    "oidc:malformed": N_("SITHS: the ID token could not be read"),
    "oidc:token_refused": N_("SITHS: the login service refused the code"),
    "oidc:no_code": N_("SITHS: the login service sent no code"),
    "oidc:no_id_token": N_("SITHS: the login service sent no ID token"),
    "oidc:no_hsa_id": N_("SITHS: no HSA-id in the answer"),
    "oidc:unknown_hsa_id": N_("SITHS: no account has this HSA-id"),
    "oidc:inactive": N_("SITHS: the account is turned off"),
}
PASSWORD_LOGIN_CHOICES = {"on": N_("allowed"), "off": N_("turned off")}
_REVIEW_DETAIL = re.compile(r"^(\d+) entries: (\w+)$")


def audit_detail(action: str, detail: str | None) -> str:
    """An entry's detail as the log review shows it: codes the system wrote, in words (what
    people typed, such as an emergency access reason, as typed)."""
    if not detail:
        return ""
    if action == "round.decide":
        return label(DECISIONS, detail)
    if action == "auth.login":
        # A code, then what it is about ("oidc:unknown_hsa_id SE2321000222-1234").
        code, _, rest = detail.partition(" ")
        return " ".join(part for part in (label(LOGIN_METHODS, code), rest) if part)
    if action == "admin.password_login":
        return label(PASSWORD_LOGIN_CHOICES, detail)
    if action == "log.review.record" and (m := _REVIEW_DETAIL.match(detail)):
        return gettext("%(n)s entries: %(outcome)s", n=m.group(1),
                       outcome=label(REVIEW_OUTCOMES, m.group(2)))
    return detail


# --- Coordination: tasks, hand-overs, the board -----------------------------------------------
TASK_PRIORITIES = {"normal": N_("Normal"), "high": N_("High priority"), "urgent": N_("Urgent")}
TASK_KINDS = {
    "manual": N_("Task"),
    "round": N_("From the round"),
    "activity": N_("From the shared plan"),
    "homecoming_call": N_("Homecoming call"),
}
TASK_EVENTS = {
    "created": N_("Created"),
    "done": N_("Done"),
    "undone": N_("Opened again"),
    "escalated": N_("Overdue: the unit was told"),
}
AUDIT_ACTIONS.update({
    "coordination.manage": N_("Opened tasks and hand-overs"),
    "task.create": N_("Gave a task"),
    "task.done": N_("Marked a task done"),
    "task.undo": N_("Opened a task again"),
    "task.list": N_("Listed tasks"),
    "task.read": N_("Read tasks"),
    "handover.write": N_("Wrote a hand-over"),
    "handover.receive": N_("Confirmed a hand-over as received"),
    "handover.list": N_("Listed hand-overs"),
    "handover.read": N_("Read a hand-over"),
    "board.view": N_("Viewed the coordination board"),
    "board.live": N_("Followed the coordination board live"),
})
FLASH.update({
    "task_added": N_("The task was given."),
    "task_done": N_("The task was marked done."),
    "task_undone": N_("The task is open again."),
    "handover_sent": N_("The hand-over was sent."),
    "handover_received": N_("The hand-over was confirmed as received."),
})
DUTY_ROLES = {"nurse": N_("Nurse on duty"), "physician_on_call": N_("Physician on call"),
              "coordinator": N_("Coordinator")}
TREND_NAMES = {"temperature": N_("Temperature"), "pulse": N_("Pulse"),
               "spo2": N_("Oxygen saturation"), "respiration_rate": N_("Breaths a minute"),
               "systolic_bp": N_("Blood pressure, upper"), "weight": N_("Weight")}
TREND_DIRECTIONS = {"up": N_("↑ higher than last time"), "down": N_("↓ lower than last time"),
                    "same": N_("→ as last time")}
# Notices to patients and relatives (hemma.notifications): where they go.
FIELD_LABELS["email"] = N_("E-mail")
# Login (hemma.access.totp, hemma.access.directory).
FIELD_LABELS["code"] = N_("Six-digit code")
FIELD_LABELS["password_login"] = N_("Password login")
# --- Messages (hemma.messaging) ---------------------------------------------------------------
AUDIT_ACTIONS.update({
    "message.write": N_("Opened messages to write"),
    "message.send": N_("Wrote a message"),
    "message.read": N_("Read the patient's messages"),
    "message.photo": N_("Opened a photo sent with a message"),
    "message.thread": N_("Opened a message thread"),
    "message.inbox": N_("Shown in the message inbox"),
    "message.unanswered": N_("Shown among unanswered messages"),
    "patient.message": N_("The patient wrote a message"),
    "patient.messages": N_("The patient read their messages"),
    "patient.message_photo": N_("The patient opened a photo of their messages"),
})
FLASH.update({"message_sent": N_("The message has been sent.")})
# --- The route page without coverage (Step 6) -----------------------------------------------

AUDIT_ACTIONS.update({
    "visit.resend": N_("Sent a visit report again (nothing changed)"),
})
FIELD_LABELS.update({
    "client_id": N_("Client id"),
    "at": N_("Time"),
    "values": N_("Values"),
})
# --- FHIR R4 (Step 7) -------------------------------------------------------------------------

AUDIT_ACTIONS.update({
    "fhir.read": N_("Read through FHIR"),
    "fhir.search": N_("Found in a FHIR search"),
    "fhir.create": N_("Recorded values through FHIR"),
    "fhir.notify": N_("A FHIR subscriber was told of a new event"),
})
# SMART Backend Services: system clients and their tokens (fhir/smart.py).
AUDIT_ACTIONS.update({
    "fhir.scope_denied": N_("Refused by the token's FHIR scopes"),
    "smart.token": N_("System client asked for an access token"),
    "smart.client_registered": N_("System client registered"),
    "smart.client_disabled": N_("System client disabled"),
})
# --- Why episodes ended and visits were not done, on the pages (Step 8) ------------------------
END_REASONS = {"discharged": DISCHARGE_OUTCOMES, "returned": RETURN_REASONS}
FIELD_LABELS.update({
    "outcome": N_("How the episode ended"),
    "return_reason": N_("Why the patient returns to hospital"),
    "discharge_outcome": N_("How the episode ended"),
    "reason_code": N_("Why the visit was not done"),
})


def end_reason(state: str, code: str | None) -> str:
    """An ended episode's code in words: a return's reason, or a discharge's outcome."""
    return label(END_REASONS.get(state, {}), code)


def visit_reason(code: str | None, text: str | None) -> str:
    """Why a visit was not made, in words: the reason chosen when it was reported not done
    and what the staff typed, or a cancellation's reason (VISIT_REASONS)."""
    words = [label(NOT_DONE_CODES, code)] if code else []
    if text:
        words.append(label(VISIT_REASONS, text))
    return ": ".join(words)
