"""Notices to patients and relatives outside Hemma (e-mail, SMS, or the log), through the
outbox: that a message waits, never what it says."""
