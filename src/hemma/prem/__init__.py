"""The patient's experience of the stay (PREM): a short questionnaire at discharge, answered
on the patient's own page or entered by staff from paper."""
