"""What the guard tells people after an automatic rollback (or a SEV3 hold); every
notifier renders this."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from rollout.core.catalog import PAGING, SEVERITIES


@dataclass(frozen=True)
class Incident:
    flag: str
    revision: str              # the committed revision of the state file that was aborted
    severity: str              # "SEV1" | "SEV2" | "SEV3"
    title: str
    reasons: tuple[str, ...]
    evidence_markdown: str
    from_percentage: int
    to_percentage: int
    at: datetime               # timezone-aware: when the guard decided
    state_path: str            # e.g. "rollout/flags/skills_rollout.yaml"
    # what happened, in the headline and the one-line text: a rollback, or a flag store
    # found serving another value than the history's (drift, repaired)
    headline: str = "rollback"
    action: str = "automatic rollback"

    def __post_init__(self) -> None:
        # Programming errors in the guard, not user input: fail loudly before anything is sent.
        if self.severity not in SEVERITIES:
            raise ValueError(f"Incident.severity: expected one of {', '.join(SEVERITIES)}, "
                             f"got {self.severity!r}")
        if not self.flag or not self.revision:
            raise ValueError("Incident: flag and revision must be non-empty")
        if self.at.tzinfo is None:
            raise ValueError("Incident.at: expected a timezone-aware datetime")
        if not isinstance(self.reasons, tuple):
            object.__setattr__(self, "reasons", tuple(self.reasons))

    @property
    def dedup_key(self) -> str:
        """Same flag and committed revision → same key, so repeats update one alert."""
        return f"rollout/{self.flag}/{self.revision[:12]}"

    @property
    def pages(self) -> bool:
        return self.severity in PAGING

    @property
    def timestamp(self) -> str:
        """ISO 8601 in UTC, the form PagerDuty and GitHub expect."""
        return self.at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def clip(text: str, limit: int) -> str:
    """Fit `text` in a vendor's length limit, marking the cut so nobody mistakes it for the end."""
    if len(text) <= limit:
        return text
    return text[: limit - 1] + "…"
