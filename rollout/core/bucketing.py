"""Per-user bucketing, exactly as the application's RolloutManager does it (story 2.14):
sha256 of the user id, first 8 hex digits as an integer, % 100 + 1; the user is in
iff bucket <= percentage. So the users in the 5 % stay in at 25 %."""
from __future__ import annotations

import hashlib


def bucket(user_id: str) -> int:
    digest = hashlib.sha256(user_id.encode("utf-8")).hexdigest()
    return int(digest[:8], 16) % 100 + 1


def enabled(user_id: str, percentage: int) -> bool:
    return bucket(user_id) <= percentage
