"""Pulumi component for New Relic alerting, generated from rollout/catalog.yaml."""
