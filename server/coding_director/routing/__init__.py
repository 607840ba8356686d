"""Routing: the offline classifier, the router model, verification checks and escalation."""
