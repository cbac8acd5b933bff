"""Pulumi components for the Render services, and the stack settings every component reads."""
