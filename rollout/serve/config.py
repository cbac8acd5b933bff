"""What `rollout serve` runs with, checked once by the command line."""
from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

from rollout.deliveries import NOTIFY_DEADLINE

TOKEN_ENV = "ROLLOUT_HOOK_TOKEN"
MIN_TOKEN_LENGTH = 32          # `openssl rand -hex 32` gives 64
LEASE_NAME = "guard-loop"


def instance_id() -> str:
    """Who holds the lease: host, process and a random part (a restarted process on the
    same host is another holder)."""
    host = os.environ.get("RENDER_INSTANCE_ID") or socket.gethostname()
    return f"{host}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(frozen=True)
class ServeConfig:
    host: str
    port: int
    interval: float                  # seconds between timed evaluations (and lease looks)
    lease_ttl: float                 # seconds a lease lasts without renewal
    store_url: str
    history_url: str | None
    metrics_url: str | None
    flags_dir: Path
    window: timedelta | None         # cap on the judged data of the timed loop (None: the step)
    hook_window: timedelta | None    # ... and of the evaluations a webhook asked for
    clock: Callable[[], datetime]    # the decisions' clock (ROLLOUT_NOW pins it)
    actor: str
    notify_deadline: float = NOTIFY_DEADLINE   # seconds for one evaluation's notifications
    instance: str = field(default_factory=instance_id)
    hook_token: str | None = field(default=None, repr=False)
    page_token: str | None = field(default=None, repr=False)    # ROLLOUT_PAGE_TOKEN
    page_public: bool = False        # --page-public: no credentials even when not on loopback

    @property
    def hook_problem(self) -> str | None:
        """Why the webhook refuses every call, or None when it is enabled."""
        if not self.hook_token:
            return f"{TOKEN_ENV} is not set"
        if len(self.hook_token) < MIN_TOKEN_LENGTH:
            return f"{TOKEN_ENV} is shorter than {MIN_TOKEN_LENGTH} characters"
        return None

    @property
    def page_access(self):
        """Who may read the status page and /status (rollout/serve/page_auth.py)."""
        from rollout.serve.page_auth import page_access

        return page_access(self.host, self.page_token, self.hook_token, self.page_public)
