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


def init_store(url: str) -> tuple[str, list[tuple[int, str]]]:
    """Create or migrate the tables of the SQL store at `url` (rollout store init):
    (the store's printable name, the migrations applied, (number, name))."""
    from rollout.adapters.store.sql import SQLStore

    if url.split(":", 1)[0].lower() in ("postgres", "postgresql"):
        from rollout.adapters.store.postgres import PostgresStore
        store = PostgresStore(url, require_schema=False)   # the one open that may find none
    else:
        store = open_store(url)
    with store:
        if not isinstance(store, SQLStore):
            raise UserError(f"store URL {store.url}: expected sqlite:///PATH or postgres://... "
                            f"(the tables live in a database)")
        return store.url, store.migrate()
