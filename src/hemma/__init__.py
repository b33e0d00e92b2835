"""Hemma: hospital-level care at home, shared by a Swedish region and municipality."""

__version__ = "0.1.0"
