"""The application's flag API as the flag store, with the history in a SQL store.

The API is the one the playbook checks with curl: `GET` and `PUT
{base}/api/feature-flags/<flag>` with `{"enabled": bool, "percentage": int}` and a
bearer token (ROLLOUT_HTTP_TOKEN). It keeps no history and has no compare-and-set, so
the history store (`--history`, SQLite or PostgreSQL) keeps both: a mirror row per flag
in its `feature_flags` whose `version` is the compare-and-set token, and a pending
intent per apply in flight. An apply, under the history store's writers' lock:

  1. settles an intent a crashed run left behind (see _settle);
  2. checks the expected version against the mirror and commits an intent;
  3. PUTs the value and reads it back: the API must show it;
  4. writes the history row and bumps the mirror in one transaction, drops the intent.

A run killed between 3 and 4 leaves the intent; the next read or apply finds the API
showing its value and completes the history row, so nothing applied goes unrecorded.

Fencing. A PUT that timed out on our side may still land later, after another write (an
abort): it must not undo it. When the API sends an ETag with a flag, every PUT carries
it in `If-Match`, so a late PUT meets 412 Precondition Failed and changes nothing (our
own retry meeting 412 because its first attempt did land is told apart by the read-back).
An API without ETags cannot refuse a late write; then `reconcile` and `guard` find the
value contradicting the history (rollout/core/drift.py) and put it back.
"""
from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import datetime
from urllib.parse import quote

from rollout.adapters.http import RetryPolicy, raise_for_status, request
from rollout.adapters.store import open_store
from rollout.adapters.store.base import FlagStore
from rollout.adapters.store.sql import Intent, SQLStore
from rollout.core.state import Applied, Event, as_utc
from rollout.errors import ConflictError, ExternalError, UserError
from rollout.redact import redact

API_PATH = "/api/feature-flags/"
TOKEN_ENV = "ROLLOUT_HTTP_TOKEN"
POLICY = RetryPolicy(attempts=4, timeout=10.0, backoff=0.5)
WHAT = "flag API"
RECOVERED = "completed after an interrupted apply: the flag API showed the value"

Value = tuple[int, bool]  # (percentage, enabled) as the API shows it


