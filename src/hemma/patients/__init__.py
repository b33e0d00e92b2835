"""Patients, identity numbers and relatives."""
