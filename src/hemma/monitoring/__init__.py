"""Self-monitoring: observations, NEWS2, alert rules, alerts and escalation."""
