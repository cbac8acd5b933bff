"""The rules of the `skills-rollout-policy` pack, as plain functions (see registry.py).

Importing the package fills `RULES` in a fixed order: Render, alerts, secrets, dashboards.
`pack.py` (which imports pulumi-policy) turns them into policies; only policy/__main__.py
builds the PolicyPack, because constructing one starts the analyzer's gRPC server.
"""
# Imported for their @rule registrations, in the table's order.
from skills_policy import render_rules, alert_rules, secret_rules, watch_rules  # noqa: F401
from skills_policy.registry import RULES, Finding, Rule, evaluate, run_rule

__all__ = ["RULES", "Finding", "Rule", "evaluate", "run_rule"]
