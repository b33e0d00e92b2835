"""Treatments the home ward gives (IV antibiotics, subcutaneous injections, infusions): the
order that drives the visits, and the record of each dose. Not a medication module."""
