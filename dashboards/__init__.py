"""Pulumi component for the New Relic dashboard, generated from rollout/catalog.yaml."""
