"""What each follow-up figure is called and how it is counted, in words (pure). The page
shows the definition one click away, and the exports carry it beside the figure."""

from __future__ import annotations

from dataclasses import dataclass

from hemma.i18n import N_


@dataclass(frozen=True)
class Definition:
    key: str
    group: str
    label: str
    text: str
    better: str | None = None  # "up" / "down": which way is good, when it is clear


GROUPS = {
    "activity": N_("Activity"),
    "cost": N_("Cost"),
    "safety": N_("Safety and quality"),
    "monitoring": N_("Monitoring"),
    "visits": N_("Visits"),
    "communication": N_("Communication"),
    "experience": N_("The patient's experience"),
}

DEFINITIONS = [Definition(*d) for d in [
    ("episodes_started", "activity", N_("Episodes started"),
     N_("Episodes admitted to the home ward, counted on the day of admission.")),
    ("episodes_ended", "activity", N_("Episodes ended"),
     N_("Admitted episodes that ended by discharge or by a return to hospital, counted on the "
        "day they ended.")),
    ("days_at_home", "activity", N_("Days at home (virtual bed days)"),
     N_("Nights spent admitted at home: every Swedish date from the date of admission up to, "
        "not including, the date the episode ended (today for patients still at home), as "
        "inpatient care days are counted. An episode that spans the end of a period is "
        "counted in both periods by its days.")),
    ("occupancy", "activity", N_("Occupancy of the virtual beds"),
     N_("Days at home divided by the virtual beds of the units in scope times the days of the "
        "period. The units' number of virtual beds today is used for every period.")),
    ("bed_days_saved", "cost", N_("Hospital bed days saved"),
     N_("Each day at home is assumed to replace one inpatient day in hospital: the same count "
        "as days at home."), "up"),
    ("cost_saved", "cost", N_("Value of the bed days saved"),
     N_("Bed days saved times what an inpatient day costs. The cost is a setting "
        "(HEMMA_FOLLOWUP_BED_DAY_COST) and its source is shown beside the figure."), "up"),
    ("returns", "safety", N_("Returns to hospital"),
     N_("Admitted episodes that ended by a return to hospital, counted on the day of the "
        "return, by the reason chosen at the return."), "down"),
    ("return_rate", "safety", N_("Share returned to hospital"),
     N_("Returns to hospital divided by all admitted episodes that ended in the period."),
     "down"),
    ("readmissions", "safety", N_("New episode within 30 days of discharge"),
     N_("Episodes discharged alive in the period after which the same patient began a new "
        "episode in Hemma (an assessment) within 30 days. Hospital admissions outside Hemma "
        "are not seen here."), "down"),
    ("readmission_rate", "safety", N_("Share with a new episode within 30 days"),
     N_("New episodes within 30 days divided by the episodes discharged alive in the "
        "period."), "down"),
    ("deaths_expected", "safety", N_("Deaths at home, expected (palliative)"),
     N_("Episodes discharged with the outcome that the patient died at home, as expected in "
        "palliative care.")),
    ("deaths_unexpected", "safety", N_("Deaths at home, unexpected"),
     N_("Episodes discharged with the outcome that the patient died at home unexpectedly."),
     "down"),
    ("criteria_override", "safety", N_("Admitted although a criterion was not met"),
     N_("Admissions a physician decided although a part of the assessment was not met, with "
        "a written reason, counted on the day of admission.")),
    ("alerts_per_day", "monitoring", N_("Alerts per patient-day"),
     N_("Alerts raised (from values, from the patient feeling worse, for missed "
        "measurements) divided by the days at home, by severity.")),
    ("ack_p50", "monitoring", N_("Time to acknowledge, median"),
     N_("Minutes from an alert being raised to its acknowledgement, the median (nearest "
        "rank) of the acknowledged alerts raised in the period, by severity. Absolute time: "
        "a change to or from daylight saving time neither adds nor removes an hour."),
     "down"),
    ("ack_p90", "monitoring", N_("Time to acknowledge, 90th percentile"),
     N_("Minutes from an alert being raised to its acknowledgement, the 90th percentile "
        "(nearest rank), by the Swedish hour of day the alert was raised."), "down"),
    ("escalations", "monitoring", N_("Escalations"),
     N_("Times an alert nobody acknowledged was escalated to the next person on duty, for "
        "alerts raised in the period."), "down"),
    ("missed", "monitoring", N_("Missed measurements"),
     N_("Alerts raised because no values came within a scheduled measurement window."),
     "down"),
    ("adherence", "monitoring", N_("Self-monitoring adherence"),
     N_("Scheduled measurement windows of admitted patients that closed with values in them, "
        "divided by all such windows that closed in the period."), "up"),
    ("visits_done", "visits", N_("Visits done of those planned"),
     N_("Visits reported done divided by the visits of the period's days that were due by "
        "now (a visit still ahead is not counted yet). Cancelled visits (for instance when "
        "the episode ended) are not counted."), "up"),
    ("punctuality", "visits", N_("Visits on time"),
     N_("Done visits that started within their window, from the earliest to the latest "
        "start, of the done visits with a start time."), "up"),
    ("km_per_visit", "visits", N_("Driving per visit, km"),
     N_("Kilometres of the newest plan of each unit's day divided by the visits it holds."),
     "down"),
    ("minutes_per_visit", "visits", N_("Driving per visit, minutes"),
     N_("Minutes of driving of the newest plan of each unit's day divided by the visits it "
        "holds."), "down"),
    ("continuity", "visits", N_("Staff per patient and week"),
     N_("How many different staff made a patient's visits in a week (Monday to Sunday), on "
        "average over the patients and weeks with visits. Fewer means more continuity."),
     "down"),
    ("visits_urgent", "visits", N_("Urgent visits"),
     N_("Visits added as urgent to a day's plan.")),
    ("visits_not_done", "visits", N_("Visits not done"),
     N_("Visits reported not done, by the reason chosen at the report."), "down"),
    ("messages_in_goal", "communication", N_("Messages answered within the goal"),
     N_("Messages from patients and relatives answered before their answer goal, of all "
        "such messages written in the period."), "up"),
    ("handovers_confirmed", "communication", N_("Hand-overs confirmed"),
     N_("Hand-overs written in the period that someone of the receiving unit confirmed as "
        "received."), "up"),
    ("prem_responses", "experience", N_("Answers about the patient's experience"),
     N_("Questionnaires answered at discharge, on the patient's phone or on paper, and how "
        "the answers are spread over the scale. Never shown for single patients.")),
]]
BY_KEY = {d.key: d for d in DEFINITIONS}
