"""Notifiers the guard uses after an automatic rollback: Slack, PagerDuty, a GitHub pull request."""
from rollout.adapters.notify.github import GitHubProposer, branch_name
from rollout.adapters.notify.incident import Incident
from rollout.adapters.notify.pagerduty import PagerDutyNotifier
from rollout.adapters.notify.slack import SlackNotifier

__all__ = ["GitHubProposer", "Incident", "PagerDutyNotifier", "SlackNotifier", "branch_name"]
