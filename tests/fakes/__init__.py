"""Fakes of outside HTTP APIs (Slack, PagerDuty, GitHub) that answer as the vendors document."""