def parse_flag(body: bytes | str, where: str) -> Value:
    """The API's answer for one flag, or a one-line ExternalError saying what is wrong."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise ExternalError(f"{WHAT}: {where} answered malformed JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ExternalError(f"{WHAT}: {where} answered {type(data).__name__}, expected an object "
                            f'like {{"enabled": true, "percentage": 5}}')
    for key in ("enabled", "percentage"):
        if key not in data:
            raise ExternalError(f"{WHAT}: {where} answered without key {key!r}")
    pct, enabled = data["percentage"], data["enabled"]
    if not isinstance(enabled, bool):
        raise ExternalError(f"{WHAT}: {where}: field enabled: expected true or false, "
                            f"got {enabled!r}")
    if isinstance(pct, bool) or not isinstance(pct, int) or not 0 <= pct <= 100:
        raise ExternalError(f"{WHAT}: {where}: field percentage: expected an integer 0..100, "
                            f"got {pct!r}")
    return pct, enabled


class HTTPStore(FlagStore):
    def __init__(self, url: str, history_url: str | None = None, *, token: str | None = None,
                 policy: RetryPolicy = POLICY):
        self._base = url.rstrip("/")
        self.url = redact(self._base)        # safe to print
        self.policy = policy
        self._token = token
        self._etags: dict[str, str] = {}     # flag -> the ETag of the last GET
        history_url = history_url or os.environ.get("ROLLOUT_HISTORY")
        if not history_url:
            # no quiet default: on a fresh CI runner a relative SQLite file would lose the
            # aborts and soak times, and the next reconcile would re-apply an aborted revision
            raise UserError(f"the http(s) flag store {url} keeps no history: pass --history "
                            f"postgres://... (or a durable sqlite:///PATH), or set ROLLOUT_HISTORY")
        if not history_url.lower().startswith(("sqlite:", "postgres:", "postgresql:")):
            raise UserError(f"--history {history_url!r}: the history of an http(s) flag store "
                            f"lives in sqlite:///PATH or postgres://..., not another API")
        self.hist: SQLStore = open_store(history_url)

    # -- the API ------------------------------------------------------------------
    def _call(self, method: str, flag: str, body: dict | None = None, headers=None):
        token = self._token or os.environ.get(TOKEN_ENV)
        if not token:
            raise UserError(f"{TOKEN_ENV} is not set: the flag API at {self.url} needs a "
                            f"bearer token")
        path = f"{API_PATH}{quote(flag)}"
        resp = request(method, f"{self._base}{path}", what=WHAT, policy=self.policy, json=body,
                       headers={"Authorization": f"Bearer {token}", "Accept": "application/json",
                                **(headers or {})})
        where = f"{method} {self.url}{path}"
        if resp.status_code in (401, 403):
            raise ExternalError(f"{WHAT}: {where}: HTTP {resp.status_code}, the token in "
                                f"{TOKEN_ENV} was refused")
        return resp, where

    def _get(self, flag: str) -> Value | None:
        """What the application reads now; None if the API has no such flag (404)."""
        resp, where = self._call("GET", flag)
        if resp.status_code == 404:
            self._etags.pop(flag, None)
            return None
        raise_for_status(resp, f"{WHAT}: {where}")
        value = parse_flag(resp.content, where)
        etag = resp.headers.get("ETag")
        if etag:
            self._etags[flag] = etag
        else:
            self._etags.pop(flag, None)
        return value

    def _put(self, flag: str, percentage: int) -> bool:
        """PUT the value, fenced by the ETag of the last GET when the API gave one. False
        when the API refused it because the flag changed since (412)."""
        etag = self._etags.get(flag)
        resp, where = self._call("PUT", flag, {"enabled": percentage > 0, "percentage": percentage},
                                 headers={"If-Match": etag} if etag else None)
        if resp.status_code == 412:
            return False
        raise_for_status(resp, f"{WHAT}: {where}")
        return True

    def _settle(self, flag: str, shown: Value | None) -> None:
        """Finish an apply a crashed run left half done. Call with the writers' lock held,
        so the intent's owner is gone. Its history row may already be written (the
        mirror moved on: only the intent's removal was lost), or the API shows its value
        (the crash came between the PUT and the history row: write the row now), or not
        (the PUT never landed: nothing to record)."""
        intent = self.hist.intent(flag)
        if intent is None:
            return
        pct, event = intent.percentage, intent.event
        mirror = self.hist.read(flag)
        if (mirror.version if mirror else None) == intent.mirror_version and \
                shown == (pct, pct > 0):
            self.hist.apply(flag, pct, intent.mirror_version,
                            replace(event, reasons=event.reasons + (RECOVERED,)))
        self.hist.drop_intent(flag)

    # -- interface ----------------------------------------------------------------
    def read(self, flag: str) -> Applied | None:
        shown = self._get(flag)
        if self.hist.intent(flag) is not None:
            with self.hist.writer_lock(wait=False) as held:
                if held:  # otherwise its owner is still at work and will finish it
                    self._settle(flag, shown)
        if shown is None:
            return None
        mirror = self.hist.read(flag)
        # A flag created in the application before the controller knew it: version 0.
        return Applied(flag, shown[0], shown[1], mirror.version if mirror else 0,
                       mirror.updated_at if mirror else None)

    def read_all(self) -> dict[str, Applied]:
        pending = set(self.hist.intent_flags())
        names = set(self.hist.read_all()) | pending
        found = {name: self.read(name) for name in sorted(names)}
        return {name: a for name, a in found.items() if a is not None}

    def apply(self, flag, percentage, expected_version, event):
        with self.hist.writer_lock():
            shown = self._get(flag)
            self._settle(flag, shown)
            mirror = self.hist.read(flag)
            mirror_version = mirror.version if mirror else None
            current = None if shown is None else (mirror_version or 0)
            if current != expected_version:
                raise ConflictError(f"flag {flag} changed under us (expected version "
                                    f"{expected_version}, found {current}); another controller "
                                    f"applied first")
            self.hist.put_intent(flag, Intent(percentage, mirror_version, event))
            # A failure from here to the history row leaves the intent for _settle.
            fenced_out = not self._put(flag, percentage)
            after = self._get(flag)
            if after != (percentage, percentage > 0):
                self.hist.drop_intent(flag)   # the API says it did not take: nothing to record
                if fenced_out:
                    raise ConflictError(f"flag {flag} changed in the flag API between our read "
                                        f"and our write (HTTP 412 on If-Match); not applied")
                show = lambda v: ("no such flag" if v is None
                                  else f"percentage {v[0]}, enabled {v[1]}")
                raise ExternalError(f"{WHAT}: PUT {self.url}{API_PATH}{flag} was accepted but a "
                                    f"read-back shows {show(after)}, expected "
                                    f"{show((percentage, percentage > 0))}")
            done = self.hist.apply(flag, percentage, mirror_version, event)
            self.hist.drop_intent(flag)
        return Applied(flag, percentage, percentage > 0, done.version, as_utc(event.at))

    def record(self, event: Event) -> bool:
        return self.hist.record(event)

    def history(self, flag: str | None = None, until: datetime | None = None) -> list[Event]:
        return self.hist.history(flag, until)

    # Deliveries of an abort's notifications are bookkeeping: the history store keeps them.
    def claim_delivery(self, event_id, channel, at):
        return self.hist.claim_delivery(event_id, channel, at)

    def finish_delivery(self, event_id, channel, ok, detail, at):
        return self.hist.finish_delivery(event_id, channel, ok, detail, at)

    def deliveries(self, event_id):
        return self.hist.deliveries(event_id)

    def bookkeeping(self) -> SQLStore:
        return self.hist

    def close(self) -> None:
        self.hist.close()
