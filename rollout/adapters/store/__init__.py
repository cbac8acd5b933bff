"""Flag stores by URL scheme: sqlite (embedded default), postgres, http(s)."""
from __future__ import annotations

import os

from rollout.adapters.store.base import FlagStore
from rollout.errors import UserError

DEFAULT_STORE = "sqlite:///.rollout/flags.db"


def store_url(cli_value: str | None) -> str:
    return cli_value or os.environ.get("ROLLOUT_STORE") or DEFAULT_STORE


def open_store(url: str, history_url: str | None = None) -> FlagStore:
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        from rollout.adapters.store.sqlite import SQLiteStore
        return SQLiteStore(url)
    if scheme in ("postgres", "postgresql"):
        from rollout.adapters.store.postgres import PostgresStore
        return PostgresStore(url)
    if scheme in ("http", "https"):
        from rollout.adapters.store.http import HTTPStore
        return HTTPStore(url, history_url)
    from rollout.redact import redact

    what = f"unknown scheme {scheme!r}" if "://" in url else "not a URL"
    raise UserError(f"store URL {redact(url)!r}: {what}, expected sqlite:///PATH, "
                    f"postgres://... or https://...")
